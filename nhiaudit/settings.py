"""Analysis settings: thresholds and rule selection, from defaults, a TOML file and options."""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from nhiaudit.errors import InputError


@dataclass
class Settings:
    rotation_days: int = 90
    """A user-managed credential older than this (since creation or last rotation) is unrotated."""
    rotation_critical_days: int = 365
    """... and from this age the finding is high severity."""
    credential_unused_days: int = 45
    """An active credential not used for this long is unused (CIS AWS 2.11 uses 45)."""
    identity_unused_days: int = 90
    """An identity with no recorded activity for this long is unused."""
    new_credential_grace_days: int = 7
    """A credential younger than this is not yet 'never used'."""
    credential_max_lifetime_days: int = 365
    """A user-managed credential valid for longer than this (creation to expiry) is long-lived."""
    permission_unused_days: int = 90
    """A granted service or action with no use for this long is unused (excess-privilege); identities younger
    than this are not judged."""
    excess_privilege_min_index: int = 25
    """Report excess privilege when at least this share (0-100) of an identity's granted permissions is unused."""
    include_provider_owned: bool = False
    """Also run rules on provider-owned identities (service-linked roles, service agents)."""
    disabled_rules: list[str] = field(default_factory=list)
    environments: dict[str, list[str]] = field(default_factory=dict)
    """Environment name -> patterns of account / project / subscription ids or names (trust analysis)."""
    organization_accounts: list[str] = field(default_factory=list)
    """Account, project, subscription and tenant ids inside the organization besides the scanned ones."""
    organization_domains: list[str] = field(default_factory=list)
    """E-mail / directory domains of the organization (GCP members, Azure guests)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def override(self, **values: Any) -> Settings:
        """A copy with the options the user passed (None means 'not given')."""
        data = self.to_dict()
        data.update({k: v for k, v in values.items() if v is not None})
        return Settings(**data)


_THRESHOLD_KEYS = {f.name for f in fields(Settings)} - {
    "disabled_rules",
    "environments",
    "organization_accounts",
    "organization_domains",
}
_ORGANIZATION_KEYS = {"accounts": "organization_accounts", "domains": "organization_domains"}


def load_settings(path: Path | None) -> Settings:
    """Settings from an ``nhiaudit.toml`` file::

    [thresholds]
    rotation_days = 90
    credential_unused_days = 45

    [rules]
    disable = ["multiple-active-credentials"]

    [environments]
    production = ["111122223333", "acme-prod-*"]
    development = ["444455556666", "acme-dev-*"]

    [organization]
    accounts = ["555566667777"]
    domains = ["example.com"]
    """
    if path is None:
        return Settings()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("config file not found", source=path) from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"malformed TOML: {exc}", source=path) from None
    unknown_sections = set(data) - {"thresholds", "rules", "environments", "organization"}
    if unknown_sections:
        raise InputError(
            f"unknown section [{sorted(unknown_sections)[0]}] (expected thresholds, rules, environments, organization)",
            source=path,
        )
    values: dict[str, Any] = {}
    for key, value in data.get("thresholds", {}).items():
        if key not in _THRESHOLD_KEYS:
            raise InputError(f"unknown threshold {key!r}; known: {', '.join(sorted(_THRESHOLD_KEYS))}", source=path)
        expected = type(getattr(Settings(), key))
        if type(value) is not expected or (expected is int and value < 0):
            raise InputError(f"threshold {key} must be a non-negative {expected.__name__}", source=path)
        values[key] = value
    rules = data.get("rules", {})
    unknown_rule_keys = set(rules) - {"disable"}
    if unknown_rule_keys:
        raise InputError(f"unknown key {sorted(unknown_rule_keys)[0]!r} in [rules] (expected disable)", source=path)
    disable = rules.get("disable", [])
    if not isinstance(disable, list) or not all(isinstance(r, str) for r in disable):
        raise InputError("[rules] disable must be a list of rule ids", source=path)
    values["disabled_rules"] = disable
    envs = data.get("environments", {})
    if not isinstance(envs, dict) or not all(
        isinstance(v, list) and all(isinstance(p, str) for p in v) for v in envs.values()
    ):
        raise InputError("[environments] values must be lists of id or name patterns", source=path)
    values["environments"] = envs
    organization = data.get("organization", {})
    if not isinstance(organization, dict):
        raise InputError("[organization] must be a table with accounts and domains", source=path)
    for key, value in organization.items():
        if key not in _ORGANIZATION_KEYS:
            raise InputError(f"unknown key {key!r} in [organization] (expected accounts, domains)", source=path)
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise InputError(f"[organization] {key} must be a list of non-empty strings", source=path)
        values[_ORGANIZATION_KEYS[key]] = [v.lower() if key == "domains" else v for v in value]
    return Settings(**values)
