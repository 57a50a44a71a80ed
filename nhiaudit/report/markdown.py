"""Markdown summary for CI job pages (GitHub ``$GITHUB_STEP_SUMMARY``, GitLab, PR comments).

Short by design: the headline, counts, what changed since the baseline, the findings
(``--max-rows``, default 50), what could not be seen and the warnings. Long lists are folded
into ``<details>`` so the page stays readable.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TextIO

from nhiaudit.frameworks import load_framework
from nhiaudit.model import Finding, FindingsDocument
from nhiaudit.report.helpers import (
    SEVERITY_ORDER,
    active,
    one_line,
    provider_name,
    rule_url,
    scope_label,
    scopes_scanned,
)
from nhiaudit.report.interface import Reporter, ReportOptions

SEVERITY_ICON = {"critical": "🟥", "high": "🟧", "medium": "🟨", "low": "🟦", "info": "⬜"}


def cell(text: object) -> str:
    """Text safe inside a markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|").replace("<", "&lt;")


def severity_cell(value: str) -> str:
    return f"{SEVERITY_ICON.get(value, '')} {value}".strip()


def headline(doc: FindingsDocument) -> str:
    counts = ", ".join(f"{doc.summary.by_severity[s]} {s}" for s in SEVERITY_ORDER if doc.summary.by_severity.get(s))
    total = doc.summary.total
    return f"nhiaudit: {total} finding{'s' if total != 1 else ''}" + (f" ({counts})" if counts else "")


def findings_table(findings: Iterable[Finding], *, limit: int = 0, show_state: bool = False) -> list[str]:
    rows = list(findings)
    shown = rows[:limit] if limit > 0 else rows
    lines = [
        "| Severity | Rule | Identity | Scope | Finding | First seen |" + (" Change |" if show_state else ""),
        "|---|---|---|---|---|---|" + ("---|" if show_state else ""),
    ]
    for f in shown:
        state = ""
        if show_state and f.baseline is not None:
            state = {"new": "**new**", "unchanged": "", "severity_changed": "severity changed"}[f.baseline.state]
            if f.baseline.previous_severity is not None:
                state += f" (was {f.baseline.previous_severity.value})"
        lines.append(
            f"| {severity_cell(f.severity.value)} | [`{f.rule_id}`]({rule_url(f.rule_id)}) | {cell(f.identity_name)} "
            f"| {cell(f'{provider_name(f.provider)} {f.scope}')} | {cell(one_line(f.description, 240))} "
            f"| {f.first_seen:%Y-%m-%d} |" + (f" {state} |" if show_state else "")
        )
    if len(rows) > len(shown):
        lines.append("")
        lines.append(f"… {len(rows) - len(shown)} more: see the JSON, CSV or HTML report.")
    return lines


def coverage_lines(doc: FindingsDocument) -> list[str]:
    lines: list[str] = []
    if doc.scan.coverage:
        lines += ["", "### What could not be seen", "", "| Scope | Evidence | Status | Detail |", "|---|---|---|---|"]
        for gap in doc.scan.coverage:
            lines.append(
                f"| {cell(scope_label(gap.provider, gap.scope))} | {cell(gap.source)} | {gap.status} "
                f"| {cell(gap.detail)} |"
            )
    if doc.scan.warnings:
        lines += ["", f"### Warnings ({len(doc.scan.warnings)})", ""]
        lines += [f"- ⚠️ {cell(w)}" for w in doc.scan.warnings[:30]]
        if len(doc.scan.warnings) > 30:
            lines.append(f"- … {len(doc.scan.warnings) - 30} more in the JSON report")
    return lines


def render_markdown(doc: FindingsDocument, options: ReportOptions) -> str:
    scan, summary = doc.scan, doc.summary
    scopes = ", ".join(scope_label(p, s) for p, s in scopes_scanned(doc)) or "no scope"
    methods = "/".join(sorted({s.method for s in scan.sources})) or "no"
    ids = scan.identities
    lines = [
        f"## {headline(doc)}",
        "",
        f"{scopes} · {methods} data as of {scan.as_of:%Y-%m-%d %H:%M} UTC · "
        f"{ids.get('analyzed', 0)} NHIs analyzed of {ids.get('total', 0)} identities · nhiaudit {doc.tool_version}"
        + (f" · {summary.suppressed} suppressed" if summary.suppressed else ""),
    ]
    if scan.baseline is not None:
        b = scan.baseline
        lines += [
            "",
            f"### Since the baseline ({b.as_of:%Y-%m-%d})",
            "",
            "| New | Fixed | Unchanged | Severity changed | Not rescanned |",
            "|---:|---:|---:|---:|---:|",
            f"| {b.new} | {len(b.fixed)} | {b.unchanged} | {b.severity_changed} | {len(b.not_rescanned)} |",
        ]
    lines += ["", "| Severity | Findings |", "|---|---:|"]
    lines += [f"| {severity_cell(s)} | {summary.by_severity.get(s, 0)} |" for s in SEVERITY_ORDER]
    if summary.by_owasp_nhi:
        owasp = load_framework("owasp_nhi")
        lines += ["", "| OWASP NHI Top 10 (2025) | Findings |", "|---|---:|"]
        lines += [f"| {cell(owasp.label(k))} | {n} |" for k, n in summary.by_owasp_nhi.items()]

    current = active(doc.findings)
    if scan.baseline is not None:
        new = [f for f in current if f.baseline and f.baseline.state == "new"]
        lines += ["", f"### New findings ({len(new)})", ""]
        lines += findings_table(new, limit=options.max_rows) if new else ["None since the baseline."]
        if scan.baseline.fixed:
            lines += ["", f"### Fixed since the baseline ({len(scan.baseline.fixed)})", ""]
            lines += findings_table(scan.baseline.fixed, limit=options.max_rows)
        lines += ["", "<details><summary>All current findings</summary>", ""]
        lines += findings_table(current, limit=options.max_rows, show_state=True)
        lines += ["", "</details>"]
    else:
        lines += ["", f"### Findings ({len(current)})", ""]
        lines += findings_table(current, limit=options.max_rows) if current else ["No findings."]

    suppressed = [f for f in doc.findings if f.suppression is not None]
    if suppressed:
        lines += ["", f"<details><summary>Suppressed findings ({len(suppressed)})</summary>", ""]
        lines += ["| Rule | Identity | Reason | Expires |", "|---|---|---|---|"]
        for f in suppressed:
            sup = f.suppression or {}
            lines.append(
                f"| `{f.rule_id}` | {cell(f.identity_name)} | {cell(sup.get('reason', ''))} "
                f"| {sup.get('expires') or '-'} |"
            )
        lines += ["", "</details>"]
    lines += coverage_lines(doc)
    return "\n".join(lines) + "\n"


class MarkdownReporter(Reporter):
    name = "markdown"
    extension = "md"
    description = "Markdown summary for CI job summary pages and pull-request comments"

    def render(self, doc: FindingsDocument, out: TextIO, options: ReportOptions) -> None:
        out.write(render_markdown(doc, options))
