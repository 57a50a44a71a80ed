"""How a live collector reports progress. The CLI renders it (rich on a terminal, plain lines in
CI logs, nothing with --quiet); collectors only call these methods, from any thread."""

from __future__ import annotations


class CollectionProgress:
    """Silent by default; the CLI subclasses it."""

    def accounts_planned(self, total: int) -> None:
        """The number of accounts (or projects, subscriptions) the collection covers."""

    def account_started(self, scope: str, label: str) -> None:
        """Collection of one account began; ``label`` is how to show it ('123456789012 (prod)')."""

    def stage(self, scope: str, stage: str, total: int | None = None) -> None:
        """The account entered a stage ('authorization details', 'Access Advisor', ...); ``total`` items."""

    def advance(self, scope: str, count: int = 1) -> None:
        """``count`` items of the current stage are done."""

    def account_finished(self, scope: str, summary: str, ok: bool) -> None:
        """The account is done (``ok``) or failed; ``summary`` is one line for the log."""
