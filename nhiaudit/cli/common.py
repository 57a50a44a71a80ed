"""Options and steps shared by the commands. Heavy modules are imported inside functions so
that ``nhiaudit --help`` stays fast and never loads a provider SDK."""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from nhiaudit.errors import NhiauditError

if TYPE_CHECKING:
    from nhiaudit.model import FindingsDocument, Inventory
    from nhiaudit.settings import Settings


class FailOn(StrEnum):
    critical = "critical"
    high = "high"
    medium = "medium"
    low = "low"
    info = "info"
    none = "none"


EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_ERROR = 2

ANALYSIS = "Analysis"
OUTPUT = "Output"

# --- option types ---------------------------------------------------------------------------

FormatOpt = Annotated[
    str,
    typer.Option(
        "--format",
        "-f",
        help="Output format: table, json, csv, sarif, ocsf, html or markdown. "
        "Several, comma-separated, with --output-dir: -f json,sarif,html --output-dir out",
        rich_help_panel=OUTPUT,
    ),
]
OutputOpt = Annotated[
    Optional[Path],  # noqa: UP045 - typer needs Optional on 3.11
    typer.Option(
        "--output",
        "-o",
        help="Write the report to this file instead of standard output.",
        rich_help_panel=OUTPUT,
        dir_okay=False,
    ),
]
FailOnOpt = Annotated[
    FailOn,
    typer.Option(
        "--fail-on",
        help="Exit with code 1 when a finding has at least this severity.",
        rich_help_panel=OUTPUT,
        case_sensitive=False,
    ),
]
OutputDirOpt = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option(
        "--output-dir",
        help="Write one file per format into this directory: nhiaudit.json, nhiaudit.sarif, nhiaudit.html, ...",
        rich_help_panel=OUTPUT,
        file_okay=False,
    ),
]
SuppressionsOpt = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option(
        "--suppressions",
        help="TOML file of accepted findings ([[suppress]] entries: fingerprint, rule, identity or account, "
        "a reason, an optional expiry). Suppressed findings stay in the report and never fail --fail-on.",
        rich_help_panel=OUTPUT,
        dir_okay=False,
    ),
]
BaselineOpt = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option(
        "--baseline",
        help="Findings JSON of an earlier scan: mark findings new / unchanged / fixed, carry first-seen dates "
        "forward, and make --fail-on count only findings that are new (or rose to the threshold) since then.",
        rich_help_panel=OUTPUT,
        dir_okay=False,
    ),
]
MaxRowsOpt = Annotated[
    int,
    typer.Option("--max-rows", help="Findings shown in the terminal table (0 = all).", rich_help_panel=OUTPUT, min=0),
]
ConfigOpt = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option(
        "--config",
        "-c",
        help="TOML config file: thresholds, rules and environments sections.",
        rich_help_panel=ANALYSIS,
        dir_okay=False,
    ),
]
AsOfOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(
        "--as-of",
        help="Judge ages and idle times as of this date (YYYY-MM-DD or ISO time). "
        "Default: the inventory's snapshot time, else now.",
        rich_help_panel=ANALYSIS,
    ),
]
RotationOpt = Annotated[
    Optional[int],  # noqa: UP045
    typer.Option(
        "--rotation-days", help="Credential rotation limit in days (default 90).", rich_help_panel=ANALYSIS, min=1
    ),
]
CredUnusedOpt = Annotated[
    Optional[int],  # noqa: UP045
    typer.Option(
        "--credential-unused-days",
        help="Days without use before an active credential is unused (default 45).",
        rich_help_panel=ANALYSIS,
        min=1,
    ),
]
IdentityUnusedOpt = Annotated[
    Optional[int],  # noqa: UP045
    typer.Option(
        "--identity-unused-days",
        help="Days without activity before an identity is unused (default 90).",
        rich_help_panel=ANALYSIS,
        min=1,
    ),
]
MaxLifetimeOpt = Annotated[
    Optional[int],  # noqa: UP045
    typer.Option(
        "--credential-max-lifetime-days",
        help="Longest allowed credential lifetime, creation to expiry, in days (default 365).",
        rich_help_panel=ANALYSIS,
        min=1,
    ),
]
ProviderOwnedOpt = Annotated[
    bool,
    typer.Option(
        "--include-provider-owned",
        help="Also analyze provider-owned identities (service-linked roles, service agents).",
        rich_help_panel=ANALYSIS,
    ),
]
RuleOpt = Annotated[
    Optional[list[str]],  # noqa: UP045
    typer.Option("--rule", help="Run only this rule (repeatable).", rich_help_panel=ANALYSIS),
]
DisableRuleOpt = Annotated[
    Optional[list[str]],  # noqa: UP045
    typer.Option("--disable-rule", help="Skip this rule (repeatable).", rich_help_panel=ANALYSIS),
]


