"""Progress of a live collection on stderr: a rich display on a terminal, one plain line per
account in CI logs, nothing with --quiet. Also the --verbose API call summary."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import typer

from nhiaudit.collectors.progress import CollectionProgress

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

    from nhiaudit.model import Inventory


class LineProgress(CollectionProgress):
    """One line per account: readable in CI logs, no cursor tricks."""

    def __init__(self, noun: str = "account") -> None:
        self.noun = noun

    def accounts_planned(self, total: int) -> None:
        typer.echo(f"nhiaudit: collecting {total} {self.noun}{'s' if total != 1 else ''}", err=True)

    def account_finished(self, scope: str, summary: str, ok: bool) -> None:
        typer.echo(f"nhiaudit: {'done' if ok else 'FAILED'} {summary}", err=True)


class RichProgress(CollectionProgress):
    """Accounts overall, and per running account its stage and identities."""

    def __init__(self, console: Console, noun: str = "account") -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self.noun = noun
        self.progress: Progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self._overall: TaskID | None = None
        self._tasks: dict[str, tuple[TaskID, str]] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> RichProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def accounts_planned(self, total: int) -> None:
        self._overall = self.progress.add_task(f"AWS {self.noun}s", total=total)

    def account_started(self, scope: str, label: str) -> None:
        with self._lock:
            self._tasks[scope] = (self.progress.add_task(f"  {label}", total=None), label)

    def stage(self, scope: str, stage: str, total: int | None = None) -> None:
        task = self._tasks.get(scope)
        if task is not None:
            self.progress.update(task[0], description=f"  {task[1]}: {stage}", total=total, completed=0)

    def advance(self, scope: str, count: int = 1) -> None:
        task = self._tasks.get(scope)
        if task is not None:
            self.progress.advance(task[0], count)

    def account_finished(self, scope: str, summary: str, ok: bool) -> None:
        with self._lock:
            task = self._tasks.pop(scope, None)
        if task is not None:
            self.progress.remove_task(task[0])
        if self._overall is not None:
            self.progress.advance(self._overall)
        mark = "[green]done[/green]" if ok else "[red]FAILED[/red]"
        self.progress.console.print(f"{mark} {summary}", markup=True, highlight=False)


def print_api_calls(inventory: Inventory) -> None:
    """--verbose: API calls per account and operation, and per identity, on stderr."""
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=True)
    table = Table(title="AWS API calls", title_justify="left", show_edge=False)
    table.add_column("Account")
    table.add_column("Operation")
    table.add_column("Calls", justify="right")
    total = 0
    for source in inventory.sources:
        if source.provider != "aws" or not source.api_calls:
            continue
        for operation, count in source.api_calls.items():
            table.add_row(source.scope, operation, str(count))
            total += count
    console.print(table)
    identities = sum(1 for i in inventory.identities if i.provider == "aws")
    per = f", {total / identities:.1f} per identity" if identities else ""
    console.print(f"{total} API calls for {identities} identities{per}", highlight=False)
