"""``nhiaudit diff`` output: what changed between two scans.

``table``, ``json``, ``markdown`` and ``csv`` render the change set itself (new, fixed,
unchanged, not rescanned). Every other format (``sarif``, ``html``, ``ocsf``) renders the new
scan annotated with each finding's baseline state, exactly as ``scan --baseline`` would.
"""

from __future__ import annotations

import io
import json
from typing import TextIO

from nhiaudit import __version__
from nhiaudit.baseline import ScanDiff
from nhiaudit.model import SCHEMA_VERSION, Finding, utcnow
from nhiaudit.report import ReportOptions, get_reporter
from nhiaudit.report.csv_report import COLUMNS, finding_row
from nhiaudit.report.helpers import SEVERITY_ORDER, one_line, provider_name
from nhiaudit.report.markdown import cell, findings_table

DIFF_FORMATS = ("table", "json", "markdown", "csv")
CHANGE_COLUMN = "change"


def _change(f: Finding) -> str:
    return f.baseline.state if f.baseline is not None else "unchanged"


def diff_dict(diff: ScanDiff) -> dict:
    def dump(findings: list[Finding]) -> list[dict]:
        return [f.model_dump(mode="json") for f in findings]

    old, new = diff.old, diff.new
    return {
        "kind": "nhiaudit.diff",
        "schema_version": SCHEMA_VERSION,
        "tool_version": __version__,
        "generated_at": utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"),
        "old": {
            "file": diff.old_source,
            "generated_at": old.generated_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "as_of": old.scan.as_of.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "findings": old.summary.total,
        },
        "new": {
            "file": diff.new_source,
            "generated_at": new.generated_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "as_of": new.scan.as_of.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "findings": new.summary.total,
        },
        "counts": diff.counts(),
        "new_findings": dump(diff.added),
        "fixed": dump(diff.fixed),
        "unchanged": dump(diff.unchanged),
        "not_rescanned": dump(diff.not_rescanned),
        "suppressed": dump(diff.suppressed),
    }


def _csv(diff: ScanDiff, out: TextIO) -> None:
    import pandas as pd

    rows = []
    for change, findings in (
        ("new", diff.added),
        ("fixed", diff.fixed),
        (None, diff.unchanged),
        ("not_rescanned", diff.not_rescanned),
        ("suppressed", diff.suppressed),
    ):
        for f in findings:
            rows.append({CHANGE_COLUMN: change or _change(f), **finding_row(f)})
    frame = pd.DataFrame(rows, columns=[CHANGE_COLUMN, *COLUMNS])
    frame.to_csv(out, index=False, lineterminator="\n")


def _markdown(diff: ScanDiff, options: ReportOptions) -> str:
    c = diff.counts()
    lines = [
        f"## nhiaudit diff: {c['new']} new, {c['fixed']} fixed, {c['unchanged']} unchanged",
        "",
        f"`{cell(diff.old_source)}` (as of {diff.old.scan.as_of:%Y-%m-%d}) → "
        f"`{cell(diff.new_source or 'new scan')}` (as of {diff.new.scan.as_of:%Y-%m-%d})",
        "",
        "| New | Fixed | Unchanged | Severity changed | Not rescanned | Suppressed |",
        "|---:|---:|---:|---:|---:|---:|",
        f"| {c['new']} | {c['fixed']} | {c['unchanged']} | {c['severity_changed']} | {c['not_rescanned']} "
        f"| {c['suppressed']} |",
    ]
    sections = [
        ("New", diff.added, "No new findings."),
        ("Fixed", diff.fixed, "Nothing fixed."),
        ("Severity changed", diff.severity_changed, None),
        ("Not rescanned (this scan did not cover their scope or rule: not fixed)", diff.not_rescanned, None),
    ]
    for title, findings, empty in sections:
        if not findings and empty is None:
            continue
        lines += ["", f"### {title} ({len(findings)})", ""]
        lines += (
            findings_table(findings, limit=options.max_rows, show_state=title == "Severity changed")
            if findings
            else [empty or ""]
        )
    if diff.unchanged:
        lines += ["", f"<details><summary>Unchanged ({len(diff.unchanged)})</summary>", ""]
        lines += findings_table(diff.unchanged, limit=options.max_rows)
        lines += ["", "</details>"]
    return "\n".join(lines) + "\n"


