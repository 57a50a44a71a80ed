"""Small facts shared by several output formats (names, links, grouping)."""

from __future__ import annotations

import math
from collections.abc import Iterable

from nhiaudit.model import Finding, FindingsDocument, Severity

DOCS_URL = "https://github.com/nhiaudit/nhiaudit/blob/main/docs"
TOOL_URL = "https://github.com/nhiaudit/nhiaudit"

PROVIDER_NAMES = {"aws": "AWS", "gcp": "GCP", "azure": "Azure"}
SCOPE_NAMES = {"aws": "account", "gcp": "project", "azure": "tenant"}
"""What ``Finding.scope`` is for each provider."""

SEVERITY_ORDER = [s.value for s in sorted(Severity, key=lambda s: -s.rank)]
"""critical, high, medium, low, info."""

EXCESS_PRIVILEGE_KEY = "excess_privilege_index"
"""Evidence key of a finding's excess-privilege index (0 = uses all it is granted, 100 = uses
none of it). Any rule may set it; reports chart its distribution."""


def provider_name(provider: str) -> str:
    return PROVIDER_NAMES.get(provider, provider)


def scope_name(provider: str) -> str:
    return SCOPE_NAMES.get(provider, "scope")


def scope_label(provider: str, scope: str) -> str:
    """'AWS account 111122223333'."""
    return f"{provider_name(provider)} {scope_name(provider)} {scope}"


def rule_url(rule_id: str) -> str:
    return f"{DOCS_URL}/rules.md#{rule_id}"


def active(findings: Iterable[Finding]) -> list[Finding]:
    """Findings that count: not suppressed."""
    return [f for f in findings if f.suppression is None]


def excess_privilege_index(f: Finding) -> float | None:
    value = f.evidence.get(EXCESS_PRIVILEGE_KEY)
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return None
    return float(min(100.0, max(0.0, value)))


def scopes_scanned(doc: FindingsDocument) -> list[tuple[str, str]]:
    """(provider, scope) pairs the scan covered, sources first, then any only findings name."""
    seen = dict.fromkeys((s.provider, s.scope) for s in doc.scan.sources)
    seen.update(dict.fromkeys((f.provider, f.scope) for f in doc.findings))
    return list(seen)


def one_line(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
