"""A stand-in for the gcloud CLI that answers the read-only commands of scripts/gcp-export.sh from an
export folder (``FAKE_GCLOUD_DATA``), so that the script and the importer can be tested together.

Every invocation is appended to ``FAKE_GCLOUD_LOG`` (one line of arguments) for the read-only check.
A command whose data file does not exist fails like gcloud does (exit 1, ERROR on stderr).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any


def option(args: list[str], name: str) -> str | None:
    for arg in args:
        if arg.startswith(f"--{name}="):
            return arg.split("=", 1)[1]
    return None


def resolve(args: list[str], data: Path) -> tuple[Path, str | None]:
    """(data file, role id to pick from a role list) for one gcloud command line."""
    words = [a for a in args if not a.startswith("--")]
    project = option(args, "project")
    pdir = data / "projects" / (project or "")
    match words:
        case ["projects", "describe", p]:
            return data / "projects" / p / "project.json", None
        case ["projects", "get-ancestors", p]:
            return data / "projects" / p / "ancestors.json", None
        case ["projects", "get-iam-policy", p]:
            return data / "projects" / p / "iam-policy.json", None
        case ["iam", "service-accounts", "list"]:
            return pdir / "service-accounts.json", None
        case ["iam", "service-accounts", "keys", "list"]:
            return pdir / "keys" / f"{option(args, 'iam-account')}.json", None
        case ["iam", "service-accounts", "get-iam-policy", email]:
            return pdir / "sa-iam-policies" / f"{email}.json", None
        case ["iam", "roles", "list"]:
            org = option(args, "organization")
            return (data / "organizations" / org if org else pdir) / "custom-roles.json", None
        case ["iam", "roles", "describe", role]:
            org = option(args, "organization")
            return (data / "organizations" / org if org else pdir) / "custom-roles.json", role
        case ["recommender", "recommendations", "list"]:
            return pdir / "recommendations.json", None
        case ["recommender", "insights", "list"]:
            kind = option(args, "insight-type")
            return pdir / (
                "sa-insights.json" if kind == "google.iam.serviceAccount.Insight" else "policy-insights.json"
            ), None
        case ["policy-intelligence", "query-activity"]:
            kind = option(args, "activity-type")
            name = (
                "activity-keys.json"
                if kind == "serviceAccountKeyLastAuthentication"
                else "activity-service-accounts.json"
            )
            return pdir / name, None
        case ["iam", "workload-identity-pools", "list"]:
            return pdir / "workload-identity-pools.json", None
        case ["iam", "workload-identity-pools", "providers", "list"]:
            return pdir / "wif-providers" / f"{option(args, 'workload-identity-pool')}.json", None
        case ["resource-manager", "folders", verb, fid]:
            return data / "folders" / fid / ("folder.json" if verb == "describe" else "iam-policy.json"), None
        case ["organizations", verb, oid]:
            return data / "organizations" / oid / (
                "organization.json" if verb == "describe" else "iam-policy.json"
            ), None
    raise SystemExit(f"ERROR: (gcloud) fake gcloud does not know: {' '.join(args)}")


def main() -> int:
    args = sys.argv[1:]
    with open(os.environ["FAKE_GCLOUD_LOG"], "a") as log:
        log.write(" ".join(args) + "\n")
    path, role = resolve(args, Path(os.environ["FAKE_GCLOUD_DATA"]))
    if not path.exists():
        print(f"ERROR: (gcloud) PERMISSION_DENIED: fake has no {path.name}", file=sys.stderr)
        return 1
    value: Any = json.loads(path.read_text())
    if role is not None:
        value = next((r for r in value if r["name"].rsplit("/", 1)[1] == role), None)
        if value is None:
            print(f"ERROR: (gcloud) NOT_FOUND: role {role}", file=sys.stderr)
            return 1
    fmt = option(args, "format") or "json"
    if fmt == "json":
        print(json.dumps(value, indent=2))
    elif fmt.startswith("value(") and fmt.endswith(")"):
        fields = fmt[6:-1].split(",")
        for item in value if isinstance(value, list) else [value]:
            print("\t".join(str(item.get(f, "")) for f in fields))
    else:
        print(f"ERROR: (gcloud) unsupported format {fmt}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
