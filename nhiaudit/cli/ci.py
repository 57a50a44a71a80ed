"""``nhiaudit diff`` and ``nhiaudit frameworks``: comparing scans and framework coverage."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from nhiaudit.cli.common import (
    OUTPUT,
    FailOn,
    FailOnOpt,
    MaxRowsOpt,
    OutputDirOpt,
    OutputOpt,
    OutputOptions,
    SuppressionsOpt,
    exit_code,
    output_paths,
    parse_formats,
    prepare_findings,
    write_reports,
    write_text,
)

DiffFormatOpt = Annotated[
    str,
    typer.Option(
        "--format",
        "-f",
        help="table, json, markdown or csv render the changes (new, fixed, unchanged, not rescanned); "
        "sarif, html and ocsf render the new scan marked with each finding's change. "
        "Several, comma-separated, with --output-dir.",
        rich_help_panel=OUTPUT,
    ),
]
OnlyOpt = Annotated[
    Optional[list[str]],  # noqa: UP045
    typer.Option(
        "--only",
        help="Keep only these changes (repeatable): new, fixed, unchanged, not_rescanned, suppressed. "
        "Example: -f csv --only new (rows for new tickets).",
        rich_help_panel=OUTPUT,
    ),
]
FrameworkOpt = Annotated[
    Optional[list[str]],  # noqa: UP045
    typer.Option(
        "--framework",
        help="owasp_nhi, nist_800_207, nist_800_53, cis or all (repeatable; default owasp_nhi and nist_800_207).",
    ),
]


def register(app: typer.Typer) -> None:
    @app.command()
    def diff(
        old: Annotated[Path, typer.Argument(help="Findings JSON of the earlier scan (the baseline).", dir_okay=False)],
        new: Annotated[Path, typer.Argument(help="Findings JSON of the later scan.", dir_okay=False)],
        format: DiffFormatOpt = "table",
        output: OutputOpt = None,
        output_dir: OutputDirOpt = None,
        fail_on: FailOnOpt = FailOn.none,
        max_rows: MaxRowsOpt = 50,
        suppressions: SuppressionsOpt = None,
        only: OnlyOpt = None,
    ) -> None:
        """Compare two scans: new, fixed and unchanged findings; --fail-on counts only new ones.

        Example: nhiaudit diff yesterday.json today.json --format markdown --fail-on high
        """
        from nhiaudit.baseline import compare
        from nhiaudit.model import load_findings
        from nhiaudit.report.diff_view import render_diff

        options = OutputOptions(
            format=format,
            output=output,
            fail_on=fail_on,
            max_rows=max_rows,
            output_dir=output_dir,
            suppressions=suppressions,
        )
        formats = parse_formats(format)
        paths = output_paths(formats, options)
        baseline = load_findings(old)
        current = prepare_findings(load_findings(new), options)
        result = compare(baseline, current, old, str(new))
        if only:
            result = result.only(only)

        def render(name: str, out: Any, report_options: Any) -> None:
            render_diff(result, name, out, report_options)

        c = result.counts()
        summary = f"{c['new']} new, {c['fixed']} fixed, {c['unchanged']} unchanged findings"
        write_reports(formats, paths, options, render, summary)
        raise typer.Exit(exit_code(result.new, fail_on))

    @app.command()
    def frameworks(
        findings: Annotated[
            Optional[Path],  # noqa: UP045
            typer.Argument(
                help="Findings JSON: also count its findings per item (suppressed ones apart).", dir_okay=False
            ),
        ] = None,
        framework: FrameworkOpt = None,
        format: Annotated[str, typer.Option("--format", "-f", help="table, json or markdown.")] = "table",
        output: OutputOpt = None,
    ) -> None:
        """Framework coverage: the rules and findings under each OWASP NHI Top 10 item and NIST SP 800-207 tenet.

        Example: nhiaudit frameworks findings.json --format markdown
        """
        from nhiaudit.frameworks import FRAMEWORK_FILES
        from nhiaudit.frameworks.coverage import DEFAULT_FRAMEWORKS, coverage_tables
        from nhiaudit.model import load_findings
        from nhiaudit.report.coverage_view import render_coverage
        from nhiaudit.rules import all_rules

        keys = list(framework or DEFAULT_FRAMEWORKS)
        if "all" in keys:
            keys = list(FRAMEWORK_FILES)
        doc = load_findings(findings) if findings is not None else None
        tables = coverage_tables([r.meta for r in all_rules()], doc.findings if doc else None, keys)
        text = render_coverage(tables, format.strip().lower())
        if output is None:
            sys.stdout.write(text)
        else:
            write_text(output, lambda fh: fh.write(text))
            typer.echo(f"wrote framework coverage as {format} to {output}", err=True)