def _table(diff: ScanDiff, options: ReportOptions) -> str:
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from nhiaudit.report.table import SEVERITY_STYLE

    buf = io.StringIO()
    console = Console(
        file=buf,
        width=options.width or 160,
        force_terminal=options.color,
        no_color=options.color is False,
        highlight=False,
    )
    c = diff.counts()
    console.print(
        Text.assemble(
            ("nhiaudit diff  ", "bold"),
            (f"{c['new']} new", "bold red" if c["new"] else "bold"),
            ", ",
            (f"{c['fixed']} fixed", "bold green" if c["fixed"] else "bold"),
            f", {c['unchanged']} unchanged ({c['severity_changed']} with a changed severity)",
            f", {c['not_rescanned']} not rescanned" if c["not_rescanned"] else "",
        )
    )
    console.print(
        f"{diff.old_source} (as of {diff.old.scan.as_of:%Y-%m-%d}) -> {diff.new_source or 'new scan'} "
        f"(as of {diff.new.scan.as_of:%Y-%m-%d})",
        style="dim",
    )
    groups = [
        ("New", diff.added),
        ("Fixed", diff.fixed),
        ("Severity changed", diff.severity_changed),
        ("Not rescanned (scope or rule not covered by the new scan; not fixed)", diff.not_rescanned),
    ]
    for title, findings in groups:
        if not findings:
            continue
        shown = findings[: options.max_rows] if options.max_rows > 0 else findings
        table = Table(title=f"{title} ({len(findings)})", box=box.SIMPLE_HEAD, title_justify="left", expand=True)
        table.add_column("Severity", no_wrap=True)
        table.add_column("Rule", no_wrap=True)
        table.add_column("Identity", overflow="fold")
        table.add_column("Scope", no_wrap=True)
        table.add_column("First seen", no_wrap=True)
        table.add_column("Finding", ratio=1, overflow="fold")
        for f in shown:
            severity = Text(f.severity.value.upper(), style=SEVERITY_STYLE.get(f.severity.value, ""))
            if f.baseline is not None and f.baseline.previous_severity is not None:
                severity.append(f" (was {f.baseline.previous_severity.value})", style="dim")
            table.add_row(
                severity,
                f.rule_id,
                f.identity_name,
                f"{provider_name(f.provider)} {f.scope}",
                f"{f.first_seen:%Y-%m-%d}",
                one_line(f.description, 300),
            )
        console.print(table)
        if len(findings) > len(shown):
            console.print(Text(f"... {len(findings) - len(shown)} more: --max-rows 0 shows all", style="dim"))
    if diff.suppressed:
        console.print(Text(f"{len(diff.suppressed)} suppressed findings not counted", style="dim"))
    by_severity = {s: sum(1 for f in diff.added if f.severity.value == s) for s in SEVERITY_ORDER}
    if any(by_severity.values()):
        console.print("New by severity: " + ", ".join(f"{n} {s}" for s, n in by_severity.items() if n))
    return buf.getvalue()


def render_diff(diff: ScanDiff, fmt: str, out: TextIO, options: ReportOptions) -> None:
    if fmt == "json":
        out.write(json.dumps(diff_dict(diff), indent=2) + "\n")
    elif fmt == "csv":
        _csv(diff, out)
    elif fmt == "markdown":
        out.write(_markdown(diff, options))
    elif fmt == "table":
        out.write(_table(diff, options))
    else:
        get_reporter(fmt).render(diff.new, out, options)
