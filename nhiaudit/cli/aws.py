"""``scan aws`` and ``collect aws``: live collection with boto3, or offline import of exported files."""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from nhiaudit.cli.common import OutputOpt, ScanOptions, run_scan, scan_options, write_inventory
from nhiaudit.collectors.aws_org import DEFAULT_ORG_ROLE
from nhiaudit.errors import NhiauditError

if TYPE_CHECKING:
    from nhiaudit.model import Inventory

INPUT = "Offline input (exported files)"
LIVE = "Live collection (boto3)"

FromFileOpt = Annotated[
    Optional[list[Path]],  # noqa: UP045
    typer.Option(
        "--from-file",
        help="Output of 'aws iam get-account-authorization-details' (repeat for page files). "
        "Without it the scan is live.",
        rich_help_panel=INPUT,
        dir_okay=False,
    ),
]
CredReportOpt = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option(
        "--credential-report",
        help="IAM credential report: the CSV, or the JSON of 'aws iam get-credential-report'.",
        rich_help_panel=INPUT,
        dir_okay=False,
    ),
]
OrgAccountsOpt = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option(
        "--org-accounts",
        help="Output of 'aws organizations list-accounts': these accounts count as inside the organization "
        "for trust rules, and their names and tags give environments (offline import; a live --org scan "
        "lists them itself).",
        rich_help_panel=INPUT,
        dir_okay=False,
    ),
]
AccessAdvisorOpt = Annotated[
    Optional[list[Path]],  # noqa: UP045
    typer.Option(
        "--access-advisor",
        help="IAM Access Advisor export: JSON mapping principal ARNs to 'aws iam get-service-last-accessed-details' "
        "output, or a directory of such files (docs/aws.md).",
        rich_help_panel=INPUT,
    ),
]
AccessAnalyzerOpt = Annotated[
    Optional[list[Path]],  # noqa: UP045
    typer.Option(
        "--access-analyzer",
        help="IAM Access Analyzer unused-access findings: JSON list of 'aws accessanalyzer get-finding-v2' output.",
        rich_help_panel=INPUT,
        dir_okay=False,
    ),
]
ProfileOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--profile", help="AWS profile (default: the standard credential chain).", rich_help_panel=LIVE),
]
RegionOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(
        "--region",
        help="Region for STS and IAM Access Analyzer (IAM is global). Default: the profile's, else us-east-1.",
        rich_help_panel=LIVE,
    ),
]
RoleArnOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--role-arn", help="Assume this role first and scan with it.", rich_help_panel=LIVE),
]
ExternalIdOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--external-id", help="ExternalId for --role-arn and the organization role.", rich_help_panel=LIVE),
]
OrgOpt = Annotated[
    bool,
    typer.Option(
        "--org",
        help="Scan every active account of the AWS Organization (run from the management account or a delegated "
        "administrator).",
        rich_help_panel=LIVE,
    ),
]
AccountsOpt = Annotated[
    Optional[list[str]],  # noqa: UP045
    typer.Option(
        "--accounts",
        help="Scan these accounts (comma-separated or repeated); with --org, only these of the organization.",
        rich_help_panel=LIVE,
    ),
]
ExcludeOpt = Annotated[
    Optional[list[str]],  # noqa: UP045
    typer.Option("--exclude-accounts", help="Leave these accounts out (comma-separated).", rich_help_panel=LIVE),
]
OrgRoleOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(
        "--org-role-name",
        help=f"Role assumed in each account of --org / --accounts (default {DEFAULT_ORG_ROLE}; "
        "docs/aws.md deploys it).",
        rich_help_panel=LIVE,
    ),
]
MaxWorkersOpt = Annotated[
    int,
    typer.Option("--max-workers", help="Accounts collected at the same time.", rich_help_panel=LIVE, min=1, max=64),
]
IdentityWorkersOpt = Annotated[
    int,
    typer.Option(
        "--identity-workers",
        help="Concurrent IAM Access Advisor jobs per account.",
        rich_help_panel=LIVE,
        min=1,
        max=64,
    ),
]
UsageOpt = Annotated[
    bool,
    typer.Option(
        "--usage/--no-usage",
        help="Collect usage evidence (IAM Access Advisor, Access Analyzer); --no-usage is faster but skips "
        "excess-privilege.",
        rich_help_panel=LIVE,
    ),
]
MaxAttemptsOpt = Annotated[
    int,
    typer.Option(
        "--max-attempts",
        help="Attempts per AWS call (adaptive retries with backoff on throttling).",
        rich_help_panel=LIVE,
        min=1,
        max=20,
    ),
]
QuietOpt = Annotated[
    bool, typer.Option("--quiet", "-q", help="No progress output (for CI logs).", rich_help_panel=LIVE)
]
VerboseOpt = Annotated[
    bool,
    typer.Option("--verbose", "-v", help="Print API calls per account and operation.", rich_help_panel=LIVE),
]

