"""What a permission means: action catalogs, access levels and risk classes, per provider."""
