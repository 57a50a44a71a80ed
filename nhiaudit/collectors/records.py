"""The normalized records one conversion produces, before they are wrapped into an Inventory."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from nhiaudit.model import CoverageGap, Credential, Grant, Identity, Inventory, Policy, Trust, Usage


@dataclass
class Records:
    identities: list[Identity] = field(default_factory=list)
    credentials: list[Credential] = field(default_factory=list)
    policies: dict[str, Policy] = field(default_factory=dict)
    grants: list[Grant] = field(default_factory=list)
    usage: list[Usage] = field(default_factory=list)
    trusts: list[Trust] = field(default_factory=list)
    coverage: list[CoverageGap] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_inventory(self, **overrides: Any) -> Inventory:
        """An Inventory holding these records. ``overrides`` adds what only the collector knows
        (sources, snapshot_time, scopes) or replaces a list it extended (coverage, warnings, usage)."""
        records = {f.name: getattr(self, f.name) for f in fields(Records)}
        return Inventory(**{**records, **overrides})
