"""The normalized model: JSON round trips, validation, fast construction."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from nhiaudit.demo import load_demo
from nhiaudit.errors import InputError
from nhiaudit.model import (
    SCHEMA_VERSION,
    CoverageGap,
    Credential,
    CredentialKind,
    Finding,
    Grant,
    Identity,
    Inventory,
    Policy,
    References,
    Severity,
    Source,
    Trust,
    Usage,
    dump_json,
    fingerprint,
    load_inventory,
)


def full_inventory() -> Inventory:
    t = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    return Inventory(
        snapshot_time=t,
        sources=[
            Source(
                provider="gcp",
                scope="proj-1",
                method="live",
                inputs=["x"],
                collected_at=t,
                api_calls={"ListServiceAccounts": 2},
            )
        ],
        identities=[
            Identity(
                id="sa@proj-1.iam.gserviceaccount.com",
                provider="gcp",
                scope="proj-1",
                kind="gcp.service_account",
                name="sa",
                created=t,
                disabled=True,
                owners=["a@b.c"],
                tags={"env": "prod"},
                attributes={"unique_id": "1234"},
            )
        ],
        credentials=[
            Credential(
                id="k1",
                identity_id="sa@proj-1.iam.gserviceaccount.com",
                kind=CredentialKind.SERVICE_ACCOUNT_KEY,
                created=t,
                expires=t + timedelta(days=1),
                usage_known=True,
                managed_by="provider",
            )
        ],
        policies={
            "roles/viewer": Policy(
                id="roles/viewer", provider="gcp", kind="gcp.role", name="Viewer", permissions=["a.b.get"]
            )
        },
        grants=[
            Grant(
                identity_id="sa@proj-1.iam.gserviceaccount.com",
                policy_id="roles/viewer",
                policy_name="Viewer",
                kind="role_binding",
                scope="projects/proj-1",
                condition={"expression": "request.time < timestamp('2027-01-01T00:00:00Z')"},
            )
        ],
        usage=[
            Usage(
                identity_id="sa@proj-1.iam.gserviceaccount.com",
                target_kind="permission",
                target="a.b.get",
                last_used=t,
                source="gcp.activity",
                window_start=t - timedelta(days=90),
                window_end=t,
            )
        ],
        trusts=[
            Trust(
                identity_id="sa@proj-1.iam.gserviceaccount.com",
                principal_kind="gcp_member",
                principal="user:x@example.com",
                actions=["roles/iam.serviceAccountTokenCreator"],
            )
        ],
        coverage=[
            CoverageGap(
                provider="gcp",
                scope="proj-1",
                source="recommender",
                status="denied",
                detail="403",
                affects=["identity-unused"],
            )
        ],
        warnings=["w"],
    )


def test_inventory_round_trip_is_lossless(tmp_path):
    inv = full_inventory()
    path = tmp_path / "inv.json"
    path.write_text(dump_json(inv))
    again = load_inventory(path)
    assert again == inv
    assert dump_json(again) == path.read_text()


def test_demo_inventory_round_trip(tmp_path):
    inv = load_demo()
    path = tmp_path / "inv.json"
    path.write_text(dump_json(inv))
    assert dump_json(load_inventory(path)) == path.read_text()


def test_datetimes_are_normalized_to_utc():
    ident = Identity(
        id="i",
        provider="aws",
        scope="1",
        kind="aws.role",
        name="i",
        created=datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=2))),
    )
    assert ident.created == datetime(2026, 1, 1, 10, tzinfo=UTC) and ident.created.tzinfo == UTC
    naive = Identity(id="i", provider="aws", scope="1", kind="aws.role", name="i", created=datetime(2026, 1, 1))
    assert naive.created.tzinfo == UTC


def test_fast_construction_equals_validated_construction():
    kwargs = {"id": "i", "provider": "aws", "scope": "1", "kind": "aws.role", "name": "n"}
    assert Identity.fast(**kwargs) == Identity(**kwargs)
    a, b = Identity.fast(**kwargs), Identity.fast(**kwargs)
    a.tags["x"] = "y"
    assert b.tags == {}  # mutable defaults are not shared
    with pytest.raises(TypeError, match="unknown field 'nmae'"):
        Identity.fast(**{**kwargs, "nmae": "typo"})
    with pytest.raises(TypeError, match="missing field 'name'"):
        Identity.fast(id="i", provider="aws", scope="1", kind="aws.role")
    policy = Policy.fast(id="p", provider="aws", kind="aws.inline", name="p", document={})
    policy._parsed = ["cached"]
    assert policy._parsed == ["cached"] and "_parsed" not in policy.model_dump()


def test_fingerprint_ignores_nothing_but_is_stable():
    assert fingerprint("r", "aws", "1", "id", None) == fingerprint("r", "aws", "1", "id", None)
    assert fingerprint("r", "aws", "1", "id", None) != fingerprint("r", "aws", "1", "id", "cred")
    assert len(fingerprint("x")) == 32


def test_extra_fields_are_rejected(tmp_path):
    path = tmp_path / "inv.json"
    path.write_text(json.dumps({"kind": "nhiaudit.inventory", "schema_version": SCHEMA_VERSION, "identites": []}))
    with pytest.raises(InputError, match="invalid field identites"):
        load_inventory(path)


def test_severity_ordering():
    assert Severity.CRITICAL.rank > Severity.HIGH.rank > Severity.MEDIUM.rank > Severity.LOW.rank > Severity.INFO.rank
    assert Severity.HIGH.lowered() == Severity.MEDIUM and Severity.INFO.lowered() == Severity.INFO
    finding = Finding.fast(
        fingerprint="f",
        rule_id="r",
        title="t",
        severity=Severity.HIGH,
        confidence="high",
        provider="aws",
        scope="1",
        identity_id="i",
        identity_name="i",
        identity_kind="aws.role",
        description="d",
        remediation="r",
        references=References(),
        first_seen=datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert finding.suppression is None and finding.evidence == {}
