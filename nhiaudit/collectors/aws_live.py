"""Live AWS collection with boto3: one account, a list of accounts, or a whole organization.

The flow: resolve credentials (standard chain or ``--profile``; ``--role-arn`` assumed first),
learn who we are (``sts:GetCallerIdentity``), plan the accounts (``aws_org``), then collect the
accounts concurrently (at most ``max_workers`` at a time), each with its own assumed-role session
(``aws_account``), and merge them into one inventory. An account that cannot be reached or read
becomes a coverage gap; only when no account at all could be collected is it an error (exit 2).
"""

from __future__ import annotations

import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from nhiaudit.collectors.aws_account import AccountCollector, AccountFailure, AccountOptions
from nhiaudit.collectors.aws_api import (
    ApiCallLog,
    ApiFailure,
    Cancelled,
    ClientSettings,
    PollPolicy,
    ReadOnlyViolation,
    make_client,
)
from nhiaudit.collectors.aws_org import DEFAULT_ORG_ROLE, AccountTarget, ScanPlan, plan_scan
from nhiaudit.collectors.aws_session import SESSION_NAME, Caller, assumed_session, base_session, caller_identity
from nhiaudit.collectors.aws_usage_live import AnalyzerRef, find_unused_access_analyzer
from nhiaudit.collectors.interface import Collector
from nhiaudit.collectors.progress import CollectionProgress
from nhiaudit.errors import CollectionError, NhiauditError
from nhiaudit.model import CoverageGap, Inventory, Scope, Source, utcnow


@dataclass
class AwsLiveOptions:
    profile: str | None = None
    region: str | None = None
    """Region for STS and Access Analyzer (IAM is global). Default: the profile's region, else us-east-1."""
    role_arn: str | None = None
    external_id: str | None = None
    organization: bool = False
    accounts: list[str] = field(default_factory=list)
    exclude_accounts: list[str] = field(default_factory=list)
    org_role_name: str = DEFAULT_ORG_ROLE
    max_workers: int = 4
    """Accounts collected at the same time."""
    identity_workers: int = 8
    """Concurrent Access Advisor jobs per account."""
    usage: bool = True
    max_attempts: int = 6
    poll: PollPolicy = field(default_factory=PollPolicy)
    session_name: str = SESSION_NAME


@dataclass
class AccountOutcome:
    target: AccountTarget
    inventory: Inventory | None
    log: ApiCallLog
    gap: CoverageGap | None = None


