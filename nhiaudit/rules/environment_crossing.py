"""environment-crossing: one NHI spans production and non-production environments."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

from nhiaudit.model import Confidence, Finding, Identity, Severity, Trust
from nhiaudit.rules.base import AnalysisContext, Rule, RuleMeta, describe
from nhiaudit.trust.aws_conditions import condition_tests
from nhiaudit.trust.context import environments, graph
from nhiaudit.trust.environments import Environment, EnvironmentResolver
from nhiaudit.trust.graph import TargetSet
from nhiaudit.trust.principals import aws_account_of, parse_member

GCP_SCOPE_RE = re.compile(r"(?:^|/)(projects|folders|organizations)/([^/]+)")
AZURE_SCOPE_RE = re.compile(r"^/subscriptions/([^/]+)", re.IGNORECASE)
AZURE_MG_RE = re.compile(r"/managementGroups/([^/]+)", re.IGNORECASE)


@dataclass(frozen=True)
class Place:
    relation: str
    """identity | holds grants in | is trusted from | can be impersonated by | is federated to | can become"""
    what: str
    environment: Environment

    def as_dict(self) -> dict[str, object]:
        return {
            "relation": self.relation,
            "what": self.what,
            "environment": self.environment.name,
            "production": self.environment.production,
            "how": self.environment.how,
        }


class EnvironmentCrossing(Rule):
    meta = RuleMeta(
        id="environment-crossing",
        title="NHI spans production and non-production",
        severity=Severity.HIGH,
        rationale=(
            "An identity used in both production and non-production (trusted from a development account, "
            "holding grants in a test and a production project, assumed by a staging deployment) lets a "
            "compromise of the weaker environment reach production, and makes it impossible to tell from the "
            "audit log which environment acted. Environments come from the [environments] section of the config "
            "file (patterns of account, project and subscription ids or names, and of identity ids or names), "
            "then from environment / env / stage tags and labels, then from words such as prod, dev, test or "
            "staging in account, project and subscription names, and last in identity names (low confidence). "
            "A GitHub deployment environment in a federated subject (repo:ORG/REPO:environment:staging) counts "
            "for the workload it names, and an identity that can become another one (assume, impersonate) "
            "reaches that one's environment."
        ),
        remediation=(
            "Give each environment its own identity: a separate role, service account or managed identity per "
            "environment, trusted only from and granted only in that environment. Deploy to production from a "
            "production-only pipeline identity, and remove the trust or grant that crosses over."
        ),
        owasp_nhi=("NHI8:2025", "NHI9:2025"),
        nist_800_207=("Tenet 3", "Tenet 4"),
        nist_800_53=("AC-6", "AC-2(9)", "IA-4"),
    )

    def check(self, ctx: AnalysisContext) -> Iterator[Finding]:
        resolver = environments(ctx)
        grant_scopes: dict[str, set[str]] = defaultdict(set)
        for grant in ctx.inventory.grants:
            if grant.scope:
                grant_scopes[grant.identity_id].add(_grant_scope(grant.scope))
        for identity in ctx.nhis():
            places = self._places(ctx, resolver, identity, grant_scopes.get(identity.id, set()))
            prod = [p for p in places if p.environment.production is True]
            nonprod = [p for p in places if p.environment.production is False]
            if not prod or not nonprod:
                continue
            best_prod = max(prod, key=lambda p: p.environment.strength)
            best_non = max(nonprod, key=lambda p: p.environment.strength)
            weakest = min(best_prod.environment.strength, best_non.environment.strength)
            severity = self.meta.severity
            confidence = {2: Confidence.HIGH, 1: Confidence.MEDIUM}.get(weakest, Confidence.LOW)
            if confidence == Confidence.LOW:
                severity = Severity.MEDIUM
            description = (
                f"{describe(identity)} spans production and non-production: "
                + "; ".join(_sentence(p) for p in (best_prod, best_non))
                + "."
            )
            others = [p for p in places if p not in (best_prod, best_non) and p.environment.production is not None]
            if others:
                description += f" {len(others)} more environment link{'s' if len(others) > 1 else ''} in the evidence."
            yield self.finding(
                ctx,
                identity,
                description=description,
                severity=severity,
                confidence=confidence,
                evidence={
                    "production": [p.as_dict() for p in prod],
                    "non_production": [p.as_dict() for p in nonprod],
                },
            )

    def _places(
        self, ctx: AnalysisContext, resolver: EnvironmentResolver, identity: Identity, grant_scopes: set[str]
    ) -> list[Place]:
        places: list[Place] = []
        own = resolver.of_identity(identity)
        if own is not None:
            places.append(Place("identity", describe(identity), own))
        scopes = {identity.scope} | grant_scopes
        for scope in sorted(scopes):
            env = resolver.of_scope(identity.provider, scope)
            if env is not None and not (own is not None and own.how == env.how):
                places.append(Place("holds grants in", resolver.scope_label(identity.provider, scope), env))
        for trust in ctx.trusts(identity.id):
            place = _trusted_from(ctx, resolver, identity, trust)
            if place is not None:
                places.append(place)
        for target, env in _reached(ctx, resolver, identity):
            places.append(Place("can become", describe(target), env))
        return places


def _reached(
    ctx: AnalysisContext, resolver: EnvironmentResolver, identity: Identity
) -> list[tuple[Identity, Environment]]:
    """One identity per kind of environment (production, non-production, other) that ``identity``
    can become: the one whose environment is best established, the first in the inventory on
    ties. One example per kind is enough evidence, so a group of edges (``graph.EdgeGroup``) is
    read through its target set's ranking (``_set_environments``) instead of being expanded."""
    g = graph(ctx)
    order = _positions(ctx)
    best: dict[bool | None, tuple[tuple[int, int], Identity, Environment]] = {}

    def consider(target: Identity, env: Environment) -> None:
        rank = (-env.strength, order.get(target.id, len(order)))
        held = best.get(env.production)
        if held is None or rank < held[0]:
            best[env.production] = (rank, target, env)

    for edge in g.explicit_out(identity.id):
        target = ctx.identity(edge.target)
        env = resolver.of_identity(target) if target is not None else None
        if target is not None and env is not None:
            consider(target, env)
    for group in g.groups_out(identity.id):
        for ranked in _set_environments(ctx, resolver, group.targets).values():
            for target, env in ranked:  # best first: the first member the group covers
                if group.covers(target.id):
                    consider(target, env)
                    break
    return [(target, env) for _, target, env in best.values()]


