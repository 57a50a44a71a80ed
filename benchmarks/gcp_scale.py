"""How the GCP path scales: normalization, role evaluation and the rules on a synthetic organization.

    python benchmarks/gcp_scale.py [--projects 100] [--accounts 50]

Builds the raw data a collector would gather (PROJECTS x ACCOUNTS service accounts, each with
keys, several project-level role bindings, a service-account-level binding, activity records and a
policy insight), then times the shared normalization, the policy engine and the full analysis, and
reports the process's peak resident memory. No network, no files.
"""

from __future__ import annotations

import argparse
import resource
import time
from datetime import UTC, datetime

from nhiaudit.analyzer import analyze
from nhiaudit.collectors.gcp_normalize import ContainerData, GcpRawData, ProjectData, normalize
from nhiaudit.policy.engine import evaluate_inventory
from nhiaudit.settings import Settings

ROLES = [
    "roles/viewer",
    "roles/storage.objectViewer",
    "roles/pubsub.subscriber",
    "roles/cloudsql.client",
    "roles/bigquery.dataEditor",
    "roles/storage.admin",
    "roles/run.developer",
    "roles/editor",
]
OBS = {"startTime": "2025-03-01T07:00:00Z", "endTime": "2026-10-30T07:00:00Z"}


def synthetic(projects: int, accounts: int) -> GcpRawData:
    raw = GcpRawData(method="offline", snapshot=datetime(2026, 11, 1, tzinfo=UTC))
    raw.containers["organizations/1"] = ContainerData(
        name="organizations/1",
        display_name="example.com",
        iam_policy={"bindings": [{"role": "roles/iam.securityReviewer", "members": ["group:sec@example.com"]}]},
    )
    for p in range(projects):
        pid = f"proj-{p:04d}"
        data = ProjectData(project_id=pid, number=str(400000000000 + p), ancestors=["organizations/1"], where=pid)
        emails = [f"sa-{a:03d}@{pid}.iam.gserviceaccount.com" for a in range(accounts)]
        data.service_accounts = [
            {"email": e, "name": f"projects/{pid}/serviceAccounts/{e}", "uniqueId": str(10**20 + p * 1000 + a)}
            for a, e in enumerate(emails)
        ]
        bindings: dict[str, list[str]] = {}
        for a, e in enumerate(emails):
            for role in (ROLES[a % len(ROLES)], ROLES[(a * 3 + 1) % len(ROLES)]):
                bindings.setdefault(role, []).append(f"serviceAccount:{e}")
        bindings["roles/iam.serviceAccountTokenCreator"] = ["user:ops@example.com"]
        data.iam_policy = {"bindings": [{"role": r, "members": m} for r, m in bindings.items()]}
        data.custom_roles = []
        for a, e in enumerate(emails):
            data.keys[e] = [
                {
                    "name": f"projects/{pid}/serviceAccounts/{e}/keys/{p:04d}{a:03d}{k}",
                    "keyType": "USER_MANAGED" if k == 0 else "SYSTEM_MANAGED",
                    "validAfterTime": "2026-01-01T00:00:00Z",
                    "validBeforeTime": "9999-12-31T23:59:59Z",
                }
                for k in range(2)
            ]
            peer = emails[(a + 1) % len(emails)]
            data.sa_policies[e] = {
                "bindings": [{"role": "roles/iam.serviceAccountUser", "members": [f"serviceAccount:{peer}"]}]
            }
        data.sa_activity = [
            {
                "fullResourceName": f"//iam.googleapis.com/projects/{pid}/serviceAccounts/{e}",
                "observationPeriod": OBS,
                "activity": {"lastAuthenticatedTime": "2026-10-01T07:00:00Z"} if a % 4 else {},
            }
            for a, e in enumerate(emails)
        ]
        data.key_activity = []
        data.policy_insights = [
            {
                "content": {
                    "member": f"serviceAccount:{e}",
                    "role": ROLES[a % len(ROLES)],
                    "exercisedPermissions": [{"permission": "storage.objects.get"}],
                },
                "lastRefreshTime": "2026-10-30T07:00:00Z",
                "observationPeriod": "7776000s",
                "stateInfo": {"state": "ACTIVE"},
            }
            for a, e in enumerate(emails[:10])
        ]
        raw.projects[pid] = data
    return raw


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=100)
    parser.add_argument("--accounts", type=int, default=50)
    args = parser.parse_args()

    raw = synthetic(args.projects, args.accounts)
    t0 = time.perf_counter()
    inventory = normalize(raw)
    t1 = time.perf_counter()
    access, _ = evaluate_inventory(inventory)
    t2 = time.perf_counter()
    doc = analyze(inventory, Settings())
    t3 = time.perf_counter()
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    sas = sum(1 for i in inventory.identities if i.attributes.get("listed"))
    print(f"projects: {args.projects}, service accounts: {sas}, keys: {len(inventory.credentials)}")
    print(f"grants: {len(inventory.grants)}, trusts: {len(inventory.trusts)}, usage records: {len(inventory.usage)}")
    print(f"normalize:          {t1 - t0:7.2f} s")
    print(f"policy evaluation:  {t2 - t1:7.2f} s  ({len(access)} identities)")
    print(f"analysis (all):     {t3 - t2:7.2f} s  ({doc.summary.total} findings)")
    print(f"per service account: {(t3 - t0) / max(sas, 1) * 1000:6.2f} ms end to end")
    print(f"peak resident memory: {peak_kib / 1024:.0f} MiB (whole process)")


if __name__ == "__main__":
    main()