AWS_PARAMS: list[tuple[str, Any, Any]] = [
    ("from_file", FromFileOpt, None),
    ("credential_report", CredReportOpt, None),
    ("org_accounts", OrgAccountsOpt, None),
    ("access_advisor", AccessAdvisorOpt, None),
    ("access_analyzer", AccessAnalyzerOpt, None),
    ("profile", ProfileOpt, None),
    ("region", RegionOpt, None),
    ("role_arn", RoleArnOpt, None),
    ("external_id", ExternalIdOpt, None),
    ("org", OrgOpt, False),
    ("accounts", AccountsOpt, None),
    ("exclude_accounts", ExcludeOpt, None),
    ("org_role_name", OrgRoleOpt, None),
    ("max_workers", MaxWorkersOpt, 4),
    ("identity_workers", IdentityWorkersOpt, 8),
    ("usage", UsageOpt, True),
    ("max_attempts", MaxAttemptsOpt, 6),
    ("quiet", QuietOpt, False),
    ("verbose", VerboseOpt, False),
]


@dataclass
class AwsSourceOptions:
    from_file: list[Path] | None = None
    credential_report: Path | None = None
    org_accounts: Path | None = None
    access_advisor: list[Path] | None = None
    access_analyzer: list[Path] | None = None
    profile: str | None = None
    region: str | None = None
    role_arn: str | None = None
    external_id: str | None = None
    org: bool = False
    accounts: list[str] | None = None
    exclude_accounts: list[str] | None = None
    org_role_name: str | None = None
    max_workers: int = 4
    identity_workers: int = 8
    usage: bool = True
    max_attempts: int = 6
    quiet: bool = False
    verbose: bool = False

    def live_options_given(self) -> list[str]:
        defaults = AwsSourceOptions()
        live = (
            "profile",
            "region",
            "role_arn",
            "external_id",
            "org",
            "accounts",
            "exclude_accounts",
            "org_role_name",
            "max_workers",
            "identity_workers",
            "usage",
            "max_attempts",
            "verbose",
        )
        return [
            f"--{f.name.replace('_', '-')}"
            for f in fields(self)
            if f.name in live and getattr(self, f.name) != getattr(defaults, f.name)
        ]