class AwsLiveCollector(Collector):
    provider = "aws"

    def __init__(self, options: AwsLiveOptions, progress: CollectionProgress | None = None) -> None:
        if options.max_workers < 1 or options.identity_workers < 1:
            raise NhiauditError("--max-workers and --identity-workers must be at least 1")
        self.options = options
        self.progress = progress or CollectionProgress()
        self.control = ApiCallLog()
        """Calls made for the scan as a whole (caller identity, organization listing)."""
        self.cancel = threading.Event()
        pool = max(10, options.identity_workers + 2)
        self.client_settings = ClientSettings(max_attempts=options.max_attempts, pool_size=pool)
        self.outcomes: list[AccountOutcome] = []

    # --- the scan ---------------------------------------------------------------------------

    def collect(self) -> Inventory:
        opts = self.options
        session = base_session(opts.profile, opts.region)
        if opts.role_arn:
            try:
                session = assumed_session(
                    session,
                    opts.role_arn,
                    log=self.control,
                    settings=self.client_settings,
                    external_id=opts.external_id,
                    session_name=opts.session_name,
                )
            except ApiFailure as failure:
                raise CollectionError(f"--role-arn {opts.role_arn}: cannot assume the role: {failure.detail}") from None
        caller = caller_identity(session, self.control, self.client_settings)
        plan = plan_scan(
            session,
            caller,
            self.control,
            self.client_settings,
            organization=opts.organization,
            accounts=opts.accounts,
            exclude=opts.exclude_accounts,
            role_name=opts.org_role_name,
        )
        org_analyzer = self._organization_analyzer(session) if opts.organization and opts.usage else None
        self.progress.accounts_planned(len(plan.targets))
        self.outcomes = self._collect_accounts(session, caller, plan, org_analyzer)
        return self._merge(caller, plan)

    def _collect_accounts(
        self, session: object, caller: Caller, plan: ScanPlan, org_analyzer: AnalyzerRef | None
    ) -> list[AccountOutcome]:
        outcomes: list[AccountOutcome] = []
        pool = ThreadPoolExecutor(max_workers=self.options.max_workers, thread_name_prefix="account")
        try:
            pending: set[Future[AccountOutcome]] = {
                pool.submit(self._collect_account, session, target, plan, org_analyzer) for target in plan.targets
            }
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                outcomes.extend(f.result() for f in done)
        except BaseException:
            self.cancel.set()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        order = {t.account_id: n for n, t in enumerate(plan.targets)}
        return sorted(outcomes, key=lambda o: order[o.target.account_id])

    def _collect_account(
        self, session: object, target: AccountTarget, plan: ScanPlan, org_analyzer: AnalyzerRef | None
    ) -> AccountOutcome:
        log = ApiCallLog()
        self.progress.account_started(target.account_id, target.label)
        inputs = [f"account {target.label}"]
        try:
            account_session = session
            if target.role_arn:
                inputs.append(f"assumed {target.role_arn}")
                account_session = assumed_session(
                    session,  # type: ignore[arg-type]
                    target.role_arn,
                    log=log,
                    settings=self.client_settings,
                    external_id=self.options.external_id,
                    session_name=self.options.session_name,
                )
            collector = AccountCollector(
                account_session,  # type: ignore[arg-type]
                target.account_id,
                options=AccountOptions(
                    usage=self.options.usage,
                    identity_workers=self.options.identity_workers,
                    analyzer_region=self.options.region,
                    poll=self.options.poll,
                    client=self.client_settings,
                ),
                log=log,
                progress=self.progress,
                org_accounts=plan.org_accounts,
                org_analyzer=org_analyzer,
                cancel=self.cancel,
                inputs=inputs,
            )
            inventory = collector.collect()
        except Cancelled:
            raise
        except ApiFailure as failure:  # the role could not be assumed
            hint = (
                f" (deploy the role {self.options.org_role_name} in this account, see docs/aws.md, or pass "
                "--org-role-name)"
                if failure.status == "denied" and target.role_arn
                else ""
            )
            return self._failed(target, log, failure, f"cannot assume {target.role_arn}: {failure.detail}{hint}")
        except AccountFailure as exc:
            return self._failed(target, log, exc.failure, f"nothing collected: {exc.failure}")
        except ReadOnlyViolation:
            raise
        except Exception as exc:  # one broken account must not hide the others; the gap names the error
            failure = ApiFailure("error", "collection", f"unexpected {type(exc).__name__}: {exc}")
            return self._failed(target, log, failure, f"nothing collected: {failure.detail}")
        identities = len(inventory.identities)
        gaps = len(inventory.coverage)
        self.progress.account_finished(
            target.account_id,
            f"{target.label}: {identities} identities, {log.total} API calls"
            + (f", {gaps} coverage gap{'s' if gaps != 1 else ''}" if gaps else ""),
            ok=True,
        )
        return AccountOutcome(target, inventory, log)

    def _failed(self, target: AccountTarget, log: ApiCallLog, failure: ApiFailure, detail: str) -> AccountOutcome:
        gap = CoverageGap(
            provider="aws",
            scope=target.account_id,
            source="account",
            status=failure.status,  # type: ignore[arg-type]
            detail=detail,
            affects=["*"],
        )
        self.progress.account_finished(target.account_id, f"{target.label}: {detail}", ok=False)
        return AccountOutcome(target, None, log, gap)

    def _organization_analyzer(self, session: object) -> AnalyzerRef | None:
        """An organization-wide unused-access analyzer in the scan's own account, if any."""
        client = make_client(
            session,  # type: ignore[arg-type]
            "accessanalyzer",
            self.control,
            self.client_settings,
            region=self.options.region,
            max_attempts=3,
        )
        try:
            return find_unused_access_analyzer(client, "ORGANIZATION_UNUSED_ACCESS")
        except ApiFailure:
            return None  # member accounts may still have their own analyzer; each reports its gap

    # --- the result ------------------------------------------------------------------------

    def _merge(self, caller: Caller, plan: ScanPlan) -> Inventory:
        collected = [o for o in self.outcomes if o.inventory is not None]
        failed = [o for o in self.outcomes if o.gap is not None]
        if not collected:
            first = failed[0].gap if failed else None
            reasons = "; ".join(f"{o.target.label}: {o.gap.detail}" for o in failed[:3] if o.gap)
            more = f" (and {len(failed) - 3} more accounts)" if len(failed) > 3 else ""
            raise CollectionError(
                f"nothing could be collected from AWS: {reasons or (first.detail if first else 'no account')}{more}"
            )
        inventory = collected[0].inventory
        assert inventory is not None
        for outcome in collected[1:]:
            assert outcome.inventory is not None
            inventory = inventory.merge(outcome.inventory)
        inventory.coverage.extend(o.gap for o in failed if o.gap)
        inventory.warnings.extend(plan.skipped)
        if plan.names:  # organization mode: every account of the organization, by name (trust analysis)
            inventory.scopes.extend(
                Scope(provider="aws", id=acct, kind="aws.account", name=name or None, in_organization=True)
                for acct, name in sorted(plan.names.items())
            )
        retries = sum(o.log.retries for o in self.outcomes) + self.control.retries
        if retries:
            inventory.warnings.append(f"{retries} AWS requests were throttled or failed transiently and were retried")
        for outcome in failed:  # the calls spent on accounts that failed are counted too
            if outcome.log.total:
                inventory.sources.append(
                    Source(
                        provider="aws",
                        scope=outcome.target.account_id,
                        method="live",
                        inputs=[f"account {outcome.target.label} (failed: see coverage)"],
                        collected_at=utcnow(),
                        api_calls=dict(sorted(outcome.log.calls.items())),
                    )
                )
        # calls made for the scan as a whole are attributed to the caller's account
        own = next((s for s in inventory.sources if s.scope == caller.account), None)
        if own is not None:
            merged = ApiCallLog()
            merged.calls.update(own.api_calls)
            merged.merge(self.control)
            own.api_calls = dict(sorted(merged.calls.items()))
        elif self.control.total:
            inventory.sources.append(
                Source(
                    provider="aws",
                    scope=caller.account,
                    method="live",
                    inputs=[f"scan credentials {caller.arn} (organization listing, role assumption)"],
                    collected_at=utcnow(),
                    api_calls=dict(sorted(self.control.calls.items())),
                )
            )
        return inventory
