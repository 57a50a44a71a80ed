"""``scan azure`` and ``collect azure``: live (Microsoft Graph + ARM) or from an export folder."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from nhiaudit.cli.common import OutputOpt, ScanOptions, run_scan, scan_options, write_inventory
from nhiaudit.errors import NhiauditError

if TYPE_CHECKING:
    from nhiaudit.model import Inventory

INPUT = "Input"
LIVE = "Live collection"

FromDirOpt = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option(
        "--from-dir",
        help="Folder of az CLI output and Graph / ARM JSON pages to import instead of calling Azure "
        "(layout in docs/azure.md).",
        rich_help_panel=INPUT,
        file_okay=False,
    ),
]
TenantOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(
        "--tenant", help="Tenant id (GUID) to scan; default: the credential's home tenant.", rich_help_panel=INPUT
    ),
]
SubscriptionOpt = Annotated[
    Optional[list[str]],  # noqa: UP045
    typer.Option(
        "--subscription",
        help="Subscription id for Azure RBAC (repeatable); default: every subscription the credential can see.",
        rich_help_panel=LIVE,
    ),
]


class Cloud(StrEnum):
    public = "public"
    usgov = "usgov"
    china = "china"


CloudOpt = Annotated[
    Cloud,
    typer.Option(
        "--cloud",
        help="Azure cloud: sets the Graph, ARM and sign-in endpoints.",
        rich_help_panel=LIVE,
        case_sensitive=False,
    ),
]
GraphUrlOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(
        "--graph-url",
        help="Microsoft Graph base URL, e.g. https://graph.microsoft.us (default: the cloud's).",
        rich_help_panel=LIVE,
    ),
]
ArmUrlOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(
        "--arm-url",
        help="Azure Resource Manager base URL, e.g. https://management.usgovcloudapi.net (default: the cloud's).",
        rich_help_panel=LIVE,
    ),
]
NoRbacOpt = Annotated[
    bool,
    typer.Option("--no-rbac", help="Collect Entra ID only, not Azure role assignments.", rich_help_panel=LIVE),
]
MaxWorkersOpt = Annotated[
    int,
    typer.Option("--max-workers", help="Concurrent API requests (default 8).", rich_help_panel=LIVE, min=1, max=64),
]
QuietOpt = Annotated[
    bool,
    typer.Option("--quiet", "-q", help="No progress display on standard error.", rich_help_panel=LIVE),
]


class RichProgress:
    """Progress of a live collection on standard error: bars on a terminal, one line per step otherwise."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.console = Console(stderr=True)
        self.live = self.console.is_terminal
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
            disable=not self.live,
        )
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> RichProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def start(self, key: str, description: str, total: int | None = None) -> None:
        self.tasks[key] = self.progress.add_task(description, total=total)

    def advance(self, key: str, amount: int = 1) -> None:
        if key in self.tasks:
            self.progress.advance(self.tasks[key], amount)

    def finish(self, key: str, description: str | None = None) -> None:
        task = self.tasks.pop(key, None)
        if task is not None:
            self.progress.remove_task(task)
        if description:
            if self.live:
                self.progress.console.print(f"[green]✓[/green] {description}", highlight=False)
            else:
                print(f"nhiaudit: {description}", file=sys.stderr)


def collect_azure(
    *,
    from_dir: Path | None,
    tenant: str | None,
    subscriptions: list[str] | None,
    cloud: Cloud,
    graph_url: str | None,
    arm_url: str | None,
    no_rbac: bool,
    max_workers: int,
    quiet: bool,
) -> Inventory:
    if from_dir is not None:
        live_only = [
            name
            for name, given in (
                ("--subscription", bool(subscriptions)),
                ("--graph-url", graph_url is not None),
                ("--arm-url", arm_url is not None),
                ("--cloud", cloud != Cloud.public),
                ("--no-rbac", no_rbac),
            )
            if given
        ]
        if live_only:
            raise NhiauditError(f"{live_only[0]} applies to live collection, not to --from-dir")
        from nhiaudit.collectors.azure_export import AzureExportCollector

        return AzureExportCollector(from_dir, tenant=tenant).collect()
    from nhiaudit.collectors.azure_live import CLOUDS, AzureLiveCollector, NoProgress

    progress = NoProgress() if quiet else RichProgress()
    collector = AzureLiveCollector(
        tenant=tenant,
        subscriptions=subscriptions,
        cloud=CLOUDS[cloud.value],
        graph_url=graph_url,
        arm_url=arm_url,
        max_workers=max_workers,
        progress=progress,
        skip_arm=no_rbac,
    )
    if isinstance(progress, RichProgress):
        with progress:
            return collector.collect()
    return collector.collect()


def register(scan_app: typer.Typer, collect_app: typer.Typer) -> None:
    @scan_app.command("azure")
    @scan_options
    def scan_azure(
        from_dir: FromDirOpt = None,
        tenant: TenantOpt = None,
        subscription: SubscriptionOpt = None,
        cloud: CloudOpt = Cloud.public,
        graph_url: GraphUrlOpt = None,
        arm_url: ArmUrlOpt = None,
        no_rbac: NoRbacOpt = False,
        max_workers: MaxWorkersOpt = 8,
        quiet: QuietOpt = False,
        *,
        opts: ScanOptions,
    ) -> None:
        """Collect, analyze and report on Entra ID app registrations, service principals and managed identities.

        Examples: nhiaudit scan azure | nhiaudit scan azure --tenant TENANT_ID --subscription SUB_ID --fail-on high |
        nhiaudit scan azure --from-dir azure-export/
        """
        inventory = collect_azure(
            from_dir=from_dir,
            tenant=tenant,
            subscriptions=subscription,
            cloud=cloud,
            graph_url=graph_url,
            arm_url=arm_url,
            no_rbac=no_rbac,
            max_workers=max_workers,
            quiet=quiet,
        )
        raise typer.Exit(run_scan(inventory, opts))

    @collect_app.command("azure")
    def collect_azure_cmd(
        from_dir: FromDirOpt = None,
        tenant: TenantOpt = None,
        subscription: SubscriptionOpt = None,
        cloud: CloudOpt = Cloud.public,
        graph_url: GraphUrlOpt = None,
        arm_url: ArmUrlOpt = None,
        no_rbac: NoRbacOpt = False,
        max_workers: MaxWorkersOpt = 8,
        quiet: QuietOpt = False,
        output: OutputOpt = None,
    ) -> None:
        """Collect Azure identities into an inventory file (no analysis).

        Example: nhiaudit collect azure --tenant TENANT_ID -o azure-inventory.json
        """
        inventory = collect_azure(
            from_dir=from_dir,
            tenant=tenant,
            subscriptions=subscription,
            cloud=cloud,
            graph_url=graph_url,
            arm_url=arm_url,
            no_rbac=no_rbac,
            max_workers=max_workers,
            quiet=quiet,
        )
        write_inventory(inventory, output)
