"""Frameworks as data: OWASP NHI Top 10 (2025), NIST SP 800-207, NIST SP 800-53, CIS.

A framework is a JSON file under ``data/`` with ``requirements`` (id, title, description,
url). Rules reference requirement ids; adding a framework is adding a data file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

FRAMEWORK_FILES = {
    "owasp_nhi": "owasp-nhi-2025.json",
    "nist_800_207": "nist-sp-800-207.json",
    "nist_800_53": "nist-sp-800-53.json",
    "cis": "cis.json",
}
"""References field name (see model.References) -> data file."""


@dataclass(frozen=True)
class Requirement:
    id: str
    title: str
    description: str
    url: str


@dataclass(frozen=True)
class Framework:
    key: str
    id: str
    name: str
    version: str
    url: str
    requirements: tuple[Requirement, ...]

    def get(self, requirement_id: str) -> Requirement | None:
        return next((r for r in self.requirements if r.id == requirement_id), None)

    def label(self, requirement_id: str) -> str:
        """'NHI5:2025 Overprivileged NHI' -- the id with its title, for reports."""
        req = self.get(requirement_id)
        return f"{requirement_id} {req.title}" if req else requirement_id


@cache
def load_framework(key: str) -> Framework:
    data = json.loads((resources.files("nhiaudit.frameworks") / "data" / FRAMEWORK_FILES[key]).read_text())
    return Framework(
        key=key,
        id=data["id"],
        name=data["name"],
        version=data["version"],
        url=data["url"],
        requirements=tuple(
            Requirement(**{k: r[k] for k in ("id", "title", "description", "url")}) for r in data["requirements"]
        ),
    )


def all_frameworks() -> list[Framework]:
    return [load_framework(k) for k in FRAMEWORK_FILES]
