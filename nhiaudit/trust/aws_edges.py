"""AWS "can become" edges: role assumption, passing roles to compute, user credentials, trust rewrites.

Role assumption follows AWS's rules for role trust policies:

* the trust names the caller's ARN and both are in the same account: the trust alone suffices
  (unless the caller's policies explicitly deny ``sts:AssumeRole`` on the role);
* the trust names the caller's account (``arn:aws:iam::N:root``) or ``*``, or the caller is in
  another account: the caller's own policies must also allow ``sts:AssumeRole`` on the role ARN.

Identity policies are evaluated per resource here (the role or user ARN), which the bitset
engine in ``policy/aws.py`` does not do: a policy allowing ``sts:AssumeRole`` on one role does
not reach the others.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from nhiaudit.catalogs.privesc import load_paths
from nhiaudit.model import Identity, Trust
from nhiaudit.trust.aws_conditions import ConditionTest, condition_tests, has_wildcard, like_match
from nhiaudit.trust.graph import Edge
from nhiaudit.trust.principals import aws_account_of

if TYPE_CHECKING:
    from nhiaudit.policy.aws import AttachedPolicy, AwsAccess, CompiledStatement
    from nhiaudit.rules.base import AnalysisContext

PASSROLE_SERVICES: dict[str, tuple[str, ...]] = {
    "ec2": ("ec2.amazonaws.com",),
    "lambda": ("lambda.amazonaws.com",),
    "ecs": ("ecs-tasks.amazonaws.com",),
    "glue": ("glue.amazonaws.com",),
    "cloudformation": ("cloudformation.amazonaws.com",),
    "codebuild": ("codebuild.amazonaws.com",),
    "sagemaker": ("sagemaker.amazonaws.com",),
    "datapipeline": ("datapipeline.amazonaws.com", "elasticmapreduce.amazonaws.com"),
    "apprunner": ("tasks.apprunner.amazonaws.com",),
    "bedrock-agentcore": ("bedrock-agentcore.amazonaws.com",),
}
"""Service prefix of a pathfinding.cloud new-passrole path -> service principals the passed role must trust."""

PRINCIPAL_KEYS = frozenset({"aws:principalarn", "aws:principalaccount", "aws:principaltype"})


@dataclass(frozen=True)
class ResourceGrant:
    policies: tuple[str, ...]
    conditional: bool
    conditions: tuple[str, ...]


def _resource_matches(cs: CompiledStatement, arn: str, source: Identity) -> bool:
    resources = cs.statement.resources
    hit = False
    for pattern in resources:
        if "${" in pattern:
            if source.kind == "aws.user":
                pattern = pattern.replace("${aws:username}", source.name)
            if "${" in pattern:
                continue  # another variable: it names the caller's own resources, not this one
        if like_match(pattern, arn):
            hit = True
            break
    return hit != cs.statement.not_resource


def _conditions(cs: CompiledStatement, context: Mapping[str, str]) -> tuple[bool, list[str]]:
    """(possible, unevaluated condition labels) of a statement given known key values."""
    unknown: list[str] = []
    for test in condition_tests(cs.statement.condition):
        if test.key in context:
            hit = test.matches(context[test.key]) if not test.negated else not _negated_hit(test, context[test.key])
            if test.base == "null":
                continue
            if not hit:
                return False, []
        else:
            unknown.append(test.label)
    return True, unknown


def _negated_hit(test: ConditionTest, value: str) -> bool:
    """Whether the value is among those a negated operator excludes."""
    positive = replace(test, base=test.base.replace("not", "", 1), negated=False)
    return positive.matches(value)


def resource_grant(
    access: AwsAccess,
    action: str,
    arn: str,
    source: Identity,
    context: Mapping[str, str] | None = None,
) -> ResourceGrant | None:
    """Whether ``access`` allows ``action`` on the resource ``arn`` (denies and boundary applied)."""
    idx = access.catalog.index_of(action)
    if idx is None or not (access.effective_any >> idx) & 1:
        return None
    known = dict(context or {})

    def matching(policies: list[AttachedPolicy], effect: str) -> list[tuple[str, bool, list[str]]]:
        out = []
        for ap in policies:
            for cs in ap.compiled.statements:
                if cs.statement.effect != effect or not (cs.mask >> idx) & 1:
                    continue
                if not _resource_matches(cs, arn, source):
                    continue
                possible, unknown = _conditions(cs, known)
                if possible:
                    out.append((ap.label, bool(unknown), unknown))
        return out

    allows = matching(access.attached, "Allow")
    if not allows:
        return None
    boundary = [access.boundary] if access.boundary is not None else []
    denies = matching(access.attached + boundary, "Deny")
    if any(not conditional for _, conditional, _ in denies):
        return None
    if boundary:
        capped = matching(boundary, "Allow")
        if not capped:
            return None
        if all(conditional for _, conditional, _ in capped):
            denies.append(capped[0])
    unconditional = [a for a in allows if not a[1]]
    chosen = unconditional or allows
    conditions: list[str] = []
    for _, _, unknown in chosen + denies:
        conditions.extend(c for c in unknown if c not in conditions)
    conditional = not unconditional or bool(denies)
    return ResourceGrant(tuple(dict.fromkeys(a[0] for a in chosen)), conditional, tuple(conditions))


def _trust_conditions(tests: list[ConditionTest], source: Identity) -> tuple[bool, list[str]]:
    """Evaluate the principal keys of a trust statement for a caller; others stay unevaluated."""
    context = {
        "aws:principalarn": source.id,
        "aws:principalaccount": source.scope,
        "aws:principaltype": "AssumedRole" if source.kind == "aws.role" else "User",
    }
    unknown: list[str] = []
    for test in tests:
        if test.key in PRINCIPAL_KEYS:
            value = context[test.key]
            hit = test.matches(value) if not test.negated else not _negated_hit(test, value)
            if not hit:
                return False, []
        elif test.base != "null":
            unknown.append(test.label)
    return True, unknown


class ResourceIndex:
    """Who may perform ``action`` on which resource ARN, for finding candidate sources quickly.

    Sources whose Allow statements name exact ARNs are indexed by ARN; sources with patterns
    (``*``, ``role/app-*``, variables, NotResource) are candidates for every resource. Each
    candidate is still verified with ``resource_grant``.
    """

    def __init__(self, action: str, sources: list[Identity], access: Mapping[str, AwsAccess]) -> None:
        self.exact: dict[str, list[Identity]] = defaultdict(list)
        self.broad: list[Identity] = []
        for source in sources:
            acc = access.get(source.id)
            if acc is None or not acc.allows_all([action]):
                continue
            idx = acc.catalog.index_of(action)
            if idx is None:
                continue
            exact: set[str] = set()
            broad = False
            for ap in acc.attached:
                for cs in ap.compiled.statements:
                    if cs.statement.effect != "Allow" or not (cs.mask >> idx) & 1:
                        continue
                    if cs.statement.not_resource:
                        broad = True
                    for resource in cs.statement.resources:
                        if has_wildcard(resource) or "${" in resource:
                            broad = True
                        else:
                            exact.add(resource)
            if broad:
                self.broad.append(source)
            else:
                for resource in exact:
                    self.exact[resource].append(source)

    def candidates(self, arn: str) -> list[Identity]:
        return [*self.exact.get(arn, ()), *self.broad]


def aws_edges(ctx: AnalysisContext) -> Iterator[Edge]:
    from nhiaudit.policy.aws import AwsAccess

    identities = [i for i in ctx.inventory.identities if i.provider == "aws"]
    by_id = {i.id: i for i in identities}
    by_name: dict[tuple[str, str, str], Identity] = {}
    for identity in identities:
        by_name[(identity.scope, identity.kind, identity.name)] = identity
    # sources only: admin-equivalent identities get no outgoing edges (see graph.py)
    access: dict[str, AwsAccess] = {
        i.id: a
        for i in identities
        if isinstance(a := ctx.access.get(i.id), AwsAccess) and (a.admin is None or not a.admin.account_wide)
    }
    sources = [i for i in identities if i.id in access and not i.provider_owned]

    roles = [i for i in identities if i.kind == "aws.role"]
    assumers = ResourceIndex("sts:AssumeRole", sources, access)
    service_roles: dict[str, list[Identity]] = defaultdict(list)
    for role in roles:
        for trust in ctx.trusts(role.id):
            if trust.principal_kind == "service" and _plain_assume(trust):
                service_roles[trust.principal.lower()].append(role)
            yield from _assume_edges(role, trust, by_id, by_name, assumers, access)

    # passing a role to a service the caller can launch
    passers = ResourceIndex("iam:PassRole", sources, access)
    for path in load_paths("aws"):
        if path.category != "new-passrole" or "iam:PassRole" not in path.required:
            continue
        service = next((p.split(":")[0] for p in path.required if p != "iam:PassRole"), None)
        others = [p for p in path.required if p != "iam:PassRole"]
        for principal in PASSROLE_SERVICES.get(service or "", ()):
            for role in service_roles.get(principal, []):
                for source in passers.candidates(role.id):
                    acc = access[source.id]
                    if not acc.allows_all(others):
                        continue
                    grant = resource_grant(acc, "iam:PassRole", role.id, source, {"iam:passedtoservice": principal})
                    if grant is None:
                        continue
                    yield Edge(
                        source.id,
                        role.id,
                        "pass-role",
                        f"can pass {{target}} to {principal} and run code as it ({' + '.join(path.required)}, "
                        f"pathfinding.cloud {path.id}; iam:PassRole granted by {', '.join(grant.policies)})",
                        conditional=grant.conditional,
                        conditions=grant.conditions,
                        evidence={"path": path.id, "service": principal, "other_permissions": others},
                    )

    # credentials of IAM users, trust policies of roles
    principal_actions = (
        ("iam:CreateAccessKey", "aws.user", "create-access-key", "can create an access key for {target}"),
        ("iam:CreateLoginProfile", "aws.user", "console-password", "can create a console password for {target}"),
        ("iam:UpdateLoginProfile", "aws.user", "console-password", "can reset the console password of {target}"),
        ("iam:UpdateAssumeRolePolicy", "aws.role", "rewrite-trust", "can rewrite the trust policy of {target}"),
    )
    for action, kind, edge_kind, how in principal_actions:
        index = ResourceIndex(action, sources, access)
        if not index.exact and not index.broad:
            continue
        for target in identities:
            if target.kind != kind or target.provider_owned:
                continue
            for source in index.candidates(target.id):
                if source.id == target.id or source.scope != target.scope:
                    continue
                grant = resource_grant(access[source.id], action, target.id, source)
                if grant is None:
                    continue
                yield Edge(
                    source.id,
                    target.id,
                    edge_kind,
                    f"{how} ({action} granted by {', '.join(grant.policies)})",
                    conditional=grant.conditional,
                    conditions=grant.conditions,
                )


def _assume_edges(
    role: Identity,
    trust: Trust,
    by_id: dict[str, Identity],
    by_name: dict[tuple[str, str, str], Identity],
    assumers: ResourceIndex,
    access: Mapping[str, AwsAccess],
) -> Iterator[Edge]:
    if not _plain_assume(trust):
        return
    kind = trust.principal_kind
    if kind in ("role", "user"):
        source = by_id.get(trust.principal) or _by_arn_name(trust.principal, by_name)
        if source is None:
            return
        candidates, named = [source], True
    elif kind == "account":
        account = aws_account_of(trust.principal)
        candidates, named = [s for s in assumers.candidates(role.id) if s.scope == account], False
    elif kind == "any":
        candidates, named = assumers.candidates(role.id), False
    else:
        return
    tests = condition_tests(trust.conditions)
    for source in candidates:
        if source.id == role.id or source.provider_owned:
            continue
        possible, unknown = _trust_conditions(tests, source)
        if not possible:
            continue
        acc = access.get(source.id)
        if acc is None:
            continue
        grant = resource_grant(acc, "sts:AssumeRole", role.id, source)
        if named and source.scope == role.scope:
            # same account, trust names the caller: the trust alone suffices unless a Deny blocks it
            if grant is None and explicitly_denied(acc, "sts:AssumeRole", role.id, source):
                continue
            reason = "its trust policy names it"
            if grant is not None:
                reason += f" (and {', '.join(grant.policies)} allows sts:AssumeRole on it)"
            policy_conditions: tuple[str, ...] = grant.conditions if grant else ()
        else:
            if grant is None:
                continue
            who = "names it" if named else ("admits its account" if kind == "account" else "admits any principal")
            reason = f"its trust policy {who} and {', '.join(grant.policies)} allows sts:AssumeRole on it"
            policy_conditions = grant.conditions
        conditions = list(unknown) + [c for c in policy_conditions if c not in unknown]
        yield Edge(
            source.id,
            role.id,
            "assume-role",
            f"can assume {{target}}: {reason}",
            conditional=bool(conditions),
            conditions=tuple(conditions),
            evidence={"trust_statement": trust.source, "principal": trust.principal},
        )


def explicitly_denied(access: AwsAccess, action: str, arn: str, source: Identity) -> bool:
    """An unconditional Deny of ``action`` on ``arn`` in the identity's policies or boundary."""
    idx = access.catalog.index_of(action)
    if idx is None:
        return False
    policies = access.attached + ([access.boundary] if access.boundary is not None else [])
    for ap in policies:
        for cs in ap.compiled.statements:
            deny = cs.statement.effect == "Deny" and (cs.mask >> idx) & 1 and not cs.statement.condition
            if deny and _resource_matches(cs, arn, source):
                return True
    return False


def _plain_assume(trust: Trust) -> bool:
    """sts:AssumeRole (not only the web identity / SAML variants) is granted."""
    return any(like_match(action.lower(), "sts:assumerole") for action in trust.actions)


def _by_arn_name(arn: str, by_name: dict[tuple[str, str, str], Identity]) -> Identity | None:
    account = aws_account_of(arn)
    if account is None:
        return None
    resource = arn.split(":", 5)[-1]
    kind = "aws.role" if resource.startswith(("role/", "assumed-role/")) else "aws.user"
    name = resource.split("/")[-1] if not resource.startswith("assumed-role/") else resource.split("/")[1]
    return by_name.get((account, kind, name))
