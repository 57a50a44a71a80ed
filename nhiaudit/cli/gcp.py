"""``scan gcp`` and ``collect gcp``: live through the Google Cloud APIs, or from gcloud exports."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from nhiaudit.cli.common import OutputOpt, ScanOptions, run_scan, scan_options, write_inventory
from nhiaudit.errors import NhiauditError

if TYPE_CHECKING:
    from nhiaudit.model import Inventory

SCOPE = "Scope"
INPUT = "Input"
CONNECTION = "Connection"

ProjectOpt = Annotated[
    Optional[list[str]],  # noqa: UP045
    typer.Option("--project", "-p", help="Project id to scan (repeatable).", rich_help_panel=SCOPE),
]
FolderOpt = Annotated[
    Optional[list[str]],  # noqa: UP045
    typer.Option("--folder", help="Folder id: scan every active project below it (repeatable).", rich_help_panel=SCOPE),
]
OrganizationOpt = Annotated[
    Optional[list[str]],  # noqa: UP045
    typer.Option(
        "--organization", help="Organization id: scan every active project in it (repeatable).", rich_help_panel=SCOPE
    ),
]
FromDirOpt = Annotated[
    Optional[list[Path]],  # noqa: UP045
    typer.Option(
        "--from-dir",
        help="Folder of gcloud JSON exports (projects/<id>/... layout, see docs/gcp.md); repeatable. No API calls.",
        rich_help_panel=INPUT,
        file_okay=False,
    ),
]
ImpersonateOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(
        "--impersonate-service-account",
        help="Call the APIs as this service account (needs Token Creator on it).",
        rich_help_panel=CONNECTION,
    ),
]
EndpointOpt = Annotated[
    Optional[list[str]],  # noqa: UP045
    typer.Option(
        "--endpoint",
        help="Override an API endpoint, NAME=URL (repeatable). Names: iam, iam-rest, resourcemanager, "
        "recommender, policyanalyzer, iamcredentials. http:// means plain text (local emulators). "
        "Also read from NHIAUDIT_GCP_ENDPOINTS.",
        rich_help_panel=CONNECTION,
    ),
]
UniverseOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(
        "--universe-domain",
        help="API domain of a sovereign cloud (default googleapis.com; also NHIAUDIT_GCP_UNIVERSE_DOMAIN).",
        rich_help_panel=CONNECTION,
    ),
]
MaxWorkersOpt = Annotated[
    int,
    typer.Option(
        "--max-workers",
        help="Projects (and service accounts) read in parallel.",
        rich_help_panel=CONNECTION,
        min=1,
        max=64,
    ),
]
NoUsageOpt = Annotated[
    bool,
    typer.Option(
        "--no-usage",
        help="Skip usage evidence (Activity Analyzer, IAM Recommender): faster, but unused-identity and "
        "recommendation rules cannot run.",
        rich_help_panel=CONNECTION,
    ),
]
QuietOpt = Annotated[
    bool, typer.Option("--quiet", "-q", help="No progress display on stderr.", rich_help_panel=CONNECTION)
]


def collect_gcp(
    *,
    project: list[str] | None,
    folder: list[str] | None,
    organization: list[str] | None,
    from_dir: list[Path] | None,
    impersonate_service_account: str | None,
    endpoint: list[str] | None,
    universe_domain: str | None,
    max_workers: int,
    no_usage: bool,
    quiet: bool,
) -> Inventory:
    live = bool(project or folder or organization)
    if from_dir:
        if live or impersonate_service_account or endpoint or universe_domain:
            raise NhiauditError(
                "--from-dir reads exported files; do not combine it with --project, --folder, --organization or "
                "connection options"
            )
        from nhiaudit.collectors.gcp_export import GcpExportCollector

        return GcpExportCollector(list(from_dir)).collect()
    if not live:
        raise NhiauditError(
            "name what to scan: --project ID, --folder ID or --organization ID (live), or --from-dir EXPORT "
            "(gcloud exports, see docs/gcp.md)"
        )
    from nhiaudit.collectors.gcp_live import GcpEndpoints, GcpLiveCollector

    endpoints = GcpEndpoints.from_options(endpoint or [], universe_domain)
    with _Progress(quiet) as progress:
        collector = GcpLiveCollector(
            projects=project or [],
            folders=folder or [],
            organizations=organization or [],
            impersonate_service_account=impersonate_service_account,
            endpoints=endpoints,
            max_workers=max_workers,
            progress=progress,
            collect_usage=not no_usage,
        )
        inventory = collector.collect()
    if not quiet:
        calls = sum(sum(s.api_calls.values()) for s in inventory.sources)
        projects = sum(1 for s in inventory.sources if s.scope != "resource-hierarchy")
        typer.echo(
            f"gcp: {projects} project{'s' if projects != 1 else ''}, "
            f"{sum(1 for i in inventory.identities if i.attributes.get('listed'))} service accounts, "
            f"{len(inventory.credentials)} keys, {calls} API calls, {len(inventory.coverage)} coverage gaps",
            err=True,
        )
    return inventory


class _Progress:
    """Rich progress on stderr: projects done, service accounts read."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self._progress = None
        self._task = None
        self._accounts = 0

    def __enter__(self) -> _Progress:
        if not self.quiet:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            console = Console(stderr=True)
            if not console.is_terminal:
                return self  # CI logs: no animation, the summary line follows
            self._progress = Progress(
                TextColumn("gcp projects"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[accounts]} service accounts"),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            )
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def start(self, total_projects: int) -> None:
        if self._progress is not None:
            self._task = self._progress.add_task("projects", total=total_projects, accounts=0)

    def project_done(self, project_id: str, service_accounts: int) -> None:
        self._accounts += service_accounts
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, advance=1, accounts=self._accounts)


