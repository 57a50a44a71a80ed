"""nhiaudit: audit non-human identities across AWS, GCP and Azure."""

__version__ = "0.1.0"
