"""``nhiaudit frameworks`` output: which rules cover each framework item, and the findings under it."""

from __future__ import annotations

import io
import json

from nhiaudit.errors import NhiauditError
from nhiaudit.frameworks.coverage import FrameworkCoverage
from nhiaudit.report.helpers import SEVERITY_ORDER
from nhiaudit.report.markdown import cell

COVERAGE_FORMATS = ("table", "json", "markdown")


def _severity_text(by_severity: dict[str, int]) -> str:
    return ", ".join(f"{by_severity[s]} {s}" for s in SEVERITY_ORDER if by_severity.get(s))


def _markdown(tables: list[FrameworkCoverage]) -> str:
    lines: list[str] = []
    for t in tables:
        fw = t.framework
        head = "| Item | Title | Rules |" + (" Findings |" if t.with_findings else "")
        lines += [
            f"## {fw.name} ({fw.version})",
            "",
            f"{t.covered} of {len(t.items)} items covered by at least one rule. Source: <{fw.url}>",
            "",
            head,
            "|---|---|---|" + ("---|" if t.with_findings else ""),
        ]
        for item in t.items:
            rules = ", ".join(f"`{r}`" for r in item.rules) or "not covered"
            row = f"| {item.requirement.id} | {cell(item.requirement.title)} | {rules} |"
            if t.with_findings:
                detail = _severity_text(item.by_severity)
                row += f" {item.findings}{f' ({detail})' if detail else ''} |"
            lines.append(row)
        lines.append("")
    return "\n".join(lines)


def _table(tables: list[FrameworkCoverage]) -> str:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    buf = io.StringIO()
    console = Console(file=buf, width=160, highlight=False)
    for t in tables:
        fw = t.framework
        table = Table(
            title=f"{fw.name} ({fw.version}): {t.covered} of {len(t.items)} items covered",
            box=box.SIMPLE_HEAD,
            title_justify="left",
        )
        table.add_column("Item", no_wrap=True)
        table.add_column("Title", ratio=2, overflow="fold")
        table.add_column("Rules", ratio=2, overflow="fold")
        if t.with_findings:
            table.add_column("Findings", justify="right")
            table.add_column("By severity", no_wrap=True)
        for item in t.items:
            row = [item.requirement.id, item.requirement.title, ", ".join(item.rules) or "[dim]not covered[/dim]"]
            if t.with_findings:
                row += [str(item.findings), _severity_text(item.by_severity)]
            table.add_row(*row)
        console.print(table)
    if tables and not tables[0].with_findings:
        console.print(
            "Give a findings file (nhiaudit frameworks findings.json) to count findings per item.", style="dim"
        )
    return buf.getvalue()


def render_coverage(tables: list[FrameworkCoverage], fmt: str) -> str:
    if fmt == "json":
        return json.dumps([t.to_dict() for t in tables], indent=2) + "\n"
    if fmt == "markdown":
        return _markdown(tables)
    if fmt == "table":
        return _table(tables)
    raise NhiauditError(f"unknown format {fmt!r}; choose from {', '.join(COVERAGE_FORMATS)}")
