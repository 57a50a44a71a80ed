"""The GCP predefined-role catalog: role -> permissions, from package data.

``data/gcp/predefined-roles.json.gz`` is the output of ``gcloud iam roles describe`` for every
predefined role (iann0036/iam-dataset, MIT; see NOTICE). Permissions are numbered once (sorted)
so that a role is a Python ``int`` bitset, exactly like the AWS action catalog: combining the
roles of thousands of service accounts is a handful of integer ORs.

GCP has no access levels; ``permission_level`` derives one from the permission's verb so that
reports can say "N write permissions" for every cloud alike.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

from nhiaudit.catalogs.aws_actions import ACCESS_LEVELS

CATALOG_FILE = "data/gcp/predefined-roles.json.gz"

IMPERSONATION_PERMISSIONS = frozenset(
    {
        "iam.serviceAccounts.actAs",
        "iam.serviceAccounts.getAccessToken",
        "iam.serviceAccounts.getOpenIdToken",
        "iam.serviceAccounts.implicitDelegation",
        "iam.serviceAccounts.signBlob",
        "iam.serviceAccounts.signJwt",
        "iam.serviceAccountKeys.create",
        "iam.serviceAccounts.setIamPolicy",
    }
)
"""Holding one of these on a service account (or its project, folder, organization) lets a member
act as it, mint tokens for it, create keys for it, or grant itself one of those rights."""

PERMISSIONS_MANAGEMENT = (IMPERSONATION_PERMISSIONS - {"iam.serviceAccounts.setIamPolicy"}) | {
    "iam.serviceAccountKeys.enable",
    "iam.roles.create",
    "iam.roles.update",
    "iam.roles.undelete",
    "orgpolicy.policy.set",
    "storage.hmacKeys.create",
    "serviceusage.apiKeys.create",
}
"""Permissions that change who can do what, beyond the generic ``*.setIamPolicy``."""

TOKEN_PERMISSIONS = IMPERSONATION_PERMISSIONS - {"iam.serviceAccounts.actAs"}
"""... of which these yield the account's credentials directly, without deploying anything."""

IMPERSONATION_ROLES = {
    "roles/iam.serviceAccountUser": "Service Account User",
    "roles/iam.serviceAccountTokenCreator": "Service Account Token Creator",
    "roles/iam.serviceAccountKeyAdmin": "Service Account Key Admin",
    "roles/iam.workloadIdentityUser": "Workload Identity User",
}
"""Predefined roles whose purpose is using service accounts (CIS GCP 1.6 names the first two)."""

READ_VERBS = (
    "get", "read", "query", "fetch", "view", "download", "access", "export", "batchGet", "lookup", "check", "test",
    "validate", "explain", "show", "discover", "retrieve", "wait", "calculate", "aggregate", "summarize", "evaluate",
    "fullView", "sampleRowKeys", "useReadOnly",
)  # fmt: skip
TAGGING_VERBS = frozenset({"createTagBinding", "deleteTagBinding", "setLabels", "setTags", "updateTag"})


def permission_level(permission: str) -> str:
    """List / Read / Write / Permissions management / Tagging for a GCP permission."""
    if permission in PERMISSIONS_MANAGEMENT:
        return "Permissions management"
    verb = permission.rsplit(".", 1)[-1]
    if verb == "setIamPolicy" or verb.startswith("setIam"):
        return "Permissions management"
    if verb in TAGGING_VERBS:
        return "Tagging"
    if verb.startswith(("list", "search")):
        return "List"
    if verb.startswith(READ_VERBS) or verb.endswith(("Read", "ReadOnly", "View")):
        return "Read"
    return "Write"


@dataclass
class RoleInfo:
    name: str
    title: str
    stage: str
    permissions: tuple[str, ...]


@dataclass
class GcpRoleCatalog:
    version: str
    roles: dict[str, RoleInfo]
    permissions: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.permissions:
            self.permissions = sorted({p for r in self.roles.values() for p in r.permissions})
        self.size = len(self.permissions)
        self.all_mask = (1 << self.size) - 1
        self.index = {p: i for i, p in enumerate(self.permissions)}
        self._role_masks: dict[str, int] = {}
        self.level_masks = {
            level: self._mask_where(lambda p, lv=level: permission_level(p) == lv) for level in ACCESS_LEVELS
        }
        # permissions are sorted, so each service is one contiguous range of bits
        self._services: dict[str, int] = {}
        start = 0
        for i in range(1, self.size + 1):
            if i == self.size or self.permissions[i].split(".", 1)[0] != self.permissions[start].split(".", 1)[0]:
                self._services[self.permissions[start].split(".", 1)[0]] = ((1 << (i - start)) - 1) << start
                start = i

    def _mask_where(self, predicate: object) -> int:
        bits = bytearray((self.size + 7) // 8)
        for i, perm in enumerate(self.permissions):
            if predicate(perm):  # type: ignore[operator]
                bits[i >> 3] |= 1 << (i & 7)
        return int.from_bytes(bits, "little")

    # --- lookups --------------------------------------------------------------------------

    def role(self, name: str) -> RoleInfo | None:
        return self.roles.get(name)

    def index_of(self, permission: str) -> int | None:
        return self.index.get(permission)

    def mask_of(self, permissions: Iterable[str]) -> tuple[int, list[str]]:
        """Bitset of the known permissions, and the names the catalog does not know."""
        bits = bytearray((self.size + 7) // 8)
        unknown: list[str] = []
        for perm in permissions:
            idx = self.index.get(perm)
            if idx is None:
                unknown.append(perm)
            else:
                bits[idx >> 3] |= 1 << (idx & 7)
        return int.from_bytes(bits, "little"), unknown

    def role_mask(self, name: str) -> int | None:
        """Bitset of a predefined role, or None when the catalog does not know the role."""
        mask = self._role_masks.get(name)
        if mask is None:
            info = self.roles.get(name)
            if info is None:
                return None
            mask, _ = self.mask_of(info.permissions)
            self._role_masks[name] = mask
        return mask

    def names(self, mask: int) -> Iterator[str]:
        while mask:
            low = mask & -mask
            yield self.permissions[low.bit_length() - 1]
            mask ^= low

    def services_in(self, mask: int) -> list[str]:
        return sorted(svc for svc, bits in self._services.items() if bits & mask)

    def service_mask(self, service: str) -> int:
        return self._services.get(service, 0)

    def level_counts(self, mask: int) -> dict[str, int]:
        return {level: (mask & bits).bit_count() for level, bits in self.level_masks.items()}


def parse_catalog(data: dict) -> GcpRoleCatalog:
    source = str(data.get("source", "unknown"))
    version = source.split(" at commit ", 1)[1].split(",", 1)[0] if " at commit " in source else source[:40]
    roles = {
        name: RoleInfo(
            name=name,
            title=str(info.get("title", name)),
            stage=str(info.get("stage", "GA")),
            permissions=tuple(info.get("permissions", [])),
        )
        for name, info in data["roles"].items()
    }
    return GcpRoleCatalog(version=f"iam-dataset {version}", roles=roles)


@cache
def load_catalog() -> GcpRoleCatalog:
    raw = (resources.files("nhiaudit.catalogs") / CATALOG_FILE).read_bytes()
    return parse_catalog(json.loads(gzip.decompress(raw)))