def aws_source_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator: the command takes every AWS input option, as ``source: AwsSourceOptions``."""
    own = [p for p in inspect.signature(func, eval_str=True).parameters.values() if p.name not in ("source", "opts")]
    names = [name for name, _, _ in AWS_PARAMS]
    added = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
        for name, annotation, default in AWS_PARAMS
    ]

    @functools.wraps(func)
    def wrapper(**kwargs: Any) -> Any:
        values = {name: kwargs.pop(name) for name in names}
        return func(**kwargs, source=AwsSourceOptions(**values))

    params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own] + added
    if "opts" in inspect.signature(func).parameters:
        params.append(inspect.Parameter("opts", inspect.Parameter.KEYWORD_ONLY, annotation=Any))
    wrapper.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    return wrapper


def collect_aws(source: AwsSourceOptions) -> Inventory:
    if source.from_file:
        live = source.live_options_given()
        if live:
            raise NhiauditError(f"{live[0]} is for live collection; it cannot be combined with --from-file")
        from nhiaudit.collectors.aws_export import AwsExportCollector

        return AwsExportCollector(
            list(source.from_file),
            source.credential_report,
            access_advisor=source.access_advisor,
            access_analyzer=source.access_analyzer,
            organization_accounts=source.org_accounts,
        ).collect()
    for given, option in (
        (source.credential_report, "--credential-report"),
        (source.org_accounts, "--org-accounts"),
        (source.access_advisor, "--access-advisor"),
        (source.access_analyzer, "--access-analyzer"),
    ):
        if given:
            raise NhiauditError(
                f"{option} is for offline import and needs --from-file (the authorization details); "
                "a live scan collects it itself"
            )
    return _collect_live(source)


def _collect_live(source: AwsSourceOptions) -> Inventory:
    from nhiaudit.collectors.aws_live import AwsLiveOptions
    from nhiaudit.collectors.aws_org import parse_accounts

    accounts = parse_accounts(source.accounts, "--accounts")
    exclude = parse_accounts(source.exclude_accounts, "--exclude-accounts")
    if exclude and not (source.org or accounts):
        raise NhiauditError("--exclude-accounts needs --org or --accounts")
    if source.org_role_name and not (source.org or accounts):
        raise NhiauditError("--org-role-name needs --org or --accounts")
    if source.external_id and not (source.role_arn or source.org or accounts):
        raise NhiauditError("--external-id needs --role-arn, --org or --accounts")
    options = AwsLiveOptions(
        profile=source.profile,
        region=source.region,
        role_arn=source.role_arn,
        external_id=source.external_id,
        organization=source.org,
        accounts=accounts,
        exclude_accounts=exclude,
        max_workers=source.max_workers,
        identity_workers=source.identity_workers,
        usage=source.usage,
        max_attempts=source.max_attempts,
    )
    if source.org_role_name:
        options.org_role_name = source.org_role_name
    inventory = _run_with_progress(options, quiet=source.quiet)
    if source.verbose:
        from nhiaudit.cli.progress import print_api_calls

        print_api_calls(inventory)
    return inventory


def _run_with_progress(options: Any, *, quiet: bool) -> Inventory:
    from nhiaudit.cli.progress import LineProgress, RichProgress
    from nhiaudit.collectors.aws_live import AwsLiveCollector
    from nhiaudit.collectors.progress import CollectionProgress

    if quiet:
        return AwsLiveCollector(options, CollectionProgress()).collect()
    if sys.stderr.isatty():
        from rich.console import Console

        with RichProgress(Console(stderr=True)) as progress:
            return AwsLiveCollector(options, progress).collect()
    return AwsLiveCollector(options, LineProgress()).collect()


def register(scan_app: typer.Typer, collect_app: typer.Typer) -> None:
    @scan_app.command("aws")
    @scan_options
    @aws_source_options
    def scan_aws(*, source: AwsSourceOptions, opts: ScanOptions) -> None:
        """Collect, analyze and report on AWS IAM non-human identities: live (default) or from exported files.

        Examples: nhiaudit scan aws --profile prod | nhiaudit scan aws --org --max-workers 8 --fail-on high |
        nhiaudit scan aws --from-file authz.json --credential-report report.csv
        """
        raise typer.Exit(run_scan(collect_aws(source), opts))

    @collect_app.command("aws")
    @aws_source_options
    def collect_aws_cmd(output: OutputOpt = None, *, source: AwsSourceOptions) -> None:
        """Collect AWS identities into an inventory file (no analysis): live (default) or from exported files.

        Examples: nhiaudit collect aws --org -o inventory.json | nhiaudit collect aws --from-file authz.json -o inv.json
        """
        write_inventory(collect_aws(source), output)
