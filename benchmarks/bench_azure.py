"""Benchmark: Azure collection and analysis at tenant scale.

Offline: generates export folders (az / Graph JSON) with 1,000, 5,000 and 20,000 service
principals (60% of them the tenant's own app registrations with secrets, certificates and
owners, the rest third-party apps and managed identities), 20 subscriptions of role
assignments (built-in and custom roles, subscription / resource-group / management-group
scopes), Graph app role assignments and both sign-in reports. For each size it runs, in a fresh
process, ``nhiaudit scan azure --from-dir D --format json -o out.json`` and prints wall time,
CPU time and peak memory, next to the bare ``json.load`` of the same files.

Live: serves a generated tenant from a local fake of Graph and ARM (tests/azure_fake.py) and
collects it with the real msgraph-sdk and azure-mgmt-authorization clients at several
``--max-workers`` settings, printing wall time and requests per second. The fake runs in its own
process and answers after ``--latency`` seconds (default 50 ms, a typical Graph round trip), so
the figures show what bounded concurrency buys; they are not Azure's own speed.

Run:  python benchmarks/bench_azure.py [--sizes 1000,5000,20000] [--live 2000] [--workers 1,8,32] [--latency 0.05]
Targets: 5,000 service principals offline end to end under 10 s and 20,000 under 2 GB.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TENANT = "3a7c9e1b-5d2f-4a6b-8c0d-e2f4a6b8c0d1"
GRAPH_APP = "00000003-0000-0000-c000-000000000000"
MS = "f8cdef31-a31e-4b4a-93e4-5f571e91255a"
BUILT_IN = [
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",  # Owner
    "b24988ac-6180-42a0-ab88-20f7382dd24c",  # Contributor
    "acdd72a7-3385-48ef-bd42-f606fba81ae7",  # Reader
    "4633458b-17de-408a-b874-0445c86b69e6",  # Key Vault Secrets User
    "ba92f5b4-2d11-453d-a403-e96b0029c9fe",  # Storage Blob Data Contributor
    "9980e02c-c2be-4d73-94e8-173b1dc7cf3c",  # Virtual Machine Contributor
]
GRAPH_ROLES = [
    "df021288-bdef-4463-88db-98f22de89214",  # User.Read.All
    "7ab1d382-f21e-4acd-a863-ba3e13f7da61",  # Directory.Read.All
    "810c84a8-4a9e-49e6-bf7d-12d183f40d01",  # Mail.Read
    "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9",  # Application.ReadWrite.All
]


def gid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def when(rng: random.Random, lo: int, hi: int) -> str:
    day = rng.randint(lo, hi)
    return f"20{24 + day // 365:02d}-{1 + (day % 365) // 31:02d}-{1 + day % 28:02d}T08:00:00Z"


def tenant(n: int, seed: int = 7) -> dict[str, Any]:
    """Graph / ARM objects of a tenant with ``n`` service principals."""
    rng = random.Random(seed)
    subs = [gid(rng) for _ in range(20)]
    graph_sp = {
        "id": gid(rng),
        "appId": GRAPH_APP,
        "displayName": "Microsoft Graph",
        "servicePrincipalType": "Application",
        "appOwnerOrganizationId": MS,
        "accountEnabled": True,
        "appRoles": [{"id": r, "allowedMemberTypes": ["Application"], "value": None} for r in GRAPH_ROLES],
    }
    users = [
        {
            "@odata.type": "#microsoft.graph.user",
            "id": gid(rng),
            "userPrincipalName": f"user{i}@contoso.example",
            "userType": "Member",
            "accountEnabled": rng.random() > 0.1,
        }
        for i in range(200)
    ]
    custom = [
        {
            "id": f"/subscriptions/{subs[0]}/providers/Microsoft.Authorization/roleDefinitions/{(rid := gid(rng))}",
            "name": rid,
            "roleName": f"custom-{i}",
            "roleType": "CustomRole",
            "assignableScopes": [f"/subscriptions/{subs[0]}"],
            "permissions": [
                {
                    "actions": rng.sample(
                        [
                            "Microsoft.Compute/*",
                            "*/read",
                            "Microsoft.Storage/*",
                            "Microsoft.Web/sites/*",
                            "Microsoft.Authorization/roleAssignments/*",
                        ],
                        2,
                    ),
                    "notActions": [],
                    "dataActions": [],
                    "notDataActions": [],
                }
            ],
        }
        for i in range(30)
    ]
    apps, sps, assignments, app_roles, sp_signin, cred_signin = [], [], [], [], [], []
    for i in range(n):
        kind = rng.random()
        app_id = gid(rng)
        sp = {
            "id": gid(rng),
            "appId": app_id,
            "displayName": f"sp-{i}",
            "accountEnabled": rng.random() > 0.05,
            "servicePrincipalType": "Application",
            "owners": rng.sample(users, rng.choice([0, 1, 1, 2])),
        }
        if kind < 0.6:
            sp["appOwnerOrganizationId"] = TENANT
            secrets = [
                {
                    "keyId": gid(rng),
                    "displayName": f"s{k}",
                    "startDateTime": when(rng, 0, 900),
                    "endDateTime": when(rng, 700, 1500),
                }
                for k in range(rng.choice([0, 1, 1, 2]))
            ]
            certs = [
                {
                    "keyId": gid(rng),
                    "displayName": "CN=c",
                    "startDateTime": when(rng, 600, 900),
                    "endDateTime": when(rng, 900, 1300),
                    "type": "AsymmetricX509Cert",
                    "usage": "Verify",
                }
                for _ in range(rng.choice([0, 0, 1]))
            ]
            apps.append(
                {
                    "id": gid(rng),
                    "appId": app_id,
                    "displayName": f"sp-{i}",
                    "createdDateTime": when(rng, 0, 600),
                    "signInAudience": "AzureADMyOrg",
                    "passwordCredentials": secrets,
                    "keyCredentials": certs,
                    "owners": rng.sample(users, rng.choice([0, 1, 2])),
                }
            )
            for key in secrets + certs:
                if rng.random() < 0.7:
                    last = {"lastSignInDateTime": when(rng, 600, 1030)} if rng.random() < 0.8 else None
                    cred_signin.append(
                        {
                            "keyId": key["keyId"],
                            "appId": app_id,
                            "credentialOrigin": "application",
                            "signInActivity": last,
                        }
                    )
        elif kind < 0.85:
            sp["appOwnerOrganizationId"] = gid(rng)
            sp["verifiedPublisher"] = {"displayName": f"Vendor {i}"}
        else:
            sp["servicePrincipalType"] = "ManagedIdentity"
            sp["alternativeNames"] = [
                "isExplicit=True",
                f"/subscriptions/{subs[i % 20]}/resourcegroups/rg/providers/"
                f"Microsoft.ManagedIdentity/userAssignedIdentities/mi-{i}",
            ]
        sps.append(sp)
        for _ in range(rng.choice([0, 1, 1, 2, 3])):
            sub = rng.choice(subs)
            scope = rng.choice(
                [
                    f"/subscriptions/{sub}",
                    f"/subscriptions/{sub}/resourceGroups/rg-{rng.randint(1, 40)}",
                    "/providers/Microsoft.Management/managementGroups/root",
                ]
            )
            role = rng.choice(BUILT_IN) if rng.random() < 0.9 else rng.choice(custom)["name"]
            assignments.append(
                (
                    sub,
                    {
                        "id": f"{scope}/providers/Microsoft.Authorization/roleAssignments/{gid(rng)}",
                        "principalId": sp["id"],
                        "principalType": "ServicePrincipal",
                        "scope": scope,
                        "roleDefinitionId": f"/subscriptions/{sub}/providers/Microsoft.Authorization/"
                        f"roleDefinitions/{role}",
                    },
                )
            )
        for role in rng.sample(GRAPH_ROLES, rng.choice([0, 0, 1, 2])):
            app_roles.append(
                {
                    "id": gid(rng),
                    "principalId": sp["id"],
                    "resourceId": graph_sp["id"],
                    "appRoleId": role,
                    "principalType": "ServicePrincipal",
                    "resourceDisplayName": "Microsoft Graph",
                }
            )
        if rng.random() < 0.8:
            last = {"lastSignInDateTime": when(rng, 500, 1030)}
            sp_signin.append(
                {
                    "appId": app_id,
                    "lastSignInActivity": last,
                    "applicationAuthenticationClientSignInActivity": last if rng.random() < 0.9 else None,
                }
            )
    return {
        "subs": subs,
        "apps": apps,
        "sps": [graph_sp, *sps],
        "assignments": assignments,
        "custom": custom,
        "app_roles": app_roles,
        "sp_signin": sp_signin,
        "cred_signin": cred_signin,
    }


def write_export(t: dict[str, Any], out: Path) -> None:
    (out / "graph").mkdir(parents=True)
    page = "https://graph.microsoft.com/{}/$metadata#{}"
    (out / "account.json").write_text(json.dumps({"tenantId": TENANT, "id": t["subs"][0]}))
    (out / "graph" / "applications.json").write_text(
        json.dumps({"@odata.context": page.format("v1.0", "applications"), "value": t["apps"]})
    )
    (out / "graph" / "servicePrincipals.json").write_text(json.dumps({"value": t["sps"]}))
    for sub in t["subs"]:
        rows = [a for s, a in t["assignments"] if s == sub]
        (out / f"role-assignments-{sub}.json").write_text(json.dumps(rows))
    (out / "role-definitions.json").write_text(json.dumps(t["custom"]))
    (out / "graph" / "app-roles.json").write_text(json.dumps({"value": t["app_roles"]}))
    (out / "graph" / "sp-signin.json").write_text(json.dumps({"value": t["sp_signin"]}))
    (out / "graph" / "cred-signin.json").write_text(json.dumps({"value": t["cred_signin"]}))


def write_live(t: dict[str, Any], out: Path) -> None:
    def dump(rel: str, value: Any) -> None:
        path = out / f"{rel}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"value": value}))

    dump("graph/v1.0/organization", [{"id": TENANT}])
    dump("graph/v1.0/applications", t["apps"])
    dump("graph/v1.0/servicePrincipals", [dict(sp, owners=sp.get("owners", [])) for sp in t["sps"]])
    by_resource: dict[str, list[Any]] = {}
    for a in t["app_roles"]:
        by_resource.setdefault(a["resourceId"], []).append(a)
    for resource_id, rows in by_resource.items():
        dump(f"graph/v1.0/servicePrincipals/{resource_id}/appRoleAssignedTo", rows)
    dump("graph/v1.0/oauth2PermissionGrants", [])
    dump("graph/v1.0/roleManagement/directory/roleAssignments", [])
    dump("graph/v1.0/roleManagement/directory/roleDefinitions", [])
    dump("graph/beta/reports/servicePrincipalSignInActivities", t["sp_signin"])
    dump("graph/beta/reports/appCredentialSignInActivities", t["cred_signin"])
    dump("arm/subscriptions", [{"subscriptionId": s, "tenantId": TENANT, "state": "Enabled"} for s in t["subs"]])
    for sub in t["subs"]:
        rows = [
            {
                "id": a["id"],
                "name": a["id"].rsplit("/", 1)[-1],
                "type": "Microsoft.Authorization/roleAssignments",
                "properties": {k: a[k] for k in ("principalId", "principalType", "scope", "roleDefinitionId")},
            }
            for s, a in t["assignments"]
            if s == sub
        ]
        dump(f"arm/subscriptions/{sub}/providers/Microsoft.Authorization/roleAssignments", rows)
        dump(
            f"arm/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions",
            [
                {
                    "id": c["id"],
                    "name": c["name"],
                    "properties": {
                        "roleName": c["roleName"],
                        "type": "CustomRole",
                        "permissions": c["permissions"],
                        "assignableScopes": c["assignableScopes"],
                    },
                }
                for c in t["custom"]
            ],
        )


def run_measured(code: str) -> tuple[float, float, float, str]:
    """Wall s, CPU s and peak RSS MB of ``python -c code`` in a fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in (0, 1):
        raise SystemExit(proc.stderr)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, after.ru_maxrss / 1024, proc.stdout.strip()


