"""Offline GCP import: a folder of ``gcloud ... --format=json`` exports, one folder per project.

Layout (every file optional except that at least one project must hold data; docs/gcp.md
lists the gcloud command that writes each file, and scripts/gcp-export.sh runs them all)::

    EXPORT/
      projects/<project-id>/
        project.json                 gcloud projects describe
        ancestors.json               gcloud projects get-ancestors
        iam-policy.json              gcloud projects get-iam-policy
        service-accounts.json        gcloud iam service-accounts list
        keys/<sa-email>.json         gcloud iam service-accounts keys list --iam-account=<sa-email>
        sa-iam-policies/<sa-email>.json   gcloud iam service-accounts get-iam-policy <sa-email>
        custom-roles.json            gcloud iam roles describe (each custom role, as a JSON list)
        custom-roles/<role-id>.json  ... or one describe output per file
        recommendations.json         gcloud recommender recommendations list (google.iam.policy.Recommender)
        policy-insights.json         gcloud recommender insights list (google.iam.policy.Insight)
        sa-insights.json             gcloud recommender insights list (google.iam.serviceAccount.Insight)
        activity-service-accounts.json  gcloud policy-intelligence query-activity (serviceAccountLastAuthentication)
        activity-keys.json           gcloud policy-intelligence query-activity (serviceAccountKeyLastAuthentication)
        workload-identity-pools.json gcloud iam workload-identity-pools list
        wif-providers/<pool-id>.json gcloud iam workload-identity-pools providers list (one file per pool)
      folders/<folder-id>/           folder.json, iam-policy.json
      organizations/<org-id>/        organization.json, iam-policy.json, custom-roles.json

A directory that itself holds ``service-accounts.json`` or ``iam-policy.json`` is read as a
single project folder; a directory of such folders (without ``projects/``) is accepted too.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from nhiaudit.collectors.gcp_normalize import (
    PERMISSION_RULES,
    PROVIDER,
    ContainerData,
    GcpRawData,
    ProjectData,
    activities_of,
    insights_of,
    keys_of,
    policy_of,
    recommendations_of,
    roles_of,
    service_accounts_of,
)
from nhiaudit.collectors.gcp_normalize import normalize as normalize_raw
from nhiaudit.collectors.interface import Collector
from nhiaudit.errors import InputError
from nhiaudit.model import CoverageGap, Inventory, load_json_file, utcnow

PROJECT_FILES = {
    "project.json",
    "ancestors.json",
    "iam-policy.json",
    "service-accounts.json",
    "custom-roles.json",
    "recommendations.json",
    "policy-insights.json",
    "sa-insights.json",
    "activity-service-accounts.json",
    "activity-keys.json",
    "workload-identity-pools.json",
}
PROJECT_DIRS = {"keys", "sa-iam-policies", "custom-roles", "wif-providers"}
CONTAINER_FILES = {"folder.json", "organization.json", "iam-policy.json", "custom-roles.json"}
CONTAINER_DIRS = {"custom-roles"}


def _gap(scope: str, source: str, detail: str, affects: list[str], status: str = "not_supplied") -> CoverageGap:
    return CoverageGap(provider=PROVIDER, scope=scope, source=source, status=status, detail=detail, affects=affects)  # type: ignore[arg-type]


class GcpExportCollector(Collector):
    provider = PROVIDER

    def __init__(
        self, directories: list[Path], *, snapshot_time: datetime | None = None, method: str = "offline"
    ) -> None:
        self.directories = directories
        self.snapshot_time = snapshot_time
        self.method = method

    def collect(self) -> Inventory:
        raw = GcpRawData(method=self.method, snapshot=self.snapshot_time or utcnow())
        for directory in self.directories:
            self._read_root(directory, raw)
        if not any(p.service_accounts is not None or p.iam_policy is not None for p in raw.projects.values()):
            raise InputError(
                "no GCP export data found: expected projects/<project-id>/service-accounts.json or "
                "iam-policy.json (see docs/gcp.md for the folder layout)",
                source=", ".join(str(d) for d in self.directories),
            )
        if raw.containers:
            for project in raw.projects.values():
                if project.ancestors is None:
                    project.gaps.append(
                        _gap(
                            project.project_id,
                            "ancestry",
                            "no ancestors.json: folder and organization bindings still count as grants, but who "
                            "can act as this project's service accounts through them is not attributed",
                            ["trust"],
                        )
                    )
        inventory = normalize_raw(raw)
        inventory.snapshot_time = self.snapshot_time
        return inventory

    # --- layout ------------------------------------------------------------------------------

    def _read_root(self, root: Path, raw: GcpRawData) -> None:
        if not root.exists():
            raise InputError("directory not found", source=root)
        if not root.is_dir():
            raise InputError("not a directory (--from-dir takes the export folder)", source=root)
        if (root / "service-accounts.json").exists() or (root / "iam-policy.json").exists():
            self._read_project(root, root.name, raw)
            return
        known = False
        for kind in ("projects", "folders", "organizations"):
            base = root / kind
            if not base.is_dir():
                continue
            known = True
            for sub in sorted(p for p in base.iterdir() if p.is_dir()):
                if kind == "projects":
                    self._read_project(sub, sub.name, raw)
                else:
                    self._read_container(sub, f"{kind}/{sub.name}", raw)
        if not known:
            # a folder of project folders without the projects/ level
            children = [
                p for p in sorted(root.iterdir())
                if p.is_dir() and ((p / "service-accounts.json").exists() or (p / "iam-policy.json").exists())
            ]  # fmt: skip
            for child in children:
                self._read_project(child, child.name, raw)
            known = bool(children)
        if not known:
            raise InputError(
                "not a GCP export folder: expected projects/<project-id>/ subfolders (or a single project folder "
                "with service-accounts.json); see docs/gcp.md",
                source=root,
            )

    def _read_container(self, folder: Path, name: str, raw: GcpRawData) -> None:
        container = raw.containers.setdefault(name, ContainerData(name=name, where=str(folder)))
        self._warn_unknown(folder, CONTAINER_FILES, CONTAINER_DIRS, raw.warnings)
        meta_file = folder / ("organization.json" if name.startswith("organizations/") else "folder.json")
        meta = _read(meta_file, lambda v, w: _object(v, w))
        if meta:
            container.display_name = meta.get("displayName") or container.display_name
            parent = meta.get("parent")
            container.parent = parent if isinstance(parent, str) else container.parent
        container.iam_policy = _read(folder / "iam-policy.json", policy_of)
        if container.iam_policy is None:
            raw.gaps.append(
                _gap(name, "iam_policy", f"no iam-policy.json for {name}: its bindings are unknown", PERMISSION_RULES)
            )
        roles = _custom_roles(folder)
        if roles is not None:
            container.custom_roles = roles

    def _read_project(self, folder: Path, name: str, raw: GcpRawData) -> None:
        meta = _read(folder / "project.json", lambda v, w: _object(v, w))
        project_id = str((meta or {}).get("projectId") or name)
        if project_id in raw.projects:
            raise InputError(f"project {project_id} appears twice in the export", source=folder)
        p = ProjectData(project_id=project_id, where=str(folder))
        raw.projects[project_id] = p
        self._warn_unknown(folder, PROJECT_FILES, PROJECT_DIRS, p.warnings)
        if meta:
            p.number = str(meta.get("projectNumber") or "") or None
            p.display_name = meta.get("name") or meta.get("displayName")
            p.labels = dict(meta.get("labels") or {})
            parent = meta.get("parent")
            if isinstance(parent, dict) and parent.get("id"):
                p.parent = f"{parent.get('type', 'folder')}s/{parent['id']}"
            elif isinstance(parent, str):
                p.parent = parent
        ancestors = _read(folder / "ancestors.json", _ancestors)
        if ancestors is not None:
            p.ancestors = [a for a in ancestors if not a.startswith("projects/")]
        p.inputs = [str(folder)]

        p.iam_policy = _read(folder / "iam-policy.json", policy_of)
        if p.iam_policy is None:
            p.gaps.append(
                _gap(
                    project_id,
                    "iam_policy",
                    "no iam-policy.json: project-level role bindings are unknown",
                    [*PERMISSION_RULES, "gcp-project-level-impersonation", "gcp-default-sa-editor"],
                )
            )
        p.service_accounts = _read(folder / "service-accounts.json", service_accounts_of)
        if p.service_accounts is None:
            p.gaps.append(
                _gap(
                    project_id,
                    "service_accounts",
                    "no service-accounts.json: the project's service accounts are known only from bindings",
                    ["identity-unused", "gcp-user-managed-key"],
                )
            )
        emails = {str(sa["email"]).lower() for sa in p.service_accounts or []}
        self._read_keys(folder, p, emails)
        self._read_sa_policies(folder, p, emails)
        self._read_custom_roles(folder, p)

        p.recommendations = _read(folder / "recommendations.json", recommendations_of)
        p.policy_insights = _read(folder / "policy-insights.json", insights_of)
        p.sa_insights = _read(folder / "sa-insights.json", insights_of)
        if p.recommendations is None and p.policy_insights is None:
            p.gaps.append(
                _gap(
                    project_id,
                    "iam_recommender",
                    "no recommendations.json / policy-insights.json: granted-versus-used evidence (IAM Recommender) "
                    "is missing",
                    ["gcp-role-recommendation", "excess-privilege"],
                )
            )
        p.sa_activity = _read(folder / "activity-service-accounts.json", activities_of)
        p.key_activity = _read(folder / "activity-keys.json", activities_of)
        if p.sa_activity is None:
            p.gaps.append(
                _gap(
                    project_id,
                    "activity_analyzer",
                    "no activity-service-accounts.json: when service accounts last authenticated is unknown, so "
                    "unused service accounts are not reported",
                    ["identity-unused"],
                )
            )
        if p.key_activity is None and any(p.keys.values()):
            p.gaps.append(
                _gap(
                    project_id,
                    "key_activity",
                    "no activity-keys.json: when keys were last used is unknown, so never-used and unused keys "
                    "are not reported",
                    ["credential-never-used", "credential-unused"],
                )
            )
        p.wif_pools = _read(folder / "workload-identity-pools.json", _pools)
        for pool in p.wif_pools or []:
            pool_id = str(pool.get("name", "")).rsplit("/", 1)[-1]
            providers = _read(folder / "wif-providers" / f"{pool_id}.json", _providers)
            if providers is None:
                p.gaps.append(
                    _gap(
                        project_id,
                        f"wif_providers:{pool_id}",
                        f"workload identity pool {pool_id} has no wif-providers/{pool_id}.json: its providers and "
                        "their attribute conditions are unknown",
                        ["trust"],
                    )
                )
                continue
            p.wif_providers[str(pool["name"])] = providers
        p.api_calls = {}

    def _read_keys(self, folder: Path, p: ProjectData, emails: set[str]) -> None:
        keys_dir = folder / "keys"
        if keys_dir.is_dir():
            for f in sorted(keys_dir.glob("*.json")):
                keys = _read(f, keys_of) or []
                for key in keys:
                    owner = key["name"].split("/serviceAccounts/", 1)[-1].split("/keys/", 1)[0].lower()
                    email = owner if "@" in owner else f.stem.lower()
                    p.keys.setdefault(email, []).append(key)
                p.keys.setdefault(f.stem.lower(), [])
        missing = sorted(e for e in emails if e not in p.keys)
        if missing:
            shown = ", ".join(missing[:3]) + (" ..." if len(missing) > 3 else "")
            p.gaps.append(
                _gap(
                    p.project_id,
                    "service_account_keys",
                    f"no keys/<email>.json for {len(missing)} of {len(emails)} service accounts ({shown}): their keys "
                    "are unknown",
                    [
                        "credential-not-rotated",
                        "credential-never-used",
                        "credential-unused",
                        "gcp-user-managed-key",
                        "multiple-active-credentials",
                        "inactive-identity-active-credentials",
                    ],
                    status="partial" if len(missing) < len(emails) else "not_supplied",
                )
            )

    def _read_sa_policies(self, folder: Path, p: ProjectData, emails: set[str]) -> None:
        pol_dir = folder / "sa-iam-policies"
        if pol_dir.is_dir():
            for f in sorted(pol_dir.glob("*.json")):
                policy = _read(f, policy_of)
                if policy is not None:
                    p.sa_policies[f.stem.lower()] = policy
        missing = sorted(e for e in emails if e not in p.sa_policies)
        if missing:
            p.gaps.append(
                _gap(
                    p.project_id,
                    "service_account_iam_policies",
                    f"no sa-iam-policies/<email>.json for {len(missing)} of {len(emails)} service accounts: who can "
                    "act as them through bindings on the account itself is unknown",
                    ["trust", "privilege-escalation"],
                    status="partial" if len(missing) < len(emails) else "not_supplied",
                )
            )

    def _read_custom_roles(self, folder: Path, p: ProjectData) -> None:
        p.custom_roles = _custom_roles(folder)

    @staticmethod
    def _warn_unknown(folder: Path, files: set[str], dirs: set[str], warnings: list[str]) -> None:
        for entry in sorted(folder.iterdir()):
            if entry.is_dir() and entry.name not in dirs:
                warnings.append(f"{entry}: unrecognized folder in the GCP export, ignored")
            elif entry.is_file() and entry.suffix == ".json" and entry.name not in files:
                warnings.append(f"{entry}: unrecognized file in the GCP export, ignored (see docs/gcp.md)")


def _read(path: Path, parse: Callable[[Any, str], Any]) -> Any:
    """Parse an optional export file; None when it does not exist."""
    if not path.exists():
        return None
    return parse(load_json_file(path), str(path))


def _custom_roles(folder: Path) -> list[dict] | None:
    """custom-roles.json (a list), and/or custom-roles/<id>.json (one 'gcloud iam roles describe' each)."""
    roles = _read(folder / "custom-roles.json", roles_of)
    roles_dir = folder / "custom-roles"
    if roles_dir.is_dir():
        roles = list(roles or [])
        for f in sorted(roles_dir.glob("*.json")):
            data = load_json_file(f)
            roles.extend(roles_of([data] if isinstance(data, dict) and "name" in data else data, str(f)))
    return roles


def _object(value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        raise InputError(f"{where}: expected a JSON object, got {type(value).__name__}")
    return value


def _ancestors(value: Any, where: str) -> list[str]:
    items = value.get("ancestor", value) if isinstance(value, dict) else value
    if not isinstance(items, list):
        raise InputError(f"{where}: expected the list printed by 'gcloud projects get-ancestors --format=json'")
    out = []
    for n, item in enumerate(items):
        if isinstance(item, dict) and "resourceId" in item:
            item = item["resourceId"]
        if (
            not isinstance(item, dict)
            or not item.get("id")
            or item.get("type") not in ("project", "folder", "organization")
        ):
            raise InputError(f"{where}: ancestor {n} must have an id and a type (project, folder or organization)")
        out.append(f"{item['type']}s/{item['id']}")
    return out


def _pools(value: Any, where: str) -> list[dict]:
    items = value.get("workloadIdentityPools", []) if isinstance(value, dict) else value
    if not isinstance(items, list) or not all(isinstance(i, dict) and isinstance(i.get("name"), str) for i in items):
        raise InputError(f"{where}: expected a JSON list of workload identity pools with names")
    return items


def _providers(value: Any, where: str) -> list[dict]:
    items = value.get("workloadIdentityPoolProviders", []) if isinstance(value, dict) else value
    if not isinstance(items, list) or not all(isinstance(i, dict) and isinstance(i.get("name"), str) for i in items):
        raise InputError(f"{where}: expected a JSON list of workload identity pool providers with names")
    return items
