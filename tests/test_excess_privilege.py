"""excess-privilege: the verdicts, the index, grace periods, unobservable permissions, confidence."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from nhiaudit.analyzer import analyze
from nhiaudit.model import Grant, Identity, Inventory, Policy, Usage
from nhiaudit.policy.effective import EffectiveAccess, PermissionGrant
from nhiaudit.rules import AnalysisContext, get_rule
from nhiaudit.settings import Settings

AS_OF = datetime(2026, 11, 1, tzinfo=UTC)
ARN = "arn:aws:iam::111122223333:role/app"


def ago(days: float) -> datetime:
    return AS_OF - timedelta(days=days)


def inventory(actions: list[str], usage: list[Usage], *, created_days: float = 500, **identity: object) -> Inventory:
    doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}
    return Inventory(
        snapshot_time=AS_OF,
        identities=[
            Identity(
                id=ARN,
                provider="aws",
                scope="111122223333",
                kind="aws.role",
                name="app",
                created=ago(created_days),
                **identity,  # type: ignore[arg-type]
            )
        ],
        policies={"p": Policy(id="p", provider="aws", kind="aws.inline", name="p", document=doc)},
        grants=[Grant(identity_id=ARN, policy_id="p", policy_name="p", kind="inline")],
        usage=usage,
    )


def advisor(kind: str, target: str | None, last: datetime | None, *, window: int = 400, **extra: object) -> Usage:
    return Usage(
        identity_id=ARN,
        target_kind=kind,  # type: ignore[arg-type]
        target=target,
        last_used=last,
        source="aws.access_advisor",
        window_start=ago(window),
        window_end=AS_OF,
        **extra,  # type: ignore[arg-type]
    )


def findings(inv: Inventory, settings: Settings | None = None):
    return [f for f in analyze(inv, settings, as_of=AS_OF).findings if f.rule_id == "excess-privilege"]


BUSY = [advisor("identity", None, ago(1))]


def test_index_counts_unused_services_and_unused_actions_of_used_services() -> None:
    inv = inventory(
        ["s3:GetObject", "s3:PutObject", "sqs:SendMessage", "sns:Publish"],
        [
            *BUSY,
            advisor("service", "s3", ago(1)),
            advisor("action", "s3:GetObject", ago(1)),
            advisor("action", "s3:PutObject", ago(200)),  # used, but not within 90 days
            advisor("service", "sqs", ago(10)),
            advisor("service", "sns", None),
        ],
    )
    (finding,) = findings(inv)
    ev = finding.evidence
    assert ev["granted_permissions"] == 4 and ev["unused_permissions"] == 2
    assert ev["excess_privilege_index"] == 50
    assert ev["unused_services"] == [
        {"service": "sns", "last_used": None, "granted_permissions": 1, "unused_permissions": 1}
    ]
    assert ev["unused_actions_in_used_services"] == ["s3:PutObject"]
    assert finding.severity.value == "medium" and finding.confidence.value == "high"
    assert "Excess-privilege index 50/100" in finding.description


def test_unobservable_permissions_are_never_called_unused() -> None:
    inv = inventory(
        ["iam:PassRole", "lambda:InvokeFunction"],
        [
            *BUSY,
            advisor("service", "lambda", ago(1)),
            advisor("service", "iam", None, unobservable=["iam:PassRole"]),
        ],
    )
    assert findings(inv) == []  # the only unused-looking permission is invisible to the evidence
    inv = inventory(
        ["iam:PassRole", "iam:GetRole", "lambda:InvokeFunction"],
        [
            *BUSY,
            advisor("service", "lambda", ago(1)),
            advisor("service", "iam", None, unobservable=["iam:PassRole"]),
        ],
    )
    (finding,) = findings(inv)
    assert finding.evidence["not_judged"] == ["iam:PassRole"]
    assert finding.evidence["unused_permissions"] == 1 and finding.evidence["evidence_coverage_pct"] == 67
    assert finding.confidence.value == "medium"


def test_young_identities_are_in_their_grace_period() -> None:
    usage = [*BUSY, advisor("service", "s3", None), advisor("service", "sqs", ago(1))]
    assert findings(inventory(["s3:GetObject", "sqs:SendMessage"], usage, created_days=30)) == []
    assert len(findings(inventory(["s3:GetObject", "sqs:SendMessage"], usage, created_days=120))) == 1


def test_no_evidence_or_short_windows_are_unknown_not_unused() -> None:
    assert findings(inventory(["s3:GetObject"], BUSY)) == []  # no service evidence at all
    short = [*BUSY, advisor("service", "s3", None, window=30), advisor("service", "sqs", ago(1))]
    assert findings(inventory(["s3:GetObject", "sqs:SendMessage"], short)) == []
    # evidence for one service of three: the index is a lower bound, confidence low
    partial = [*BUSY, advisor("service", "sns", None)]
    (finding,) = findings(inventory(["s3:GetObject", "sqs:SendMessage", "sns:Publish"], partial))
    assert finding.evidence["excess_privilege_index"] == 33
    assert finding.evidence["services_without_evidence"] == ["s3", "sqs"]
    assert finding.confidence.value == "low"


def test_min_index_setting_and_admin_severity() -> None:
    usage = [*BUSY, advisor("service", "s3", ago(1)), advisor("service", "sns", None)]
    actions = ["s3:GetObject", "s3:PutObject", "s3:ListBucket", "sns:Publish"]
    (low,) = findings(inventory(actions, usage))  # index 25 = the default minimum
    assert low.evidence["excess_privilege_index"] == 25 and low.severity.value == "low"
    assert findings(inventory(actions, usage), Settings(excess_privilege_min_index=30)) == []

    from nhiaudit.catalogs.aws_actions import load_catalog

    catalog = load_catalog()
    some = [*BUSY, advisor("service", "s3", ago(1)), advisor("service", "ec2", None)]
    assert findings(inventory(["*"], some)) == []  # ec2 alone is a small share of everything
    (small,) = findings(inventory(["*"], some), Settings(excess_privilege_min_index=1))
    assert small.severity.value == "low" and small.confidence.value == "low"
    everything = [*BUSY, advisor("service", "s3", ago(1))]
    everything += [advisor("service", svc, None) for svc in catalog.services if svc != "s3"]
    (admin,) = findings(inventory(["*"], everything))
    assert admin.severity.value == "high" and admin.confidence.value == "high"
    assert admin.evidence["admin_equivalent"] is True and admin.evidence["excess_privilege_index"] >= 99
    assert "it used only 1 of its" in admin.description and "(s3)" in admin.description


def test_wholly_unused_identities_are_left_to_identity_unused() -> None:
    idle = [advisor("identity", None, None), advisor("service", "s3", None)]
    inv = inventory(["s3:GetObject"], idle)
    assert findings(inv) == []
    assert any(f.rule_id == "identity-unused" for f in analyze(inv, as_of=AS_OF).findings)
    assert len(findings(inv, Settings(disabled_rules=["identity-unused"]))) == 1
    only = analyze(inv, as_of=AS_OF, only_rules=["excess-privilege"]).findings
    assert [f.rule_id for f in only] == ["excess-privilege"]  # --rule excess-privilege alone still reports it


def test_disabled_identities_are_not_judged() -> None:
    usage = [*BUSY, advisor("service", "s3", None), advisor("service", "sqs", ago(1))]
    assert findings(inventory(["s3:GetObject", "sqs:SendMessage"], usage, disabled=True)) == []


# --- provider neutrality: any EffectiveAccess and any Usage source ---------------------------------


@dataclass
class SetAccess(EffectiveAccess):
    """A minimal engine result with GCP-style permission names (service = first dotted part)."""

    granted: list[str] = field(default_factory=list)

    def allows(self, permission: str) -> PermissionGrant | None:
        return PermissionGrant(permission, ("roles/custom",)) if permission in self.granted else None

    def allows_all(self, permissions: Iterable[str]) -> bool:
        return all(p in self.granted for p in permissions)

    def permission_count(self) -> int:
        return len(self.granted)

    def catalog_size(self) -> int | None:
        return None

    def services(self) -> list[str]:
        return sorted({self.service_of(p) for p in self.granted})

    def permissions(self) -> Iterator[str]:
        return iter(self.granted)

    def level_counts(self) -> dict[str, int]:
        return {}


def test_the_rule_is_provider_neutral() -> None:
    sa = "ci@proj.iam.gserviceaccount.com"
    identity = Identity(id=sa, provider="gcp", scope="proj", kind="gcp.service_account", name="ci", created=ago(365))
    usage = [
        Usage(
            identity_id=sa,
            target_kind="service",
            target="storage",
            last_used=ago(2),
            source="gcp.activity",
            window_start=ago(180),
            window_end=AS_OF,
        ),
        Usage(
            identity_id=sa,
            target_kind="service",
            target="compute",
            last_used=None,
            source="gcp.activity",
            window_start=ago(180),
            window_end=AS_OF,
        ),
    ]
    inv = Inventory(snapshot_time=AS_OF, identities=[identity], usage=usage)
    access = SetAccess(
        provider="gcp",
        identity_id=sa,
        granted=["storage.objects.get", "compute.instances.create", "compute.instances.delete"],
    )
    ctx = AnalysisContext(inventory=inv, settings=Settings(), as_of=AS_OF, access={sa: access})
    rule = get_rule("excess-privilege")
    assert rule is not None
    (finding,) = list(rule.check(ctx))
    assert finding.evidence["excess_privilege_index"] == 67
    assert finding.evidence["unused_services"][0]["service"] == "compute"
    assert finding.evidence["sources"] == ["gcp.activity"]


def test_service_of_reads_each_providers_permission_syntax() -> None:
    access = SetAccess(provider="x", identity_id="x")
    assert access.service_of("s3:GetObject") == "s3"
    assert access.service_of("Microsoft.Storage/storageAccounts/read") == "microsoft.storage"
    assert access.service_of("storage.objects.get") == "storage"
