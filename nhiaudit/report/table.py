"""The terminal summary: counts by severity and OWASP NHI category, the riskiest identities,
what could not be seen, and the findings themselves."""

from __future__ import annotations

from collections import Counter
from typing import TextIO

from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from nhiaudit.frameworks import load_framework
from nhiaudit.model import FindingsDocument, Severity
from nhiaudit.report.interface import Reporter, ReportOptions

SEVERITY_STYLE = {
    "critical": "bold white on red",
    "high": "bold red",
    "medium": "yellow",
    "low": "cyan",
    "info": "dim",
}


def _sev(value: str) -> Text:
    return Text(value.upper(), style=SEVERITY_STYLE.get(value, ""))


class TableReporter(Reporter):
    name = "table"
    extension = "txt"
    description = "rich terminal summary (default)"

    def render(self, doc: FindingsDocument, out: TextIO, options: ReportOptions) -> None:
        console = Console(
            file=out,
            width=options.width,
            force_terminal=options.color,
            no_color=options.color is False,
            highlight=False,
            soft_wrap=False,
        )
        scan, summary = doc.scan, doc.summary
        ids = scan.identities
        scopes = sorted({f"{s.provider} {s.scope}" for s in scan.sources})
        shown = ", ".join(scopes) or "none"
        if len(shown) > 60:  # many or long scopes (Azure tenant ids): counts per provider keep one line
            per = Counter(s.split(" ", 1)[0] for s in scopes)
            shown = ", ".join(f"{n} {provider}" for provider, n in sorted(per.items()))
        methods = sorted({s.method for s in scan.sources})
        console.print(
            Text.assemble(
                ("nhiaudit ", "bold"),
                (f"{doc.tool_version}  ", "dim"),
                (f"{summary.total} finding{'s' if summary.total != 1 else ''}", "bold"),
                f" in {len(scopes)} scope{'s' if len(scopes) != 1 else ''} ({shown})",
                f" - {'/'.join(methods) or 'no'} data as of {scan.as_of:%Y-%m-%d %H:%M} UTC",
            )
        )
        console.print(
            f"{ids.get('total', 0)} identities: {ids.get('analyzed', 0)} NHIs analyzed, "
            f"{ids.get('human', 0)} used by people (skipped), "
            f"{ids.get('provider_owned', 0)} provider-owned (skipped)"
            + (f"; {summary.suppressed} suppressed findings not counted" if summary.suppressed else ""),
            style="dim",
        )

        if scan.baseline is not None:
            b = scan.baseline
            console.print(
                Text.assemble(
                    (f"Since the baseline ({b.file}, data as of {b.as_of:%Y-%m-%d}): ", "bold"),
                    (f"{b.new} new", "bold red" if b.new else ""),
                    f", {len(b.fixed)} fixed, {b.unchanged} unchanged",
                    f" ({b.severity_changed} with a changed severity)" if b.severity_changed else "",
                    f", {len(b.not_rescanned)} not rescanned" if b.not_rescanned else "",
                )
            )
        if scan.suppressions is not None and scan.suppressions.unmatched:
            entries = ", ".join(str(u["entry"]) for u in scan.suppressions.unmatched)
            console.print(
                f"Suppressions matching no finding in {scan.suppressions.file}: entries {entries} (stale?)", style="dim"
            )

        if scan.coverage:
            gaps = Table(title="What could not be seen", box=box.SIMPLE, title_justify="left", show_edge=False)
            gaps.add_column("Scope", no_wrap=True)
            gaps.add_column("Evidence", no_wrap=True)
            gaps.add_column("Status", no_wrap=True)
            gaps.add_column("Detail")
            for gap in scan.coverage:
                gaps.add_row(f"{gap.provider} {gap.scope}", gap.source, gap.status, gap.detail)
            console.print(gaps)
        if scan.warnings:
            console.print(Text(f"Warnings ({len(scan.warnings)})", style="bold yellow"))
            for warning in scan.warnings[:20]:
                console.print(Text(f"  ! {warning}", style="yellow"))
            if len(scan.warnings) > 20:
                console.print(Text(f"  ... {len(scan.warnings) - 20} more in the JSON report", style="yellow"))

        sev = Table(title="By severity", box=box.SIMPLE, title_justify="left", show_edge=False)
        sev.add_column("Severity")
        sev.add_column("Findings", justify="right")
        for level in Severity:
            sev.add_row(_sev(level.value), str(summary.by_severity.get(level.value, 0)))
        owasp = load_framework("owasp_nhi")
        cat = Table(title="By OWASP NHI Top 10 (2025)", box=box.SIMPLE, title_justify="left", show_edge=False)
        cat.add_column("Risk")
        cat.add_column("Findings", justify="right")
        for req in owasp.requirements:
            count = summary.by_owasp_nhi.get(req.id, 0)
            if count:
                cat.add_row(f"{req.id} {req.title}", str(count))
        if not summary.by_owasp_nhi:
            cat.add_row("(none)", "0")
        grid = Table.grid(padding=(0, 4))
        grid.add_row(sev, cat)
        console.print(grid)

        if summary.riskiest_identities:
            risky = Table(title="Riskiest identities", box=box.SIMPLE, title_justify="left", show_edge=False)
            risky.add_column("Identity", overflow="fold")
            risky.add_column("Scope", no_wrap=True)
            risky.add_column("Score", justify="right")
            risky.add_column("Worst")
            risky.add_column("Findings", justify="right")
            for r in summary.riskiest_identities:
                risky.add_row(
                    r.identity_name,
                    f"{r.provider} {r.scope}",
                    str(r.score),
                    _sev(r.worst_severity.value),
                    str(r.findings),
                )
            console.print(risky)

        active = [f for f in doc.findings if f.suppression is None]
        if not active:
            console.print(Text("No findings.", style="bold green"))
            return
        shown = active[: options.max_rows] if options.max_rows > 0 else active
        table = Table(
            title=f"Findings ({len(shown)} of {len(active)})",
            box=box.SIMPLE_HEAD,
            title_justify="left",
            show_lines=False,
            expand=True,
        )
        table.add_column("Severity", no_wrap=True)
        table.add_column("Finding", ratio=1, overflow="fold")
        for f in shown:
            conf = "" if f.confidence.value == "high" else f"  ({f.confidence.value} confidence)"
            if f.baseline is not None and f.baseline.state != "unchanged":
                conf += "  NEW" if f.baseline.state == "new" else f"  (was {f.baseline.previous_severity})"
            fix = f.remediation.split(". ")[0].rstrip(".")
            table.add_row(
                _sev(f.severity.value),
                Group(
                    Text.assemble((f.rule_id, "bold"), (conf, "dim")),
                    Text(f.description),
                    Text(f"Fix: {fix}.", style="dim"),
                ),
            )
        console.print(table)
        if len(active) > len(shown):
            console.print(
                Text(
                    f"... {len(active) - len(shown)} more findings: use --format json or csv, or --max-rows 0",
                    style="dim",
                )
            )