def offline(sizes: list[int], keep: bool) -> None:
    print("offline: nhiaudit scan azure --from-dir D --format json -o out.json (fresh process each)")
    print(f"{'SPs':>7} {'files':>8} {'parse':>7} {'end to end':>11} {'CPU':>7} {'peak':>8} {'findings':>9}")
    for n in sizes:
        work = Path(tempfile.mkdtemp(prefix=f"nhiaudit-azure-{n}-"))
        export = work / "export"
        write_export(tenant(n), export)
        size = sum(p.stat().st_size for p in export.rglob("*.json")) / 1e6
        parse, _, _, _ = run_measured(
            f"import json, pathlib\nfor p in pathlib.Path({str(export)!r}).rglob('*.json'): json.loads(p.read_text())"
        )
        out = work / "out.json"
        code = (
            "import sys\nfrom nhiaudit.cli import main\n"
            f"sys.argv = ['nhiaudit', 'scan', 'azure', '--from-dir', {str(export)!r}, '-f', 'json', '-o', {str(out)!r},"
            " '--as-of', '2026-11-01']\nmain()"
        )
        wall, cpu, peak, _ = run_measured(code)
        findings = json.loads(out.read_text())["summary"]["total"]
        print(f"{n:>7,} {size:>6.1f}MB {parse:>6.2f}s {wall:>10.2f}s {cpu:>6.2f}s {peak:>6.0f}MB {findings:>9,}")
        if not keep:
            import shutil

            shutil.rmtree(work)


