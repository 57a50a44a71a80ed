"""Scans for the CI / reporting tests: the demo, and a second scan of it with planted changes.

Both are real analyses of real inventories (the demo's AWS exports through the importer), not
hand-written findings: the second one edits the demo inventory the way a month of change would.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache

from nhiaudit.analyzer import analyze
from nhiaudit.demo import load_demo
from nhiaudit.model import Credential, CredentialKind, FindingsDocument, Inventory
from nhiaudit.settings import Settings

ACCOUNT = "111122223333"
ADMIN_ROLE = f"arn:aws:iam::{ACCOUNT}:role/ci-deploy-admin"
METRICS_USER = f"arn:aws:iam::{ACCOUNT}:user/svc-metrics"
PLANTED_KEY = f"{METRICS_USER}#access_key_2"
DECOMMISSIONED_KEY = f"arn:aws:iam::{ACCOUNT}:user/svc-decommissioned#access_key_1"
FIRST_SCAN = datetime(2026, 11, 1, tzinfo=UTC)
SECOND_SCAN = datetime(2026, 11, 10, tzinfo=UTC)


@cache
def demo_inventory_json() -> str:
    return load_demo().model_dump_json()


def demo_inventory() -> Inventory:
    return Inventory.model_validate_json(demo_inventory_json())


@cache
def _demo_findings_json() -> str:
    return analyze(demo_inventory(), Settings()).model_dump_json()


def demo_findings() -> FindingsDocument:
    """The demo scan (as of its snapshot, 2026-11-01); a fresh copy each call."""
    return FindingsDocument.model_validate_json(_demo_findings_json())


def changed_inventory() -> Inventory:
    """The demo nine days later: the admin grant of ci-deploy-admin removed (fixed), an old access
    key added to svc-metrics (new findings); svc-decommissioned's key passes 365 days (severity up)."""
    inventory = demo_inventory()
    inventory.grants = [g for g in inventory.grants if g.identity_id != ADMIN_ROLE]
    inventory.credentials.append(
        Credential(
            id=PLANTED_KEY,
            identity_id=METRICS_USER,
            kind=CredentialKind.ACCESS_KEY,
            name="access key 2",
            status="active",
            created=datetime(2025, 1, 6, 9, 0, tzinfo=UTC),
            last_used=datetime(2026, 11, 9, 7, 0, tzinfo=UTC),
            usage_known=True,
            usage_source="aws.credential_report",
        )
    )
    inventory.snapshot_time = SECOND_SCAN
    return inventory


def second_scan(only_rules: list[str] | None = None) -> FindingsDocument:
    return analyze(changed_inventory(), Settings(), as_of=SECOND_SCAN, only_rules=only_rules)


def multicloud_inventory() -> Inventory:
    """The demo plus a GCP project and an Azure tenant, each with an unrotated secret."""
    from nhiaudit.model import Identity, Source

    inventory = demo_inventory()
    sa = "deployer@shop-prod.iam.gserviceaccount.com"
    sp = "5b0c1e0e-8c1f-4e0e-9a57-3f0d2b1c9a11"
    tenant = "72f988bf-0000-4000-8000-2d7cd011db47"
    inventory.identities += [
        Identity(id=sa, provider="gcp", scope="shop-prod", kind="gcp.service_account", name=sa),
        Identity(id=sp, provider="azure", scope=tenant, kind="azure.service_principal", name="billing export (prod)"),
    ]
    inventory.credentials += [
        Credential(
            id=f"projects/shop-prod/serviceAccounts/{sa}/keys/0f1e2d3c4b5a69788796a5b4c3d2e1f0",
            identity_id=sa,
            kind=CredentialKind.SERVICE_ACCOUNT_KEY,
            created=datetime(2025, 3, 1, tzinfo=UTC),
            last_used=datetime(2026, 10, 30, tzinfo=UTC),
            usage_known=True,
        ),
        Credential(
            id=f"{sp}#secret-4d1c",
            identity_id=sp,
            kind=CredentialKind.CLIENT_SECRET,
            name="client secret 4d1c",
            created=datetime(2024, 5, 1, tzinfo=UTC),
            expires=datetime(2099, 1, 1, tzinfo=UTC),
        ),
    ]
    inventory.sources += [
        Source(provider="gcp", scope="shop-prod", method="offline"),
        Source(provider="azure", scope=tenant, method="offline"),
    ]
    return inventory


def multicloud_findings() -> FindingsDocument:
    return analyze(multicloud_inventory(), Settings())
