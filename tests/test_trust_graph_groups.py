"""The can-become graph at scale: target-independent AWS grants become edge groups.

The groups must stand for exactly the edges a per-pair evaluation gives (checked against a
reference that evaluates every (caller, target) pair with ``resource_grant``, as the graph
did before groups), paths through them must name concrete hops, and a caller with
``iam:PassRole`` / ``iam:CreateAccessKey`` on ``*`` must cost one group, not one edge per target.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import pytest

from nhiaudit.catalogs.privesc import load_paths
from nhiaudit.collectors.aws_authz import AuthzConverter
from nhiaudit.model import Identity, Inventory
from nhiaudit.policy.aws import AwsAccess
from nhiaudit.rules.base import AnalysisContext
from nhiaudit.trust.aws_conditions import condition_tests
from nhiaudit.trust.aws_edges import PASSROLE_SERVICES, PRINCIPAL_ACTIONS, _trust_conditions
from nhiaudit.trust.aws_grants import (
    ALWAYS,
    DEPENDS,
    LITERAL,
    NEVER,
    ActionBits,
    ClassGrants,
    arn_class,
    pattern_reach,
    resource_grant,
)
from nhiaudit.trust.context import admin_paths, graph, path_evidence
from nhiaudit.trust.graph import Edge, EdgeGroup, Member, TargetSet, TrustGraph
from nhiaudit.trust.principals import aws_account_of
from tests.trust_support import by_identity, context, run

A, B = "111122223333", "444455556666"
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
ROLES = f"arn:aws:iam::{A}:role/"
USERS = f"arn:aws:iam::{A}:user/"


def _inventory(roles: list[dict[str, Any]], users: list[dict[str, Any]]) -> Inventory:
    policies = [
        {
            "PolicyName": "AdministratorAccess",
            "Arn": ADMIN,
            "DefaultVersionId": "v1",
            "PolicyVersionList": [
                {
                    "VersionId": "v1",
                    "IsDefaultVersion": True,
                    "Document": {
                        "Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
                    },
                }
            ],
        }
    ]
    converter = AuthzConverter(where="test", snapshot=datetime(2026, 11, 1, tzinfo=UTC))
    converter.add_policies(policies)
    converter.add_roles(roles)
    converter.add_users(users, None)
    out = converter.out
    return Inventory(identities=out.identities, policies=out.policies, grants=out.grants, trusts=out.trusts)


def _role(
    name: str,
    trust: dict[str, Any],
    statements: list[dict[str, Any]] | None = None,
    *,
    account: str = A,
    path: str = "/",
    admin: bool = False,
    tags: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "RoleName": name,
        "Arn": f"arn:aws:iam::{account}:role{path}{name}",
        "Path": path,
        "CreateDate": "2025-01-01T00:00:00Z",
        "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [trust]},
        "RolePolicyList": (
            [{"PolicyName": "inline", "PolicyDocument": {"Version": "2012-10-17", "Statement": statements}}]
            if statements
            else []
        ),
        "AttachedManagedPolicies": [{"PolicyName": "AdministratorAccess", "PolicyArn": ADMIN}] if admin else [],
        "Tags": [{"Key": k, "Value": v} for k, v in (tags or {}).items()],
    }


def _user(name: str, *, account: str = A, path: str = "/", tags: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "UserName": name,
        "Arn": f"arn:aws:iam::{account}:user{path}{name}",
        "Path": path,
        "CreateDate": "2025-01-01T00:00:00Z",
        "UserPolicyList": [],
        "AttachedManagedPolicies": [],
        "GroupList": [],
        "Tags": [{"Key": k, "Value": v} for k, v in (tags or {}).items()],
    }


def _service(principal: str) -> dict[str, Any]:
    return {"Effect": "Allow", "Principal": {"Service": principal}, "Action": "sts:AssumeRole"}


@pytest.mark.parametrize(
    ("pattern", "prefix", "reach"),
    [
        ("*", ROLES, ALWAYS),
        (f"{ROLES}*", ROLES, ALWAYS),
        ("arn:aws:iam::*:role/*", ROLES, ALWAYS),
        ("arn:aws:iam::????????????:role/*", ROLES, ALWAYS),
        (f"arn:aws:iam::{A}:*", ROLES, ALWAYS),
        ("arn:aws:iam::*", ROLES, ALWAYS),
        ("arn:*:iam::*:role/*", ROLES, ALWAYS),
        (f"{ROLES}?*", ROLES, ALWAYS),
        ("arn:aws:iam::*:role/*", USERS, NEVER),  # a name cannot hold the ':' of ':role/'
        ("arn:aws:iam::*:user/*", ROLES, NEVER),
        (f"arn:aws:iam::{B}:role/*", ROLES, NEVER),
        ("arn:aws:s3:::bucket/*", ROLES, NEVER),
        (ROLES, ROLES, NEVER),  # the prefix alone names no role
        (f"{ROLES}deploy", ROLES, LITERAL),
        (f"{ROLES}service-role/deploy", ROLES, LITERAL),
        (f"arn:aws:iam::{B}:role/deploy", ROLES, NEVER),
        (f"{ROLES}app-*", ROLES, DEPENDS),
        (f"{ROLES}service-role/*", ROLES, DEPENDS),
        (f"{ROLES}?", ROLES, DEPENDS),
        (f"{ROLES}*-prod", ROLES, DEPENDS),
    ],
)
def test_pattern_reach(pattern: str, prefix: str, reach: str) -> None:
    assert pattern_reach(pattern, prefix) == reach


def test_arn_class() -> None:
    assert arn_class(f"{ROLES}service-role/deploy") == ROLES
    assert arn_class(f"{USERS}svc") == USERS
    assert arn_class("arn:aws:iam::111122223333:role/a:b") is None  # not a name IAM allows
    assert arn_class("not-an-arn") is None


# --- equivalence with a per-pair evaluation ---------------------------------------------------

RESOURCES = [
    "*",
    f"{ROLES}*",
    "arn:aws:iam::*:role/*",
    f"{USERS}*",
    "arn:aws:iam::*:user/*",
    f"arn:aws:iam::{A}:*",
    f"{ROLES}app-*",
    f"{ROLES}service-role/*",
    f"{USERS}${{aws:username}}",
    f"{ROLES}${{aws:PrincipalTag/team}}",
    "arn:aws:s3:::bucket/*",
    f"{ROLES}r3",
    f"{ROLES}service-role/r4",
    f"{USERS}ops/u1",
    f"arn:aws:iam::{B}:role/*",
    f"{ROLES}r1*",
    f"{ROLES}?*",
]
ACTIONS = [
    "sts:AssumeRole",
    "iam:PassRole",
    "iam:CreateAccessKey",
    "iam:CreateLoginProfile",
    "iam:UpdateLoginProfile",
    "iam:UpdateAssumeRolePolicy",
    "iam:*",
    "*",
]
OTHERS = ["lambda:CreateFunction", "lambda:InvokeFunction", "ec2:RunInstances", "glue:*", "cloudformation:CreateStack"]
CONDITIONS = [
    {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}},
    {"StringNotEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
    {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}},
]
SERVICES = ["lambda.amazonaws.com", "ec2.amazonaws.com", "glue.amazonaws.com", "cloudformation.amazonaws.com"]


def _statement(rnd: random.Random, effect: str = "Allow") -> dict[str, Any]:
    st: dict[str, Any] = {"Effect": effect, "Action": rnd.sample(ACTIONS, 2) + rnd.sample(OTHERS, rnd.randint(0, 3))}
    st["NotResource" if rnd.random() < 0.1 else "Resource"] = rnd.sample(RESOURCES, rnd.choice([1, 1, 2]))
    if rnd.random() < 0.25:
        st["Condition"] = rnd.choice(CONDITIONS)
    return st


def _trust(rnd: random.Random, names: list[str]) -> dict[str, Any]:
    r = rnd.random()
    if r < 0.25:
        principal: dict[str, Any] = {"AWS": f"arn:aws:iam::{rnd.choice([A, A, B])}:root"}
    elif r < 0.35:
        principal = {"AWS": "*"}
    elif r < 0.5:
        principal = {"AWS": f"{ROLES}{rnd.choice(names)}"}
    else:
        return _service(rnd.choice(SERVICES))
    trust: dict[str, Any] = {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}
    c = rnd.random()
    if c < 0.15:
        trust["Condition"] = {"StringEquals": {"sts:ExternalId": "x"}}
    elif c < 0.25:
        trust["Condition"] = {"ArnLike": {"aws:PrincipalArn": f"{ROLES}r1*"}}
    return trust


def _random_inventory(seed: int) -> Inventory:
    rnd = random.Random(seed)
    names = [f"r{n}" for n in range(40)] + ["app-1", "app-2"]
    roles = []
    for name in names:
        statements = [_statement(rnd) for _ in range(rnd.randint(0, 3))]
        if statements and rnd.random() < 0.3:
            statements.append(_statement(rnd, "Deny"))
        roles.append(
            _role(
                name,
                _trust(rnd, names),
                statements,
                account=A if rnd.random() < 0.85 else B,
                path=rnd.choice(["/", "/service-role/", "/a/b/"]),
                admin=rnd.random() < 0.08,
            )
        )
    users = [_user(f"u{n}", path=rnd.choice(["/", "/ops/"])) for n in range(12)]
    for n, user in enumerate(users):
        if n % 3 == 0:
            statements = [_statement(rnd) for _ in range(2)]
            user["UserPolicyList"] = [
                {"PolicyName": "u", "PolicyDocument": {"Version": "2012-10-17", "Statement": statements}}
            ]
    return _inventory(roles, users)


def _reference(ctx: AnalysisContext) -> dict[tuple[str, str, str], list[Edge]]:
    """Every AWS edge the graph must hold, evaluating each (caller, target) pair on its own."""
    identities = [i for i in ctx.inventory.identities if i.provider == "aws"]
    access = {
        i.id: a
        for i in identities
        if isinstance(a := ctx.access.get(i.id), AwsAccess) and (a.admin is None or not a.admin.account_wide)
    }
    sources = [i for i in identities if i.id in access and not i.provider_owned]
    found: dict[tuple[str, str, str], list[Edge]] = {}

    def add(source: Identity, target: Identity, kind: str, conditional: bool, conditions: tuple[str, ...]) -> None:
        if source.id != target.id:
            found.setdefault((source.id, target.id, kind), []).append(
                Edge(source.id, target.id, kind, "", conditional, conditions)
            )

    roles = [i for i in identities if i.kind == "aws.role"]
    for role in roles:
        for trust in ctx.trusts(role.id):
            if trust.principal_kind not in ("account", "any") or "sts:AssumeRole" not in trust.actions:
                continue
            account = aws_account_of(trust.principal)
            for source in sources:
                if trust.principal_kind == "account" and source.scope != account:
                    continue
                possible, unknown = _trust_conditions(condition_tests(trust.conditions), source)
                grant = resource_grant(access[source.id], "sts:AssumeRole", role.id, source) if possible else None
                if grant is not None:
                    conditions = tuple(unknown) + tuple(c for c in grant.conditions if c not in unknown)
                    add(source, role, "assume-role", bool(conditions), conditions)
    for path in load_paths("aws"):
        if path.category != "new-passrole" or "iam:PassRole" not in path.required:
            continue
        others = [p for p in path.required if p != "iam:PassRole"]
        for principal in PASSROLE_SERVICES.get(others[0].split(":")[0], ()):
            trusting = [
                r
                for r in roles
                if any(t.principal.lower() == principal for t in ctx.trusts(r.id) if t.principal_kind == "service")
            ]
            for role in trusting:
                for source in sources:
                    if access[source.id].allows_all(others):
                        context = {"iam:passedtoservice": principal}
                        grant = resource_grant(access[source.id], "iam:PassRole", role.id, source, context)
                        if grant is not None:
                            add(source, role, "pass-role", grant.conditional, grant.conditions)
    for action, kind, edge_kind, _ in PRINCIPAL_ACTIONS:
        for target in identities:
            if target.kind != kind:
                continue
            for source in sources:
                if source.scope == target.scope:
                    grant = resource_grant(access[source.id], action, target.id, source)
                    if grant is not None:
                        add(source, target, edge_kind, grant.conditional, grant.conditions)
    return found


@pytest.mark.parametrize("seed", range(6))
def test_groups_stand_for_exactly_the_per_pair_edges(seed: int) -> None:
    ctx = context(_random_inventory(seed))
    g = graph(ctx)
    assert g.groups > 0
    reference = _reference(ctx)
    kinds = {"assume-role", "pass-role", "create-access-key", "console-password", "rewrite-trust"}
    actual = {(e.source, e.target, e.kind): e for n in list(g.edges_from) for e in g.out(n) if e.kind in kinds}
    named = {k for k, e in actual.items() if "names it" in e.how}  # trusts naming the caller: not per pair here
    assert set(actual) - named == set(reference) - named
    for key, edge in actual.items():
        if key in named:
            continue
        candidates = reference[key]
        if any(not c.conditional for c in candidates):
            assert not edge.conditional, key  # the unconditional one wins
        else:
            assert edge.conditional and edge.conditions in {c.conditions for c in candidates}, key
    # into() agrees with out()
    for source, target, kind in actual:
        assert any(e.source == source and e.kind == kind for e in g.into(target)), (source, target, kind)


def test_class_grant_agrees_with_resource_grant() -> None:
    rnd = random.Random(11)
    targets = [f"{ROLES}{p}{n}" for n in range(8) for p in ("", "service-role/", "app-")] + [f"{ROLES}r3"]
    for _ in range(150):
        statements = [_statement(rnd) for _ in range(rnd.randint(1, 3))] + (
            [_statement(rnd, "Deny")] if rnd.random() < 0.3 else []
        )
        inventory = _inventory([_role("caller", _service("lambda.amazonaws.com"), statements)], [])
        ctx = context(inventory)
        caller = inventory.identities[0]
        access = ctx.access[caller.id]
        assert isinstance(access, AwsAccess)
        grants = ClassGrants({caller.id: access}, ActionBits(["iam:PassRole", "sts:AssumeRole"]))
        for action, context_ in (
            ("iam:PassRole", {"iam:passedtoservice": "lambda.amazonaws.com"}),
            ("sts:AssumeRole", {}),
        ):
            found = grants.get(caller, action, targets, ROLES, context_)
            for target in targets:
                if target not in found.exceptions:
                    assert resource_grant(access, action, target, caller, context_) == found.grant, (statements, target)


# --- the graph: groups, paths, environments --------------------------------------------------


def test_paths_through_groups_name_concrete_hops_and_respect_exclusions() -> None:
    g = TrustGraph()
    roles = TargetSet(("roles",), "roles")
    for name in ("admin-1", "admin-2", "worker"):
        roles.add(f"{ROLES}{name}")
    # ci can pass every role but admin-1 (a statement names it: judged apart, and denied)
    g.add(EdgeGroup(f"{ROLES}ci", roles, "pass-role", "can pass {target}", excluded=frozenset({f"{ROLES}admin-1"})))
    # dev can assume anything, only under a condition; ops can become ci
    g.add(EdgeGroup(f"{ROLES}dev", roles, "assume-role", "can assume {target}", conditional=True, conditions=("c",)))
    g.add(Edge(f"{ROLES}ops", f"{ROLES}ci", "assume-role", "can assume {target}"))
    assert [e.target for e in g.out(f"{ROLES}ci")] == [f"{ROLES}admin-2", f"{ROLES}worker"]
    assert {e.source for e in g.into(f"{ROLES}admin-1")} == {f"{ROLES}dev"}
    assert g.pairs() == 2 + 3 + 1 and g.count == 3

    found = g.paths_to([f"{ROLES}admin-1", f"{ROLES}admin-2"], usable=lambda _: True)
    assert [e.target for e in found[f"{ROLES}ci"]] == [f"{ROLES}admin-2"]  # not through the excluded admin-1
    assert [(e.source, e.target) for e in found[f"{ROLES}ops"]] == [
        (f"{ROLES}ops", f"{ROLES}ci"),
        (f"{ROLES}ci", f"{ROLES}admin-2"),
    ]
    dev = found[f"{ROLES}dev"]
    assert len(dev) == 1 and dev[0].conditional and dev[0].conditions == ("c",)
    assert dev[0].target in (f"{ROLES}admin-1", f"{ROLES}admin-2")

    unusable = g.paths_to([f"{ROLES}admin-2"], usable=lambda node: node != f"{ROLES}ci")
    assert f"{ROLES}ci" not in unusable and f"{ROLES}ops" not in unusable


def test_unconditional_parallel_edge_wins_in_a_conditional_search() -> None:
    g = TrustGraph()
    users = TargetSet(("users",), "users")
    users.add(f"{USERS}admin")
    g.add(Edge(f"{ROLES}x", f"{ROLES}gate", "assume-role", "can assume {target}", True, ("c1",)))
    g.add(EdgeGroup(f"{ROLES}gate", users, "create-access-key", "keys", conditional=True, conditions=("c2",)))
    g.add(EdgeGroup(f"{ROLES}x", users, "create-access-key", "keys", conditional=True, conditions=("c3",)))
    g.add(EdgeGroup(f"{ROLES}x", users, "console-password", "password"))
    found = g.paths_to([f"{USERS}admin"], usable=lambda _: True)
    assert [(e.kind, e.conditional) for e in found[f"{ROLES}x"]] == [("console-password", False)]


def test_target_set_members_share_conditionality() -> None:
    tset = TargetSet(("t",), "t", conditional=True)
    tset.add("a", Member({"trust_statement": "statement 1"}, ("StringEquals sts:externalid = x",)))
    with pytest.raises(ValueError, match="conditionality"):
        tset.add("b")


def _ci_estate(roles: int, users: int) -> Inventory:
    ci = _role(
        "ci-deployer",
        _service("codebuild.amazonaws.com"),
        [
            {
                "Effect": "Allow",
                "Action": ["iam:PassRole", "lambda:CreateFunction", "lambda:InvokeFunction"],
                "Resource": "*",
            },
            {"Effect": "Allow", "Action": "iam:CreateAccessKey", "Resource": f"{USERS}*"},
            {"Effect": "Deny", "Action": "iam:PassRole", "Resource": f"{ROLES}fn-0"},
        ],
        tags={"env": "dev"},
    )
    functions = [
        _role(
            f"fn-{n}", _service("lambda.amazonaws.com"), admin=n == roles - 1, tags={"env": "prod"} if n == 7 else None
        )
        for n in range(roles)
    ]
    return _inventory([ci, *functions], [_user(f"svc-{n}") for n in range(users)])


def test_a_broad_grant_is_one_group_not_one_edge_per_target() -> None:
    ctx = context(_ci_estate(1500, 500))
    g = graph(ctx)
    ci = f"{ROLES}ci-deployer"
    assert g.explicit == 0  # fn-0 is denied, so judged apart and dropped
    assert len(g.groups_out(ci)) == 2  # pass-role (one lambda path), create-access-key
    assert g.pairs() == 1499 + 500
    assert f"{ROLES}fn-0" not in {e.target for e in g.out(ci)}

    path = admin_paths(ctx)[ci]
    assert path.target == f"{ROLES}fn-1499"  # the concrete admin, not the group
    hops = path_evidence(ctx, path)
    assert hops[0]["to"] == f"{ROLES}fn-1499" and hops[0]["kind"] == "pass-role"
    assert "Role fn-1499" in hops[0]["how"] and hops[0]["evidence"]["service"] == "lambda.amazonaws.com"

    crossing = by_identity(run(ctx, "environment-crossing"), "environment-crossing")
    assert crossing["ci-deployer"].evidence["production"][0]["what"] == f"Role fn-7 ({A})"


def test_groups_keep_account_boundaries() -> None:
    ci = _role(
        "ci",
        _service("codebuild.amazonaws.com"),
        [{"Effect": "Allow", "Action": ["iam:CreateAccessKey", "iam:UpdateAssumeRolePolicy"], "Resource": "*"}],
    )
    inventory = _inventory(
        [ci, _role("other", _service("lambda.amazonaws.com"), account=B)], [_user("a"), _user("b", account=B)]
    )
    g = graph(context(inventory))
    assert {(e.kind, e.target) for e in g.out(f"{ROLES}ci")} == {("create-access-key", f"{USERS}a")}