@dataclass
class AnalysisOptions:
    config: Path | None = None
    as_of: str | None = None
    rotation_days: int | None = None
    credential_unused_days: int | None = None
    identity_unused_days: int | None = None
    credential_max_lifetime_days: int | None = None
    include_provider_owned: bool = False
    rules: list[str] | None = None
    disabled_rules: list[str] | None = None

    def settings(self) -> Settings:
        from nhiaudit.settings import load_settings

        base = load_settings(self.config)
        disabled = [*base.disabled_rules, *(self.disabled_rules or [])]
        return base.override(
            rotation_days=self.rotation_days,
            credential_unused_days=self.credential_unused_days,
            identity_unused_days=self.identity_unused_days,
            credential_max_lifetime_days=self.credential_max_lifetime_days,
            include_provider_owned=self.include_provider_owned or None,
            disabled_rules=disabled,
        )

    def as_of_time(self) -> datetime | None:
        return parse_as_of(self.as_of)


@dataclass
class OutputOptions:
    format: str = "table"
    output: Path | None = None
    fail_on: FailOn = FailOn.none
    max_rows: int = 50
    output_dir: Path | None = None
    suppressions: Path | None = None
    baseline: Path | None = None


def parse_as_of(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise NhiauditError(f"--as-of: not a date or ISO time: {value!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# --- shared option sets ----------------------------------------------------------------------

ANALYSIS_PARAMS: list[tuple[str, Any, Any]] = [
    ("config", ConfigOpt, None),
    ("as_of", AsOfOpt, None),
    ("rotation_days", RotationOpt, None),
    ("credential_unused_days", CredUnusedOpt, None),
    ("identity_unused_days", IdentityUnusedOpt, None),
    ("credential_max_lifetime_days", MaxLifetimeOpt, None),
    ("include_provider_owned", ProviderOwnedOpt, False),
    ("rule", RuleOpt, None),
    ("disable_rule", DisableRuleOpt, None),
]
"""(parameter name, annotated type, default) of the analysis options every analyzing command takes."""

OUTPUT_PARAMS: list[tuple[str, Any, Any]] = [
    ("format", FormatOpt, "table"),
    ("output", OutputOpt, None),
    ("fail_on", FailOnOpt, FailOn.none),
    ("max_rows", MaxRowsOpt, 50),
    ("output_dir", OutputDirOpt, None),
    ("suppressions", SuppressionsOpt, None),
    ("baseline", BaselineOpt, None),
]
"""... and the report options of every reporting command. Add an option here and every
``scan <provider>``, ``scan --demo`` and ``report`` gets it."""


@dataclass
class ScanOptions:
    analysis: AnalysisOptions
    output: OutputOptions


def _analysis_from(values: dict[str, Any]) -> AnalysisOptions:
    return AnalysisOptions(
        config=values["config"],
        as_of=values["as_of"],
        rotation_days=values["rotation_days"],
        credential_unused_days=values["credential_unused_days"],
        identity_unused_days=values["identity_unused_days"],
        credential_max_lifetime_days=values["credential_max_lifetime_days"],
        include_provider_owned=values["include_provider_owned"],
        rules=values["rule"],
        disabled_rules=values["disable_rule"],
    )


def _output_from(values: dict[str, Any]) -> OutputOptions:
    return OutputOptions(
        format=values["format"],
        output=values["output"],
        fail_on=values["fail_on"],
        max_rows=values["max_rows"],
        output_dir=values["output_dir"],
        suppressions=values["suppressions"],
        baseline=values["baseline"],
    )


def _with_params(
    func: Callable[..., Any], extra: list[tuple[str, Any, Any]], build: Callable[[dict[str, Any]], Any]
) -> Callable[..., Any]:
    """Append shared options to a Typer command; ``func`` receives them built as ``opts``."""
    own = [p for p in inspect.signature(func, eval_str=True).parameters.values() if p.name != "opts"]
    names = [name for name, _, _ in extra]
    added = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
        for name, annotation, default in extra
    ]

    @functools.wraps(func)
    def wrapper(**kwargs: Any) -> Any:
        shared = {name: kwargs.pop(name) for name in names}
        return func(**kwargs, opts=build(shared))

    params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own] + added
    wrapper.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    return wrapper


def scan_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator: the command takes every analysis and output option, as ``opts: ScanOptions``."""
    return _with_params(
        func, ANALYSIS_PARAMS + OUTPUT_PARAMS, lambda v: ScanOptions(_analysis_from(v), _output_from(v))
    )


def analysis_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator: the command takes every analysis option, as ``opts: AnalysisOptions``."""
    return _with_params(func, ANALYSIS_PARAMS, _analysis_from)


