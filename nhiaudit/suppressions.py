"""Suppressions: accepted findings, each with a reason and an optional expiry.

A suppressions file is TOML with one ``[[suppress]]`` table per entry::

    [[suppress]]
    fingerprint = "52a6414823a1ee3b07b2980b5ad2a6ba"   # one finding
    reason = "Break-glass role, reviewed quarterly"
    expires = 2027-03-31                                 # optional; valid through this day (UTC)
    ticket = "SEC-1234"                                  # optional
    owner = "platform-team"                              # optional

    [[suppress]]
    rule = "credential-not-rotated"                      # every criterion given must match
    identity = "arn:aws:iam::111122223333:user/legacy-*" # glob on the identity id or name
    account = "111122223333"                             # glob on the account / project / tenant
    reason = "Legacy integrations, decommissioned in Q2 (SEC-99)"

Suppressed findings stay in the findings document with the entry that matched; they are
counted apart and never count toward ``--fail-on``. An expired entry is not applied: its
findings count again and the scan carries a warning naming it.
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from nhiaudit.errors import InputError
from nhiaudit.model import Finding, FindingsDocument, SuppressionInfo, utcnow

CRITERIA = ("fingerprint", "rule", "identity", "account", "provider")
OPTIONAL = ("expires", "ticket", "owner")
_FINGERPRINT = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class Suppression:
    index: int
    """1-based position in the file, as users count entries."""
    reason: str
    fingerprint: str | None = None
    rule: str | None = None
    identity: str | None = None
    account: str | None = None
    provider: str | None = None
    expires: date | None = None
    ticket: str | None = None
    owner: str | None = None

    def criteria(self) -> dict[str, str]:
        return {k: v for k in CRITERIA if (v := getattr(self, k)) is not None}

    def label(self) -> str:
        """'entry 3 (rule credential-not-rotated, account 1111...)' -- for warnings."""
        return f"entry {self.index} ({', '.join(f'{k} {v}' for k, v in self.criteria().items())})"

    def matches(self, f: Finding) -> bool:
        if self.fingerprint is not None and f.fingerprint != self.fingerprint:
            return False
        if self.rule is not None and not fnmatch.fnmatchcase(f.rule_id, self.rule):
            return False
        if self.provider is not None and f.provider != self.provider:
            return False
        if self.account is not None and not fnmatch.fnmatchcase(f.scope, self.account):
            return False
        return self.identity is None or any(
            fnmatch.fnmatchcase(value, self.identity) for value in (f.identity_id, f.identity_name)
        )

    def expired(self, today: date) -> bool:
        return self.expires is not None and self.expires < today

    def describe(self, matched: int) -> dict[str, Any]:
        return {
            "entry": self.index,
            **self.criteria(),
            "reason": self.reason,
            "expires": self.expires.isoformat() if self.expires else None,
            "matched": matched,
        }


def load_suppressions(path: Path) -> list[Suppression]:
    """Read and check a suppressions file; any problem is a one-line InputError naming the entry."""
    if path.suffix.lower() in (".yaml", ".yml"):
        raise InputError(
            "suppressions files are TOML: write each entry as a [[suppress]] table (see docs/ci.md)", source=path
        )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("suppressions file not found", source=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read suppressions file: {exc}", source=path) from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"malformed TOML: {exc}", source=path) from None
    unknown = set(data) - {"suppress"}
    if unknown:
        raise InputError(f"unknown key {sorted(unknown)[0]!r} (entries go in [[suppress]] tables)", source=path)
    entries = data.get("suppress", [])
    if not isinstance(entries, list):
        raise InputError("'suppress' must be an array of tables: write each entry as [[suppress]]", source=path)
    return [_entry(i, raw, path) for i, raw in enumerate(entries, start=1)]


def _entry(index: int, raw: Any, path: Path) -> Suppression:
    where = f"entry {index}"
    if not isinstance(raw, dict):
        raise InputError(f"{where}: expected a [[suppress]] table", source=path)
    unknown = set(raw) - {*CRITERIA, *OPTIONAL, "reason"}
    if unknown:
        known = ", ".join((*CRITERIA, "reason", *OPTIONAL))
        raise InputError(f"{where}: unknown key {sorted(unknown)[0]!r} (known: {known})", source=path)
    for key in (*CRITERIA, "reason", "ticket", "owner"):
        if key in raw and (not isinstance(raw[key], str) or not raw[key].strip()):
            raise InputError(f"{where}: {key!r} must be a non-empty string", source=path)
    reason = raw.get("reason")
    if reason is None:
        raise InputError(f"{where}: 'reason' is required (say why this finding is accepted)", source=path)
    if not any(k in raw for k in CRITERIA):
        raise InputError(
            f"{where}: give at least one of {', '.join(CRITERIA)} (an entry matching everything is not allowed)",
            source=path,
        )
    fp = raw.get("fingerprint")
    if fp is not None and not _FINGERPRINT.match(fp.lower()):
        raise InputError(f"{where}: fingerprint {fp!r} is not a 32-character hex finding fingerprint", source=path)
    return Suppression(
        index=index,
        reason=reason.strip(),
        fingerprint=fp.lower() if fp else None,
        rule=raw.get("rule"),
        identity=raw.get("identity"),
        account=raw.get("account"),
        provider=raw.get("provider"),
        expires=_expiry(raw.get("expires"), where, path),
        ticket=raw.get("ticket"),
        owner=raw.get("owner"),
    )


def _expiry(value: Any, where: str, path: Path) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise InputError(f"{where}: 'expires' must be a date such as 2027-03-31, got {value!r}", source=path)


def apply_suppressions(
    doc: FindingsDocument, entries: list[Suppression], source: str, *, today: date | None = None
) -> FindingsDocument:
    """A copy of ``doc`` with suppressions applied (replacing any applied before) and counts redone."""
    from nhiaudit.analyzer import summarize
    from nhiaudit.rules import all_rules

    today = today or utcnow().date()
    active = [e for e in entries if not e.expired(today)]
    expired = [e for e in entries if e.expired(today)]
    matched: dict[int, int] = dict.fromkeys((e.index for e in entries), 0)
    findings: list[Finding] = []
    for f in doc.findings:
        for entry in expired:
            if entry.matches(f):
                matched[entry.index] += 1
        hit = next((e for e in active if e.matches(f)), None)
        suppression = None
        if hit is not None:
            matched[hit.index] += 1
            suppression = {
                "reason": hit.reason,
                "expires": hit.expires.isoformat() if hit.expires else None,
                "ticket": hit.ticket,
                "owner": hit.owner,
                "matched_by": sorted(hit.criteria()),
                "entry": hit.index,
                "file": source,
            }
        findings.append(f.model_copy(update={"suppression": suppression}))

    warnings = [w for w in doc.scan.warnings if not w.startswith("suppression ")]
    for e in expired:
        count = matched[e.index]
        what = (
            f"the {count} finding{'s' if count != 1 else ''} it matched count again" if count else "it matched nothing"
        )
        warnings.append(f"suppression {e.label()} in {source} expired on {e.expires}; {what}")
    known_rules = {r.meta.id for r in all_rules()}
    for e in entries:
        if e.rule is not None and not any(fnmatch.fnmatchcase(r, e.rule) for r in known_rules):
            warnings.append(f"suppression {e.label()} in {source} names no known rule ('nhiaudit rules' lists them)")

    info = SuppressionInfo(
        file=source,
        entries=len(entries),
        suppressed=sum(1 for f in findings if f.suppression is not None),
        expired=[e.describe(matched[e.index]) for e in expired],
        unmatched=[e.describe(0) for e in active if matched[e.index] == 0],
    )
    scan = doc.scan.model_copy(update={"warnings": warnings, "suppressions": info})
    return doc.model_copy(update={"findings": findings, "scan": scan, "summary": summarize(findings)})
