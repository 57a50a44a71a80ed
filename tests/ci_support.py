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
