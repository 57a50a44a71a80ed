"""Framework coverage: for each requirement of a framework, the rules that cover it and the
findings of a scan that fall under it.

Both come from data, never from code here: a rule covers a requirement when its declared
references name it (``RuleMeta.owasp_nhi``, ``nist_800_207``, ...), and a finding falls under
it when the finding's references do. Suppressed findings are counted apart.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from nhiaudit.frameworks import FRAMEWORK_FILES, Framework, Requirement, load_framework

if TYPE_CHECKING:
    from nhiaudit.model import Finding

DEFAULT_FRAMEWORKS = ("owasp_nhi", "nist_800_207")
"""Shown by ``nhiaudit frameworks`` and in the HTML report unless others are asked for."""


class RuleLike(Protocol):
    """What coverage needs of a rule's metadata (``nhiaudit.rules.RuleMeta`` fits)."""

    id: str
    owasp_nhi: tuple[str, ...]
    nist_800_207: tuple[str, ...]
    nist_800_53: tuple[str, ...]
    cis: tuple[str, ...]


@dataclass
class RequirementCoverage:
    requirement: Requirement
    rules: list[str] = field(default_factory=list)
    findings: int = 0
    suppressed: int = 0
    by_severity: dict[str, int] = field(default_factory=dict)

    @property
    def covered(self) -> bool:
        return bool(self.rules)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.requirement.id,
            "title": self.requirement.title,
            "url": self.requirement.url,
            "rules": self.rules,
            "findings": self.findings,
            "suppressed": self.suppressed,
            "by_severity": self.by_severity,
        }


@dataclass
class FrameworkCoverage:
    framework: Framework
    items: list[RequirementCoverage]
    with_findings: bool
    """False when no findings were given: the counts are then meaningless and not shown."""

    @property
    def covered(self) -> int:
        return sum(1 for i in self.items if i.covered)

    def to_dict(self) -> dict[str, Any]:
        return {
            "framework": self.framework.key,
            "id": self.framework.id,
            "name": self.framework.name,
            "version": self.framework.version,
            "url": self.framework.url,
            "requirements": len(self.items),
            "covered": self.covered,
            "items": [i.to_dict() for i in self.items],
        }


def framework_coverage(
    key: str, rules: Iterable[RuleLike], findings: Iterable[Finding] | None = None
) -> FrameworkCoverage:
    framework = load_framework(key)
    items = {r.id: RequirementCoverage(r) for r in framework.requirements}
    for rule in sorted(rules, key=lambda r: r.id):
        for ref in getattr(rule, key):
            if ref in items:
                items[ref].rules.append(rule.id)
    for f in findings or ():
        for ref in getattr(f.references, key):
            item = items.get(ref)
            if item is None:
                continue
            if f.suppression is not None:
                item.suppressed += 1
                continue
            item.findings += 1
            item.by_severity[f.severity.value] = item.by_severity.get(f.severity.value, 0) + 1
    return FrameworkCoverage(framework, list(items.values()), with_findings=findings is not None)


def coverage_tables(
    rules: Iterable[RuleLike], findings: Iterable[Finding] | None = None, keys: Iterable[str] = DEFAULT_FRAMEWORKS
) -> list[FrameworkCoverage]:
    rules = list(rules)
    findings = list(findings) if findings is not None else None
    unknown = [k for k in keys if k not in FRAMEWORK_FILES]
    if unknown:
        from nhiaudit.errors import NhiauditError

        raise NhiauditError(f"unknown framework {unknown[0]!r}; choose from {', '.join(FRAMEWORK_FILES)}")
    return [framework_coverage(k, rules, findings) for k in keys]