def register(scan_app: typer.Typer, collect_app: typer.Typer) -> None:
    @scan_app.command("gcp")
    @scan_options
    def scan_gcp(
        project: ProjectOpt = None,
        folder: FolderOpt = None,
        organization: OrganizationOpt = None,
        from_dir: FromDirOpt = None,
        impersonate_service_account: ImpersonateOpt = None,
        endpoint: EndpointOpt = None,
        universe_domain: UniverseOpt = None,
        max_workers: MaxWorkersOpt = 8,
        no_usage: NoUsageOpt = False,
        quiet: QuietOpt = False,
        *,
        opts: ScanOptions,
    ) -> None:
        """Collect, analyze and report on GCP service accounts, keys and role bindings.

        Examples: nhiaudit scan gcp --project shop-prod | nhiaudit scan gcp --organization 123456789012 --fail-on high |
        nhiaudit scan gcp --from-dir gcp-export/
        """
        inventory = collect_gcp(
            project=project,
            folder=folder,
            organization=organization,
            from_dir=from_dir,
            impersonate_service_account=impersonate_service_account,
            endpoint=endpoint,
            universe_domain=universe_domain,
            max_workers=max_workers,
            no_usage=no_usage,
            quiet=quiet,
        )
        raise typer.Exit(run_scan(inventory, opts))

    @collect_app.command("gcp")
    def collect_gcp_cmd(
        project: ProjectOpt = None,
        folder: FolderOpt = None,
        organization: OrganizationOpt = None,
        from_dir: FromDirOpt = None,
        impersonate_service_account: ImpersonateOpt = None,
        endpoint: EndpointOpt = None,
        universe_domain: UniverseOpt = None,
        max_workers: MaxWorkersOpt = 8,
        no_usage: NoUsageOpt = False,
        quiet: QuietOpt = False,
        output: OutputOpt = None,
    ) -> None:
        """Collect GCP identities into an inventory file (no analysis).

        Example: nhiaudit collect gcp --organization 123456789012 -o inventory.json
        """
        inventory = collect_gcp(
            project=project,
            folder=folder,
            organization=organization,
            from_dir=from_dir,
            impersonate_service_account=impersonate_service_account,
            endpoint=endpoint,
            universe_domain=universe_domain,
            max_workers=max_workers,
            no_usage=no_usage,
            quiet=quiet,
        )
        write_inventory(inventory, output)
