"""The engine interface and the per-provider registry."""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections import defaultdict

from nhiaudit.model import Grant, Identity, Inventory
from nhiaudit.policy.effective import EffectiveAccess

ENGINES: dict[str, str] = {
    "aws": "nhiaudit.policy.aws:AwsPolicyEngine",
    "azure": "nhiaudit.policy.azure:AzurePolicyEngine",
    "gcp": "nhiaudit.policy.gcp:GcpPolicyEngine",
}
"""provider -> 'module:Class', imported only when an inventory holds that provider."""


class PolicyEngine(ABC):
    """Evaluates one provider's grants. One engine instance serves a whole inventory, so it
    can cache compiled policies / roles across identities."""

    provider: str

    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory
        self.warnings: list[str] = []

    @abstractmethod
    def evaluate(self, identity: Identity, grants: list[Grant]) -> EffectiveAccess: ...


def engine_for(provider: str, inventory: Inventory) -> PolicyEngine | None:
    target = ENGINES.get(provider)
    if target is None:
        return None
    module, cls = target.split(":")
    return getattr(importlib.import_module(module), cls)(inventory)


def evaluate_inventory(inventory: Inventory) -> tuple[dict[str, EffectiveAccess], list[str]]:
    """Effective access of every identity, and the engines' warnings."""
    grants_by_identity: dict[str, list[Grant]] = defaultdict(list)
    for grant in inventory.grants:
        grants_by_identity[grant.identity_id].append(grant)
    engines: dict[str, PolicyEngine | None] = {}
    result: dict[str, EffectiveAccess] = {}
    warnings: list[str] = []
    for identity in inventory.identities:
        if identity.provider not in engines:
            engines[identity.provider] = engine_for(identity.provider, inventory)
            if engines[identity.provider] is None:
                warnings.append(f"no policy engine for provider {identity.provider!r}: permission rules skipped")
        engine = engines[identity.provider]
        if engine is not None:
            result[identity.id] = engine.evaluate(identity, grants_by_identity.get(identity.id, []))
    for engine in engines.values():
        if engine is not None:
            warnings.extend(engine.warnings)
    return result, warnings
