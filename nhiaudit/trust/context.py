"""Per-analysis trust structures shared by the rules, built once and kept in ``ctx.memo``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nhiaudit.model import Severity
from nhiaudit.trust.environments import EnvironmentResolver
from nhiaudit.trust.graph import Edge, TrustGraph, build_graph, describe_path
from nhiaudit.trust.principals import Organization

if TYPE_CHECKING:
    from nhiaudit.policy.effective import AdminVerdict
    from nhiaudit.rules.base import AnalysisContext


def organization(ctx: AnalysisContext) -> Organization:
    if "trust.organization" not in ctx.memo:
        ctx.memo["trust.organization"] = Organization.build(ctx.inventory, ctx.settings)
    return ctx.memo["trust.organization"]


def environments(ctx: AnalysisContext) -> EnvironmentResolver:
    if "trust.environments" not in ctx.memo:
        ctx.memo["trust.environments"] = EnvironmentResolver(ctx.inventory, ctx.settings)
    return ctx.memo["trust.environments"]


def graph(ctx: AnalysisContext) -> TrustGraph:
    if "trust.graph" not in ctx.memo:
        ctx.memo["trust.graph"] = build_graph(ctx)
    return ctx.memo["trust.graph"]


@dataclass(frozen=True)
class AdminPath:
    """How an identity reaches an admin-equivalent one."""

    hops: tuple[Edge, ...]
    verdict: AdminVerdict

    @property
    def target(self) -> str:
        return self.hops[-1].target

    @property
    def conditional(self) -> bool:
        return any(h.conditional for h in self.hops) or self.verdict.conditional

    def conditions(self) -> list[str]:
        out: list[str] = []
        for hop in self.hops:
            out.extend(c for c in hop.conditions if c not in out)
        out.extend(c for c in self.verdict.conditions if c not in out)
        return out


def admin_paths(ctx: AnalysisContext) -> dict[str, AdminPath]:
    """Identity id -> shortest path to an admin-equivalent identity (only for identities that are
    not admin-equivalent themselves)."""
    if "trust.admin_paths" in ctx.memo:
        return ctx.memo["trust.admin_paths"]
    admins = [i for i, a in ctx.access.items() if a.admin is not None and a.admin.account_wide and _usable(ctx, i)]
    found = graph(ctx).paths_to(admins, usable=lambda node: _usable(ctx, node))
    result = {
        node: AdminPath(tuple(path), ctx.access[path[-1].target].admin)  # type: ignore[arg-type]
        for node, path in found.items()
        if node not in admins
    }
    ctx.memo["trust.admin_paths"] = result
    return result


def admin_reach(ctx: AnalysisContext, identity_id: str) -> tuple[str, AdminPath | None] | None:
    """('self', None) when the identity is admin-equivalent, ('path', p) when it can become one."""
    access = ctx.access.get(identity_id)
    if access is not None and access.admin is not None and access.admin.account_wide:
        return "self", None
    path = admin_paths(ctx).get(identity_id)
    return ("path", path) if path else None


def admin_note(ctx: AnalysisContext, identity_id: str) -> str | None:
    """A sentence for trust findings when the trusted identity is (or leads to) an admin."""
    reach = admin_reach(ctx, identity_id)
    if reach is None:
        return None
    kind, path = reach
    if kind == "self":
        return "The identity is admin-equivalent, so whoever can use this trust controls the whole scope."
    assert path is not None
    return (
        f"The identity can become the admin-equivalent {node_label(ctx, path.target)} "
        f"({len(path.hops)} step{'s' if len(path.hops) > 1 else ''}), so whoever can use this trust can too."
    )


def with_admin_note(
    ctx: AnalysisContext, identity_id: str, severity: Severity, description: str
) -> tuple[Severity, str]:
    """A trust finding's severity raised one step, and its description extended with ``admin_note``, when the
    trusted identity is (or leads to) an admin; unchanged otherwise."""
    note = admin_note(ctx, identity_id)
    if note is None:
        return severity, description
    return raised(severity), f"{description} {note}"


def admin_evidence(ctx: AnalysisContext, identity_id: str) -> dict[str, Any] | None:
    """For trust findings' evidence: whether (and how) the trusted identity is admin-equivalent."""
    reach = admin_reach(ctx, identity_id)
    if reach is None:
        return None
    kind, path = reach
    if path is None:
        return {"via": kind}
    return {"via": kind, "admin_identity": path.target, "path": path_evidence(ctx, path)}


def node_label(ctx: AnalysisContext, node: str) -> str:
    from nhiaudit.rules.base import describe

    identity = ctx.identity(node)
    return describe(identity) if identity else node


def path_text(ctx: AnalysisContext, path: AdminPath) -> str:
    return describe_path(list(path.hops), lambda node: node_label(ctx, node))


def path_evidence(ctx: AnalysisContext, path: AdminPath) -> list[dict[str, Any]]:
    hops = []
    for hop in path.hops:
        entry = hop.as_dict()
        entry["how"] = hop.how.replace("{target}", node_label(ctx, hop.target))
        hops.append(entry)
    return hops


def _usable(ctx: AnalysisContext, node: str) -> bool:
    identity = ctx.identity(node)
    return identity is None or not identity.disabled


def raised(severity: Severity, steps: int = 1) -> Severity:
    order = sorted(Severity, key=lambda s: s.rank)
    return order[min(len(order) - 1, severity.rank + steps)]
