"""AWS "can become" edges: role assumption, passing roles to compute, user credentials, trust rewrites.

Role assumption follows AWS's rules for role trust policies:

* the trust names the caller's ARN and both are in the same account: the trust alone suffices
  (unless the caller's policies explicitly deny ``sts:AssumeRole`` on the role);
* the trust names the caller's account (``arn:aws:iam::N:root``) or ``*``, or the caller is in
  another account: the caller's own policies must also allow ``sts:AssumeRole`` on the role ARN.

Identity policies are evaluated per resource (``aws_grants``). Grants that reach a whole class
of targets the same way are emitted as ``EdgeGroup``s over ``TargetSet``s rather than one edge
per pair (see ``graph.py``):

* ``iam:CreateAccessKey`` / ``iam:CreateLoginProfile`` / ``iam:UpdateLoginProfile``: the IAM
  users of the caller's account; ``iam:UpdateAssumeRolePolicy``: its roles;
* ``iam:PassRole``: the roles trusting one service principal (per new-passrole path);
* ``sts:AssumeRole``: the roles whose trust admits one account root (or ``*``) under the same
  principal conditions; each member keeps its own trust statement (evidence) and its
  non-principal conditions, and members with and without such conditions are kept apart.

For each (caller, action, context, class of ARNs) ``class_grant`` is computed once; callers
whose grant depends on the target's name (``role/app-*``) and targets a statement names
literally are still evaluated per target and get explicit edges, as do callers whose policies
name exact ARNs only (found through ``ResourceIndex``) and trusts that name one principal.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING

from nhiaudit.catalogs.privesc import load_paths
from nhiaudit.model import Identity, Trust
from nhiaudit.trust.aws_conditions import ConditionTest, condition_tests, like_match
from nhiaudit.trust.aws_grants import (
    ActionBits,
    ClassGrants,
    ResourceGrant,
    ResourceIndex,
    arn_class,
    explicitly_denied,
    negated_hit,
    resource_grant,
    resource_indexes,
)
from nhiaudit.trust.graph import Edge, EdgeGroup, Member, TargetSet
from nhiaudit.trust.principals import aws_account_of

if TYPE_CHECKING:
    from nhiaudit.policy.aws import AwsAccess
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

PRINCIPAL_ACTIONS = (
    ("iam:CreateAccessKey", "aws.user", "create-access-key", "can create an access key for {target}"),
    ("iam:CreateLoginProfile", "aws.user", "console-password", "can create a console password for {target}"),
    ("iam:UpdateLoginProfile", "aws.user", "console-password", "can reset the console password of {target}"),
    ("iam:UpdateAssumeRolePolicy", "aws.role", "rewrite-trust", "can rewrite the trust policy of {target}"),
)
"""action, target kind, edge kind, words."""

Template = Callable[[ResourceGrant, frozenset[str]], EdgeGroup]
"""(the caller's grant, excluded targets) -> the group of edges it gives."""


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
            hit = test.matches(value) if not test.negated else not negated_hit(test, value)
            if not hit:
                return False, []
        elif test.base != "null":
            unknown.append(test.label)
    return True, unknown


class _AwsSet:
    """A target set with what the AWS builder needs to judge callers against it."""

    def __init__(
        self,
        tset: TargetSet,
        prefix: str | None,
        principal_tests: tuple[ConditionTest, ...] = (),
        trust_kind: str = "",
        account: str | None = None,
    ) -> None:
        self.tset = tset
        self.prefix = prefix
        self.principal_tests = list(principal_tests)
        self.trust_kind = trust_kind
        self.account = account


def _fan_out(
    grants: ClassGrants,
    source: Identity,
    action: str,
    target_set: _AwsSet,
    template: Template,
    context: Mapping[str, str] | None = None,
) -> Iterator[Edge | EdgeGroup]:
    """The edges from ``source`` into a target set: one group for the targets its grant reaches
    alike, explicit edges for targets judged one by one."""
    members = target_set.tset.members
    found = grants.get(source, action, members, target_set.prefix, context)
    singles = target_set.tset.ordered(t for t in found.exceptions if t != source.id)
    for target in singles:
        grant = grants.resource_grant(source, action, target, context)
        if grant is not None:
            yield template(grant, frozenset()).edge_to(target)
    if found.grant is not None:
        yield template(found.grant, frozenset(singles))


def aws_edges(ctx: AnalysisContext) -> Iterator[Edge | EdgeGroup]:
    from nhiaudit.policy.aws import AwsAccess

    identities = [i for i in ctx.inventory.identities if i.provider == "aws"]
    by_id = {i.id: i for i in identities}
    by_name: dict[tuple[str, str, str], Identity] = {}

    def named(key: tuple[str, str, str]) -> Identity | None:
        """(account, kind, name) -> identity; built on first use (only trusts naming a principal need it)."""
        if not by_name:
            by_name.update(((i.scope, i.kind, i.name), i) for i in identities)
        return by_name.get(key)

    # sources only: admin-equivalent identities get no outgoing edges (see graph.py)
    access: dict[str, AwsAccess] = {
        i.id: a
        for i in identities
        if isinstance(a := ctx.access.get(i.id), AwsAccess) and (a.admin is None or not a.admin.account_wide)
    }
    sources = [i for i in identities if i.id in access and not i.provider_owned]
    bits = ActionBits(["sts:AssumeRole", "iam:PassRole", *(a[0] for a in PRINCIPAL_ACTIONS)])
    grants = ClassGrants(access, bits)
    indexes = resource_indexes(bits, sources, access)

    roles = [i for i in identities if i.kind == "aws.role"]
    assumers = indexes["sts:AssumeRole"]
    service_sets: dict[str, dict[str | None, _AwsSet]] = defaultdict(dict)
    assume_sets: dict[tuple[object, ...], _AwsSet] = {}
    for role in roles:
        prefix = arn_class(role.id)
        for trust in ctx.trusts(role.id):
            if not _plain_assume(trust):
                continue
            if trust.principal_kind == "service":
                principal = trust.principal.lower()
                found = service_sets[principal].get(prefix)
                if found is None:
                    tset = TargetSet(("aws.service-trust", principal, prefix), f"roles trusting {principal}")
                    found = service_sets[principal][prefix] = _AwsSet(tset, prefix)
                found.tset.add(role.id)
            elif trust.principal_kind in ("role", "user"):
                yield from _named_assume_edges(role, trust, by_id, named, access)
            elif trust.principal_kind in ("account", "any"):
                yield from _exact_assume_edges(role, trust, assumers, access)
                _add_to_assume_set(assume_sets, role, trust, prefix)

    # role assumption through an account root or "*": callers whose sts:AssumeRole is broad
    broad_by_scope: dict[str, list[Identity]] = defaultdict(list)
    for source in assumers.broad:
        broad_by_scope[source.scope].append(source)
    for target_set in assume_sets.values():
        kind = target_set.trust_kind
        if kind == "any":
            candidates = assumers.broad
        else:
            candidates = broad_by_scope.get(target_set.account, []) if target_set.account else []
        for source in _narrowed(candidates, target_set.principal_tests):
            if not _trust_conditions(target_set.principal_tests, source)[0]:
                continue
            template = _assume_template(source, target_set, kind)
            yield from _fan_out(grants, source, "sts:AssumeRole", target_set, template)

    # passing a role to a service the caller can launch
    passers = indexes["iam:PassRole"]
    plans = [
        (path, principal, [p for p in path.required if p != "iam:PassRole"])
        for path in load_paths("aws")
        if path.category == "new-passrole" and "iam:PassRole" in path.required
        for principal in PASSROLE_SERVICES.get(
            next((p.split(":")[0] for p in path.required if p != "iam:PassRole"), ""), ()
        )
        if principal in service_sets
    ]
    others_groups = tuple(tuple(others) for _, _, others in plans)
    for path, principal, others in plans:  # callers naming exact role ARNs
        context = {"iam:passedtoservice": principal}
        for target_set in service_sets[principal].values():
            for role_id in target_set.tset.ordered(r for r in passers.exact if r in target_set.tset.members):
                for source in passers.exact[role_id]:
                    if access[source.id].allows_all(others):
                        grant = resource_grant(access[source.id], "iam:PassRole", role_id, source, context)
                        if grant is not None:
                            template = _passrole_template(path.id, path.required, principal, others, target_set)
                            yield template(source)(grant, frozenset()).edge_to(role_id)
    # callers with patterns: one group per path and target set, in path order (the first path
    # between two roles is the one a finding shows)
    held = {s.id: access[s.id].allows_each(others_groups) for s in passers.broad} if plans else {}
    for n, (path, principal, others) in enumerate(plans):
        context = {"iam:passedtoservice": principal}
        for target_set in service_sets[principal].values():
            template = _passrole_template(path.id, path.required, principal, others, target_set)
            for source in passers.broad:
                if held[source.id][n]:
                    yield from _fan_out(grants, source, "iam:PassRole", target_set, template(source), context)

    # credentials of IAM users, trust policies of roles (same account only)
    principal_sets: dict[str, dict[tuple[str, str | None], _AwsSet]] = defaultdict(dict)
    for target in identities:
        if target.kind not in ("aws.user", "aws.role") or target.provider_owned:
            continue
        prefix = arn_class(target.id)
        found = principal_sets[target.kind].get((target.scope, prefix))
        if found is None:
            what = "IAM users" if target.kind == "aws.user" else "roles"
            tset = TargetSet((target.kind, target.scope, prefix), f"{what} of account {target.scope}")
            found = principal_sets[target.kind][(target.scope, prefix)] = _AwsSet(tset, prefix)
        found.tset.add(target.id)
    for action, kind, edge_kind, how in PRINCIPAL_ACTIONS:
        index = indexes[action]
        if not index:
            continue
        for (scope, _), target_set in principal_sets.get(kind, {}).items():
            for target_id in target_set.tset.ordered(t for t in index.exact if t in target_set.tset.members):
                for source in index.exact[target_id]:
                    if source.id == target_id or source.scope != scope:
                        continue
                    grant = resource_grant(access[source.id], action, target_id, source)
                    if grant is not None:
                        template = _principal_template(source, target_set, action, edge_kind, how)
                        yield template(grant, frozenset()).edge_to(target_id)
            for source in index.broad:
                if source.scope == scope:
                    template = _principal_template(source, target_set, action, edge_kind, how)
                    yield from _fan_out(grants, source, action, target_set, template)


def _assume_template(source: Identity, target_set: _AwsSet, kind: str) -> Template:
    who = "admits its account" if kind == "account" else "admits any principal"

    def template(grant: ResourceGrant, excluded: frozenset[str]) -> EdgeGroup:
        return EdgeGroup(
            source.id,
            target_set.tset,
            "assume-role",
            f"can assume {{target}}: its trust policy {who} and {', '.join(grant.policies)} "
            "allows sts:AssumeRole on it",
            conditional=bool(grant.conditions),
            conditions=grant.conditions,
            excluded=excluded,
        )

    return template


def _passrole_template(
    path_id: str, required: tuple[str, ...] | list[str], principal: str, others: list[str], target_set: _AwsSet
) -> Callable[[Identity], Template]:
    def for_source(source: Identity) -> Template:
        def template(grant: ResourceGrant, excluded: frozenset[str]) -> EdgeGroup:
            return EdgeGroup(
                source.id,
                target_set.tset,
                "pass-role",
                f"can pass {{target}} to {principal} and run code as it ({' + '.join(required)}, "
                f"pathfinding.cloud {path_id}; iam:PassRole granted by {', '.join(grant.policies)})",
                conditional=grant.conditional,
                conditions=grant.conditions,
                evidence={"path": path_id, "service": principal, "other_permissions": others},
                excluded=excluded,
            )

        return template

    return for_source


def _principal_template(source: Identity, target_set: _AwsSet, action: str, edge_kind: str, how: str) -> Template:
    def template(grant: ResourceGrant, excluded: frozenset[str]) -> EdgeGroup:
        return EdgeGroup(
            source.id,
            target_set.tset,
            edge_kind,
            f"{how} ({action} granted by {', '.join(grant.policies)})",
            conditional=grant.conditional,
            conditions=grant.conditions,
            excluded=excluded,
        )

    return template


def _add_to_assume_set(
    assume_sets: dict[tuple[object, ...], _AwsSet], role: Identity, trust: Trust, prefix: str | None
) -> None:
    """File a role under the set of roles trusting the same account root (or ``*``) alike.

    Principal conditions decide *which* callers the trust admits, so they are part of the set's
    key; other conditions stay with the member (each role's own, shown on its edges).
    """
    kind = trust.principal_kind
    account = aws_account_of(trust.principal) if kind == "account" else None
    tests = condition_tests(trust.conditions)
    principal_tests = tuple(t for t in tests if t.key in PRINCIPAL_KEYS)
    unknown = tuple(t.label for t in tests if t.key not in PRINCIPAL_KEYS and t.base != "null")
    key = ("aws.assume", kind, account, prefix, principal_tests, bool(unknown))
    found = assume_sets.get(key)
    if found is None:
        where = f"the root of account {account}" if kind == "account" else "any principal"
        label = f"roles trusting {where}" + (" (with conditions)" if unknown else "")
        tset = TargetSet(key, label, conditional=bool(unknown))
        found = assume_sets[key] = _AwsSet(tset, prefix, principal_tests, kind, account)
    found.tset.add(role.id, Member({"trust_statement": trust.source, "principal": trust.principal}, unknown))


def _narrowed(candidates: list[Identity], tests: list[ConditionTest]) -> list[Identity]:
    """Callers that can pass an exact ``aws:PrincipalArn`` test, without trying each one."""
    for test in tests:
        if test.key == "aws:principalarn" and test.base in ("stringequals", "arnequals") and not test.negated:
            wanted = set(test.values)
            return [c for c in candidates if c.id in wanted] if len(wanted) < len(candidates) else candidates
    return candidates


def _exact_assume_edges(
    role: Identity, trust: Trust, assumers: ResourceIndex, access: Mapping[str, AwsAccess]
) -> Iterator[Edge]:
    """Account-root or ``*`` trusts, for callers whose sts:AssumeRole names exact role ARNs."""
    if trust.principal_kind == "account":
        account = aws_account_of(trust.principal)
        candidates = [s for s in assumers.exact.get(role.id, ()) if s.scope == account]
    else:
        candidates = list(assumers.exact.get(role.id, ()))
    if candidates:
        yield from _assume_edges(role, trust, candidates, False, access)


def _named_assume_edges(
    role: Identity,
    trust: Trust,
    by_id: dict[str, Identity],
    named: Callable[[tuple[str, str, str]], Identity | None],
    access: Mapping[str, AwsAccess],
) -> Iterator[Edge]:
    source = by_id.get(trust.principal) or _by_arn_name(trust.principal, named)
    if source is not None:
        yield from _assume_edges(role, trust, [source], True, access)


def _assume_edges(
    role: Identity, trust: Trust, candidates: list[Identity], named: bool, access: Mapping[str, AwsAccess]
) -> Iterator[Edge]:
    kind = trust.principal_kind
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


def _plain_assume(trust: Trust) -> bool:
    """sts:AssumeRole (not only the web identity / SAML variants) is granted."""
    return _grants_plain_assume(tuple(trust.actions))


@lru_cache(maxsize=1024)
def _grants_plain_assume(actions: tuple[str, ...]) -> bool:
    return any(like_match(action.lower(), "sts:assumerole") for action in actions)


def _by_arn_name(arn: str, named: Callable[[tuple[str, str, str]], Identity | None]) -> Identity | None:
    account = aws_account_of(arn)
    if account is None:
        return None
    resource = arn.split(":", 5)[-1]
    kind = "aws.role" if resource.startswith(("role/", "assumed-role/")) else "aws.user"
    name = resource.split("/")[-1] if not resource.startswith("assumed-role/") else resource.split("/")[1]
    return named((account, kind, name))
