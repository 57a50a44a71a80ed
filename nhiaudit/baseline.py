"""Baselines and diffs: which findings are new, fixed or unchanged since an earlier scan.

Findings are matched by fingerprint (rule, provider, scope, identity, credential), which does
not change between scans. A matched finding keeps the baseline's ``first_seen`` so that a
ticket ages from the day the problem was first seen, not from today's scan.

A baseline finding missing from the new scan is *fixed* only if the new scan covered it: its
account / project / tenant was scanned and its rule ran. Otherwise it is *not rescanned* (for
example a scan of one account compared with an organization-wide baseline): closing its
ticket would be wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from nhiaudit.model import BaselineInfo, BaselineMatch, Finding, FindingsDocument, Severity


@dataclass
class ScanDiff:
    """The comparison of two findings documents."""

    old: FindingsDocument
    new: FindingsDocument
    """The new document with ``baseline`` set on every finding and in its scan metadata."""
    old_source: str
    new_source: str = ""
    added: list[Finding] = field(default_factory=list)
    """Active (not suppressed) findings not in the baseline."""
    fixed: list[Finding] = field(default_factory=list)
    unchanged: list[Finding] = field(default_factory=list)
    """Active findings also in the baseline, including those whose severity changed."""
    not_rescanned: list[Finding] = field(default_factory=list)
    suppressed: list[Finding] = field(default_factory=list)
    """Suppressed findings of the new scan, whatever their baseline state."""

    @property
    def severity_changed(self) -> list[Finding]:
        return [f for f in self.unchanged if f.baseline and f.baseline.state == "severity_changed"]

    CATEGORIES = ("new", "fixed", "unchanged", "not_rescanned", "suppressed")

    def only(self, categories: list[str]) -> ScanDiff:
        """A copy listing only the given categories (the annotated ``new`` document is unchanged)."""
        from nhiaudit.errors import NhiauditError

        wanted = {c.strip().lower().replace("-", "_") for c in categories}
        unknown = sorted(wanted - set(self.CATEGORIES))
        if unknown:
            raise NhiauditError(f"--only: unknown change {unknown[0]!r}; choose from {', '.join(self.CATEGORIES)}")

        def keep(name: str, findings: list[Finding]) -> list[Finding]:
            return findings if name in wanted else []

        return ScanDiff(
            old=self.old,
            new=self.new,
            old_source=self.old_source,
            new_source=self.new_source,
            added=keep("new", self.added),
            fixed=keep("fixed", self.fixed),
            unchanged=keep("unchanged", self.unchanged),
            not_rescanned=keep("not_rescanned", self.not_rescanned),
            suppressed=keep("suppressed", self.suppressed),
        )

    def counts(self) -> dict[str, int]:
        return {
            "new": len(self.added),
            "fixed": len(self.fixed),
            "unchanged": len(self.unchanged),
            "severity_changed": len(self.severity_changed),
            "not_rescanned": len(self.not_rescanned),
            "suppressed": len(self.suppressed),
        }


def _coverage_check(new: FindingsDocument) -> Callable[[Finding], bool]:
    """Did the new scan look where a baseline finding was found (same scope, rule run)?"""
    scopes = {(s.provider, s.scope) for s in new.scan.sources}
    scopes |= {(f.provider, f.scope) for f in new.findings}
    rules_run = set(new.scan.rules_run)

    def covered(old: Finding) -> bool:
        scope_seen = (old.provider, old.scope) in scopes or (old.provider, "*") in scopes
        return scope_seen and (not rules_run or old.rule_id in rules_run)

    return covered


def compare(old: FindingsDocument, new: FindingsDocument, old_source: str | Path, new_source: str = "") -> ScanDiff:
    """Compare two scans; the returned ``diff.new`` is ``new`` annotated with the baseline.

    Suppressions are not touched: apply them before or after, as the caller needs. Counts in the
    baseline metadata exclude suppressed findings, like the summary.
    """
    previous = {f.fingerprint: f for f in old.findings}
    findings: list[Finding] = []
    for f in new.findings:
        before = previous.get(f.fingerprint)
        if before is None:
            match = BaselineMatch(state="new")
            findings.append(f.model_copy(update={"baseline": match}))
            continue
        changed = before.severity != f.severity
        match = BaselineMatch(
            state="severity_changed" if changed else "unchanged",
            previous_severity=before.severity if changed else None,
            baseline_first_seen=before.first_seen,
        )
        first_seen = min(before.first_seen, f.first_seen)
        findings.append(f.model_copy(update={"baseline": match, "first_seen": first_seen}))

    current = {f.fingerprint for f in findings}
    gone = [f.model_copy(update={"baseline": None}) for f in old.findings if f.fingerprint not in current]
    covered = _coverage_check(new)
    fixed = [f for f in gone if covered(f)]
    not_rescanned = [f for f in gone if not covered(f)]
    active = [f for f in findings if f.suppression is None]
    info = BaselineInfo(
        file=str(old_source),
        generated_at=old.generated_at,
        as_of=old.scan.as_of,
        new=sum(1 for f in active if f.baseline and f.baseline.state == "new"),
        unchanged=sum(1 for f in active if f.baseline and f.baseline.state != "new"),
        severity_changed=sum(1 for f in active if f.baseline and f.baseline.state == "severity_changed"),
        fixed=fixed,
        not_rescanned=not_rescanned,
    )
    annotated = new.model_copy(update={"findings": findings, "scan": new.scan.model_copy(update={"baseline": info})})
    return ScanDiff(
        old=old,
        new=annotated,
        old_source=str(old_source),
        new_source=new_source,
        added=[f for f in active if f.baseline and f.baseline.state == "new"],
        fixed=fixed,
        unchanged=[f for f in active if f.baseline and f.baseline.state != "new"],
        not_rescanned=not_rescanned,
        suppressed=[f for f in findings if f.suppression is not None],
    )


def apply_baseline(doc: FindingsDocument, baseline: FindingsDocument, source: str | Path) -> FindingsDocument:
    """``doc`` with baseline states, first-seen dates carried forward and the fixed findings listed."""
    return compare(baseline, doc, source).new


def counts_toward_failure(f: Finding, threshold: Severity) -> bool:
    """Whether a finding fails ``--fail-on threshold``.

    Suppressed findings never do. With a baseline, only what is new at this severity does: a
    new finding, or a known one whose severity rose to the threshold since the baseline.
    """
    if f.suppression is not None or f.severity.rank < threshold.rank:
        return False
    if f.baseline is None or f.baseline.state == "new":
        return True
    previous = f.baseline.previous_severity
    return previous is not None and previous.rank < threshold.rank
