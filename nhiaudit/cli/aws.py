"""``scan aws`` and ``collect aws``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from nhiaudit.cli.common import OutputOpt, ScanOptions, run_scan, scan_options, write_inventory
from nhiaudit.errors import NhiauditError

if TYPE_CHECKING:
    from nhiaudit.model import Inventory

INPUT = "Input"

FromFileOpt = Annotated[
    Optional[list[Path]],  # noqa: UP045
    typer.Option(
        "--from-file",
        help="Output of 'aws iam get-account-authorization-details' (repeat for page files).",
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
        "for trust rules, and their names and tags give environments.",
        rich_help_panel=INPUT,
        dir_okay=False,
    ),
]


def collect_aws(
    from_file: list[Path] | None, credential_report: Path | None, org_accounts: Path | None = None
) -> Inventory:
    if not from_file:
        if credential_report or org_accounts:
            option = "--credential-report" if credential_report else "--org-accounts"
            raise NhiauditError(f"{option} needs --from-file (the authorization details) as well")
        raise NhiauditError(
            "live AWS collection is not available in this version; export the data with "
            "'aws iam get-account-authorization-details > authz.json' and pass --from-file authz.json"
        )
    from nhiaudit.collectors.aws_export import AwsExportCollector

    return AwsExportCollector(list(from_file), credential_report, organization_accounts=org_accounts).collect()


def register(scan_app: typer.Typer, collect_app: typer.Typer) -> None:
    @scan_app.command("aws")
    @scan_options
    def scan_aws(
        from_file: FromFileOpt = None,
        credential_report: CredReportOpt = None,
        org_accounts: OrgAccountsOpt = None,
        *,
        opts: ScanOptions,
    ) -> None:
        """Collect, analyze and report on AWS IAM non-human identities.

        Example: nhiaudit scan aws --from-file authz.json --credential-report report.csv --fail-on high
        """
        raise typer.Exit(run_scan(collect_aws(from_file, credential_report, org_accounts), opts))

    @collect_app.command("aws")
    def collect_aws_cmd(
        from_file: FromFileOpt = None,
        credential_report: CredReportOpt = None,
        org_accounts: OrgAccountsOpt = None,
        output: OutputOpt = None,
    ) -> None:
        """Collect AWS identities into an inventory file (no analysis).

        Example: nhiaudit collect aws --from-file authz.json --credential-report report.csv -o inventory.json
        """
        write_inventory(collect_aws(from_file, credential_report, org_accounts), output)
