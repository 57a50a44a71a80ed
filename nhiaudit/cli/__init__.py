"""The ``nhiaudit`` command line: parse, wire, print. No business logic lives here.

Exit codes: 0 = no finding at or above --fail-on; 1 = findings at or above it;
2 = usage, input or collection error (one line on stderr, no traceback).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from nhiaudit import __version__
from nhiaudit.cli import aws as aws_cli
from nhiaudit.cli import azure as azure_cli
from nhiaudit.cli import ci as ci_cli
from nhiaudit.cli import gcp as gcp_cli
from nhiaudit.cli.common import (
    EXIT_ERROR,
    AnalysisOptions,
    OutputOpt,
    OutputOptions,
    ScanOptions,
    analysis_options,
    emit_report,
    output_options,
    run_analysis,
    run_scan,
    scan_options,
    write_inventory,
    write_text,
)
from nhiaudit.errors import NhiauditError

app = typer.Typer(
    name="nhiaudit",
    help=(
        "Find over-privileged, unrotated and orphaned non-human identities across AWS, GCP and Azure.\n\n"
        "Quick look: nhiaudit scan --demo"
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
scan_app = typer.Typer(
    help="Collect, analyze and report in one step: 'scan --demo', 'scan aws ...'.",
    invoke_without_command=True,
    no_args_is_help=False,
)
collect_app = typer.Typer(
    help="Collect identities into an inventory file (stage 1 of 3).",
    invoke_without_command=True,
)
app.add_typer(scan_app, name="scan")
app.add_typer(collect_app, name="collect")
aws_cli.register(scan_app, collect_app)
azure_cli.register(scan_app, collect_app)
gcp_cli.register(scan_app, collect_app)
ci_cli.register(app)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"nhiaudit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Find over-privileged, unrotated and orphaned non-human identities across AWS, GCP and Azure."""


@scan_app.callback()
@scan_options
def scan(
    ctx: typer.Context,
    demo: Annotated[bool, typer.Option("--demo", help="Scan the built-in demo environment.")] = False,
    *,
    opts: ScanOptions,
) -> None:
    """Collect, analyze and report in one step.

    Examples: nhiaudit scan --demo | nhiaudit scan aws --from-file authz.json --credential-report report.csv
    """
    if ctx.invoked_subcommand is not None:
        if demo:
            raise NhiauditError("--demo scans the built-in environment; do not name a provider with it")
        return
    if not demo:
        typer.echo(ctx.get_help())
        raise typer.Exit(EXIT_ERROR)
    from nhiaudit.demo import load_demo

    raise typer.Exit(run_scan(load_demo(), opts))


@collect_app.callback()
def collect(
    ctx: typer.Context,
    demo: Annotated[bool, typer.Option("--demo", help="Write the built-in demo inventory.")] = False,
    output: OutputOpt = None,
) -> None:
    """Collect identities into an inventory file, for 'nhiaudit analyze'.

    Examples: nhiaudit collect aws --from-file authz.json -o inventory.json | nhiaudit collect --demo -o demo.json
    """
    if ctx.invoked_subcommand is not None:
        return
    if not demo:
        typer.echo(ctx.get_help())
        raise typer.Exit(EXIT_ERROR)
    from nhiaudit.demo import load_demo

    write_inventory(load_demo(), output)


@app.command()
@analysis_options
def analyze(
    inventory: Annotated[Path, typer.Argument(help="Inventory JSON written by 'nhiaudit collect'.", dir_okay=False)],
    output: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--output", "-o", help="Write the findings JSON here instead of standard output.", dir_okay=False),
    ] = None,
    *,
    opts: AnalysisOptions,
) -> None:
    """Analyze an inventory and write findings JSON (stage 2 of 3).

    Example: nhiaudit analyze inventory.json -o findings.json
    """
    from nhiaudit.model import dump_json, load_inventory

    doc = run_analysis(load_inventory(inventory), opts)
    text = dump_json(doc)
    if output is None:
        sys.stdout.write(text)
    else:
        write_text(output, lambda fh: fh.write(text))
        typer.echo(f"wrote {doc.summary.total} findings to {output}", err=True)


@app.command()
@output_options
def report(
    findings: Annotated[
        Path, typer.Argument(help="Findings JSON written by 'nhiaudit analyze' or 'scan -f json'.", dir_okay=False)
    ],
    *,
    opts: OutputOptions,
) -> None:
    """Render a findings file in any format (stage 3 of 3); --fail-on sets the exit code.

    Example: nhiaudit report findings.json --format csv -o findings.csv
    """
    from nhiaudit.model import load_findings

    raise typer.Exit(emit_report(load_findings(findings), opts))


@app.command()
def rules(
    format: Annotated[str, typer.Option("--format", "-f", help="table, json or markdown.")] = "table",
) -> None:
    """List every rule: id, severity, OWASP NHI Top 10 and NIST SP 800-207 references.

    Example: nhiaudit rules --format markdown > docs/rules.md
    """
    from nhiaudit.report.rules_reference import render_rules

    sys.stdout.write(render_rules(format))


def main() -> None:
    try:
        app()
    except NhiauditError as exc:
        typer.echo(f"nhiaudit: error: {exc}", err=True)
        sys.exit(EXIT_ERROR)
    except KeyboardInterrupt:
        typer.echo("nhiaudit: interrupted", err=True)
        sys.exit(130)