def _positions(ctx: AnalysisContext) -> dict[str, int]:
    if "environment-crossing.positions" not in ctx.memo:
        ctx.memo["environment-crossing.positions"] = {i.id: n for n, i in enumerate(ctx.inventory.identities)}
    return ctx.memo["environment-crossing.positions"]


def _set_environments(
    ctx: AnalysisContext, resolver: EnvironmentResolver, targets: TargetSet
) -> dict[bool | None, list[tuple[Identity, Environment]]]:
    """A target set's members by kind of environment, best established first (memoized)."""
    memo = ctx.memo.setdefault("environment-crossing.sets", {})
    found = memo.get(id(targets))
    if found is None:
        order = _positions(ctx)
        found = defaultdict(list)
        for member in targets.members:
            target = ctx.identity(member)
            env = resolver.of_identity(target) if target is not None else None
            if target is not None and env is not None:
                found[env.production].append((target, env))
        for ranked in found.values():
            ranked.sort(key=lambda pair: (-pair[1].strength, order.get(pair[0].id, len(order))))
        memo[id(targets)] = found
    return found


def _sentence(place: Place) -> str:
    env = place.environment
    if place.relation == "identity":
        return f"it is itself {env.label} ({env.how})"
    return f"it {place.relation} {place.what}, {env.label} ({env.how})"


def _grant_scope(scope: str) -> str:
    match = AZURE_SCOPE_RE.match(scope)
    if match:
        return match.group(1)
    match = AZURE_MG_RE.search(scope)
    if match:
        return match.group(1)
    match = GCP_SCOPE_RE.search(scope)
    if match:
        return match.group(2)
    return scope


def _trusted_from(
    ctx: AnalysisContext, resolver: EnvironmentResolver, identity: Identity, trust: Trust
) -> Place | None:
    kind = trust.principal_kind
    if kind in ("account", "role", "user"):
        source = ctx.identity(trust.principal)
        if source is not None:
            env = resolver.of_identity(source)
            return Place("is trusted from", describe(source), env) if env else None
        account = aws_account_of(trust.principal)
        name = None if trust.principal.endswith(":root") else trust.principal.rsplit("/", 1)[-1]
        env = resolver.of_principal("aws", trust.principal, name, account)
        what = f"account {account}" if name is None else f"{trust.principal}"
        return Place("is trusted from", what, env) if env else None
    if kind == "gcp_member":
        member = parse_member(trust.principal)
        if member.kind != "serviceAccount" or member.email is None:
            return None
        if not (trust.source or "").lower().startswith("serviceaccount:"):
            return None  # a grant on the project or above: judged on the member, through its grants
        source = ctx.identity(member.email) or ctx.identity(member.value)
        if source is not None:
            env = resolver.of_identity(source)
            return Place("can be impersonated by", describe(source), env) if env else None
        env = resolver.of_principal("gcp", member.email, member.email.split("@", 1)[0], member.project)
        return Place("can be impersonated by", member.raw, env) if env else None
    subjects: list[str] = []
    if kind == "azure_federated":
        subject = trust.conditions.get("subject")
        if isinstance(subject, str):
            subjects.append(subject)
    elif kind == "oidc":
        subjects.extend(v for t in condition_tests(trust.conditions) if t.key.endswith(":sub") for v in t.values)
    for subject in subjects:
        env = resolver.of_subject(subject)
        if env is not None:
            return Place("is federated to", f"the workload {subject!r}", env)
    return None