def _serve(root: str, latency: float, conn: Any) -> None:
    """The fake Graph / ARM in its own process (so that it does not share the client's GIL)."""
    import logging

    sys.path.insert(0, str(ROOT))
    from pytest_httpserver import HTTPServer

    from tests.azure_fake import FakeAzure

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    fake = FakeAzure(server, root=Path(root), page_size=100, latency=latency)
    conn.send(fake.url)
    while conn.recv() == "count":
        conn.send(len(fake.requests))
        fake.requests.clear()
    server.stop()


def live(n: int, workers: list[int], latency: float) -> None:
    import multiprocessing

    sys.path.insert(0, str(ROOT))
    from nhiaudit.collectors.azure_live import AzureLiveCollector
    from tests.azure_fake import FakeCredential

    root = Path(tempfile.mkdtemp(prefix="nhiaudit-azure-live-"))
    write_live(tenant(n, seed=11), root)
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(target=_serve, args=(str(root), latency, child), daemon=True)
    server.start()
    url = parent.recv()
    try:
        print(
            f"\nlive: {n:,} service principals from a local Graph/ARM fake answering in {latency * 1000:.0f} ms "
            "(real SDK clients, 100 items a page)"
        )
        print(f"{'workers':>8} {'wall':>8} {'requests':>9} {'req/s':>7} {'identities':>11}")
        for w in workers:
            started = time.perf_counter()
            inventory = AzureLiveCollector(
                graph_url=url, arm_url=url, credential=FakeCredential(), max_workers=w
            ).collect()
            wall = time.perf_counter() - started
            parent.send("count")
            count = parent.recv()
            print(f"{w:>8} {wall:>7.2f}s {count:>9,} {count / wall:>7.0f} {len(inventory.identities):>11,}")
    finally:
        parent.send("stop")
        server.join(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,5000,20000")
    parser.add_argument("--live", type=int, default=2000, help="service principals for the live run (0 = skip)")
    parser.add_argument("--workers", default="1,8,32")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds the fake takes per answer")
    parser.add_argument("--keep", action="store_true", help="keep the generated folders")
    args = parser.parse_args()
    offline([int(s) for s in args.sizes.split(",") if s], args.keep)
    if args.live:
        live(args.live, [int(w) for w in args.workers.split(",")], args.latency)


if __name__ == "__main__":
    main()
