"""The normalized records one conversion produces, before they are wrapped into an Inventory."""

from __future__ import annotations

from dataclasses import dataclass, field

from nhiaudit.model import CoverageGap, Credential, Grant, Identity, Policy, Trust, Usage


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