def output_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator: the command takes every output option, as ``opts: OutputOptions``."""
    return _with_params(func, OUTPUT_PARAMS, _output_from)


# --- steps ------------------------------------------------------------------------------------


def run_analysis(inventory: Inventory, options: AnalysisOptions) -> FindingsDocument:
    from nhiaudit.analyzer import analyze

    return analyze(inventory, options.settings(), as_of=options.as_of_time(), only_rules=options.rules)


def run_scan(inventory: Inventory, opts: ScanOptions) -> int:
    """Analyze an inventory and report on it; returns the exit code."""
    return emit_report(run_analysis(inventory, opts.analysis), opts.output)


def exit_code(doc: FindingsDocument, fail_on: FailOn) -> int:
    """1 when a finding counts toward --fail-on: not suppressed and, with a baseline, new at this severity."""
    if fail_on == FailOn.none:
        return EXIT_OK
    from nhiaudit.baseline import counts_toward_failure
    from nhiaudit.model import Severity

    threshold = Severity(fail_on.value)
    failing = [f for f in doc.findings if counts_toward_failure(f, threshold)]
    if not failing:
        return EXIT_OK
    since = " new (or newly this severe) since the baseline" if doc.scan.baseline is not None else ""
    typer.echo(
        f"nhiaudit: failing: {len(failing)} finding{'s' if len(failing) != 1 else ''}{since} "
        f"at or above {threshold.value} (--fail-on {fail_on.value})",
        err=True,
    )
    return EXIT_FINDINGS


def parse_formats(value: str) -> list[str]:
    """'json, sarif,html' -> ['json', 'sarif', 'html'], each checked against the known formats."""
    from nhiaudit.report import FORMATS

    names = list(dict.fromkeys(part.strip().lower() for part in value.split(",") if part.strip()))
    if not names:
        raise NhiauditError(f"--format: give a format ({', '.join(FORMATS)})")
    for name in names:
        if name not in FORMATS:
            raise NhiauditError(f"unknown format {name!r}; choose from {', '.join(FORMATS)}")
    return names


def prepare_findings(doc: FindingsDocument, options: OutputOptions) -> FindingsDocument:
    """Apply --suppressions and --baseline (in that order) to a findings document."""
    if options.suppressions is not None:
        from nhiaudit.suppressions import apply_suppressions, load_suppressions

        doc = apply_suppressions(doc, load_suppressions(options.suppressions), str(options.suppressions))
    if options.baseline is not None:
        from nhiaudit.baseline import apply_baseline
        from nhiaudit.model import load_findings

        doc = apply_baseline(doc, load_findings(options.baseline), options.baseline)
    return doc


def output_paths(formats: list[str], options: OutputOptions) -> list[Path | None]:
    """Where each format goes: standard output (None), --output, or a file in --output-dir."""
    from nhiaudit.report import get_reporter

    if options.output is not None and options.output_dir is not None:
        raise NhiauditError("use either --output (one format) or --output-dir (one file per format), not both")
    if options.output_dir is not None:
        return [options.output_dir / f"nhiaudit.{get_reporter(name).extension}" for name in formats]
    if len(formats) > 1:
        raise NhiauditError(f"{len(formats)} formats need --output-dir DIR (one file per format)")
    return [options.output]


def emit_report(doc: FindingsDocument, options: OutputOptions) -> int:
    """Apply suppressions and baseline, render every format where asked, return the --fail-on exit code."""
    from nhiaudit.report import get_reporter

    formats = parse_formats(options.format)
    paths = output_paths(formats, options)
    doc = prepare_findings(doc, options)

    def render(name: str, out: Any, report_options: Any) -> None:
        get_reporter(name).render(doc, out, report_options)

    write_reports(formats, paths, options, render, _counts(doc))
    if paths != [None] or formats != ["table"]:
        for warning in doc.scan.warnings:
            if warning.startswith("suppression "):
                typer.echo(f"nhiaudit: warning: {warning}", err=True)
    return exit_code(doc, options.fail_on)


def write_reports(
    formats: list[str],
    paths: list[Path | None],
    options: OutputOptions,
    render: Callable[[str, Any, Any], None],
    summary: str,
) -> None:
    """Render each format to standard output or its file; one line per file on stderr."""
    from nhiaudit.report import ReportOptions

    for name, path in zip(formats, paths, strict=True):
        report_options = ReportOptions(max_rows=options.max_rows)
        if path is None:
            render(name, sys.stdout, report_options)
            continue
        report_options.color = False
        report_options.width = 140
        write_text(path, lambda fh, n=name, o=report_options: render(n, fh, o))
        typer.echo(f"wrote {summary} as {name} to {path}", err=True)


def _counts(doc: FindingsDocument) -> str:
    counts = ", ".join(f"{n} {s}" for s, n in doc.summary.by_severity.items() if n)
    text = f"{doc.summary.total} findings ({counts or 'none'})"
    if doc.summary.suppressed:
        text += f", {doc.summary.suppressed} suppressed"
    if doc.scan.baseline is not None:
        b = doc.scan.baseline
        text += f"; since the baseline {b.new} new, {len(b.fixed)} fixed"
    return text


def write_text(path: Path, writer: object) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8", newline="") as fh:
            writer(fh)  # type: ignore[operator]
    except OSError as exc:
        raise NhiauditError(f"cannot write {path}: {exc.strerror or exc}") from None


def write_inventory(inventory: Inventory, output: Path | None) -> None:
    from nhiaudit.model import dump_json

    text = dump_json(inventory)
    if output is None:
        sys.stdout.write(text)
        return
    write_text(output, lambda fh: fh.write(text))
    typer.echo(
        f"wrote inventory of {len(inventory.identities)} identities, {len(inventory.credentials)} credentials "
        f"and {len(inventory.policies)} policies to {output}",
        err=True,
    )
