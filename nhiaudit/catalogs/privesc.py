"""Privilege-escalation paths as permission combinations, per provider (package data).

AWS: DataDog/pathfinding.cloud (Apache-2.0, see data/aws/privesc-paths.NOTICE). Azure: our own
curated list (data/azure/privesc-paths.json). Each path says which permissions, held together,
let a principal gain more privilege than it has. A path may carry its own ``reference`` URL;
otherwise the provider's URL template is used.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

CATEGORY_TEXT = {
    "self-escalation": "can change its own permissions",
    "principal-access": "can obtain the credentials or sessions of another principal",
    "new-passrole": "can pass an existing role to a new compute resource it creates and run code as that role",
    "existing-passrole": "can run code in an existing resource that already holds a role",
}

CATEGORY_RANK = {"self-escalation": 0, "principal-access": 1, "new-passrole": 2, "existing-passrole": 3}

PATH_SOURCES = {
    "aws": ("data/aws/privesc-paths.json", "https://pathfinding.cloud/paths/{id}"),
    "azure": ("data/azure/privesc-paths.json", "https://github.com/nhiaudit/nhiaudit/blob/main/docs/azure.md#{id}"),
}
"""provider -> (package data file, reference URL template)."""


@dataclass(frozen=True)
class PrivescPath:
    id: str
    provider: str
    category: str
    required: tuple[str, ...]
    reference: str

    @property
    def description(self) -> str:
        return f"{CATEGORY_TEXT.get(self.category, self.category)} ({' + '.join(self.required)})"


@cache
def load_paths(provider: str) -> tuple[PrivescPath, ...]:
    source = PATH_SOURCES.get(provider)
    if source is None:
        return ()
    file, url = source
    data = json.loads((resources.files("nhiaudit.catalogs") / file).read_text(encoding="utf-8"))
    return tuple(
        PrivescPath(
            id=p["id"],
            provider=provider,
            category=p.get("category", "unknown"),
            required=tuple(p["required"]),
            reference=p.get("reference") or url.format(id=p["id"]),
        )
        for p in data["paths"]
    )


@cache
def required_groups(provider: str) -> tuple[tuple[str, ...], ...]:
    """The required permissions of every path, in path order (for batch checks)."""
    return tuple(p.required for p in load_paths(provider))
