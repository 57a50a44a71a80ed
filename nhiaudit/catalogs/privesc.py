"""Privilege-escalation paths as permission combinations, per provider (package data).

AWS: DataDog/pathfinding.cloud (Apache-2.0, see data/aws/privesc-paths.NOTICE). GCP:
RhinoSecurityLabs/GCP-IAM-Privilege-Escalation (BSD-3-Clause, see NOTICE), whose "methods"
file is converted on load (``_gcp_methods``). Azure: our own curated list
(data/azure/privesc-paths.json). Each path says which permissions, held together, let a
principal gain more privilege than it has. A path may carry its own ``reference`` URL;
otherwise the provider's URL template is used.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

CATEGORY_TEXT = {
    "self-escalation": "can change its own permissions",
    "principal-access": "can obtain the credentials or sessions of another principal",
    "new-passrole": "can pass an existing role to a new compute resource it creates and run code as that role",
    "existing-passrole": "can run code in an existing resource that already holds a role",
    "new-actas": "can attach a service account to a new resource it creates and run code as that service account",
    "existing-actas": "can change the code of an existing resource that already runs as a service account",
    "service-agent": "can make a Google-managed service account run work for it with that account's broad rights",
    "credential-access": "can create or read API keys that act for the project",
    "policy-bypass": "can change organization policy constraints that guard against escalation",
}

CATEGORY_RANK = {
    "self-escalation": 0,
    "principal-access": 1,
    "new-passrole": 2,
    "new-actas": 2,
    "existing-passrole": 3,
    "existing-actas": 3,
    "service-agent": 4,
    "policy-bypass": 5,
    "credential-access": 6,
}

PATH_SOURCES = {
    "aws": ("data/aws/privesc-paths.json", "https://pathfinding.cloud/paths/{id}"),
    "azure": ("data/azure/privesc-paths.json", "https://github.com/nhiaudit/nhiaudit/blob/main/docs/azure.md#{id}"),
    "gcp": ("data/gcp/privesc-methods.json", "https://github.com/RhinoSecurityLabs/GCP-IAM-Privilege-Escalation#{id}"),
}
"""provider -> (package data file, reference URL template)."""


@dataclass(frozen=True)
class PrivescPath:
    id: str
    provider: str
    category: str
    required: tuple[str, ...]
    reference: str

    @property
    def description(self) -> str:
        return f"{CATEGORY_TEXT.get(self.category, self.category)} ({' + '.join(self.required)})"


@cache
def load_paths(provider: str) -> tuple[PrivescPath, ...]:
    source = PATH_SOURCES.get(provider)
    if source is None:
        return ()
    file, url = source
    data = json.loads((resources.files("nhiaudit.catalogs") / file).read_text(encoding="utf-8"))
    if "methods" in data:
        data = {"paths": _gcp_methods(data["methods"])}
    return tuple(
        PrivescPath(
            id=p["id"],
            provider=provider,
            category=p.get("category", "unknown"),
            required=tuple(p["required"]),
            reference=p.get("reference") or url.format(id=p["id"]),
        )
        for p in data["paths"]
    )


@cache
def required_groups(provider: str) -> tuple[tuple[str, ...], ...]:
    """The required permissions of every path, in path order (for batch checks)."""
    return tuple(p.required for p in load_paths(provider))


GCP_METHOD_CATEGORIES = {
    "UpdateIAMRole": "self-escalation",
    "SetOrgIAMPolicy": "self-escalation",
    "SetFolderIAMPolicy": "self-escalation",
    "SetProjectIAMPolicy": "self-escalation",
    "SetServiceAccountIAMPolicy": "principal-access",
    "CreateServiceAccountKey": "principal-access",
    "GetServiceAccountAccessToken": "principal-access",
    "ServiceAccountImplicitDelegation": "principal-access",
    "ServiceAccountSignBlob": "principal-access",
    "ServiceAccountSignJwt": "principal-access",
    "CreateServiceAccountHMACKey": "principal-access",
    "CreateGCEInstanceWithSA": "new-actas",
    "ExfilCloudFunctionCredsAuthCall": "new-actas",
    "ExfilCloudFunctionCredsUnauthCall": "new-actas",
    "ExfilCloudRunServiceUnauthCall": "new-actas",
    "ExfilCloudRunServiceAuthCall": "new-actas",
    "CreateCloudSchedulerHTTPRequest": "new-actas",
    "UpdateCloudFunction": "existing-actas",
    "CreateDeploymentManagerDeployment": "service-agent",
    "RCECloudBuildBuildServer": "service-agent",
    "SetOrgPolicyConstraints": "policy-bypass",
    "CreateAPIKey": "credential-access",
    "ViewExistingAPIKeys": "credential-access",
}
"""Rhino's method name -> our category. A method missing here is kept as "unknown", never dropped."""


def _gcp_methods(methods: dict) -> list[dict]:
    """Rhino's ``{name: {permissions, scopes}}`` as paths: ``{id, category, required, scopes}``."""
    return [
        {
            "id": name,
            "category": GCP_METHOD_CATEGORIES.get(name, "unknown"),
            "required": list(method["permissions"]),
            "scopes": list(method.get("scopes", [])),
        }
        for name, method in methods.items()
    ]
