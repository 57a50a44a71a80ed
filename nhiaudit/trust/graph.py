"""The "can become" graph: an edge A -> B means identity A can obtain B's privileges.

Edges come from one builder per provider (``EDGE_BUILDERS``, imported only when the inventory
holds that provider), each reading the normalized records and the effective access:

* AWS (``aws_edges``): role assumption (the role's trust admits A, by name, through A's account
  or through ``*``, and A's own policies allow ``sts:AssumeRole`` on the role where AWS requires
  it); passing a role to a compute service A can launch (``iam:PassRole`` plus a known
  pathfinding.cloud path); creating access keys or console passwords for an IAM user; rewriting
  a role's trust policy;
* GCP (``gcp``): impersonation (token creator, workload identity user, key creation, setting the
  service account's IAM policy) and acting as a service account where A can also deploy a
  resource that runs as it;
* Azure (``azure``): owners of an application or service principal (who can add credentials to
  it) and an application's credentials acting as its service principal.

Edges *from* an identity that is admin-equivalent itself are not built: it already reaches
everything in its scope, and skipping them keeps the graph small in large estates.

An edge is *conditional* when it holds only under conditions nhiaudit cannot evaluate (a trust
or policy Condition, a conditional IAM binding, ``act as`` without a deploy permission).
``paths_to_admin`` finds, for every identity at once, the shortest path to an admin-equivalent
identity, preferring paths without conditional edges.
"""

from __future__ import annotations

import importlib
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nhiaudit.rules.base import AnalysisContext

EDGE_BUILDERS: dict[str, str] = {
    "aws": "nhiaudit.trust.aws_edges:aws_edges",
    "gcp": "nhiaudit.trust.gcp:gcp_edges",
    "azure": "nhiaudit.trust.azure:azure_edges",
}
"""provider -> 'module:function(ctx) -> Iterable[Edge]'."""

MAX_DEPTH = 6


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    kind: str
    """assume-role | pass-role | create-access-key | console-password | rewrite-trust | impersonate |
    create-key | set-iam-policy | act-as | owner | application"""
    how: str
    """Words for a finding: 'can assume it: its trust policy names the account and policy x allows ...'."""
    conditional: bool = False
    conditions: tuple[str, ...] = ()
    evidence: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "from": self.source,
            "to": self.target,
            "kind": self.kind,
            "how": self.how,
            "conditional": self.conditional,
            "conditions": list(self.conditions),
            **({"evidence": self.evidence} if self.evidence else {}),
        }


@dataclass
class TrustGraph:
    edges_from: dict[str, list[Edge]] = field(default_factory=lambda: defaultdict(list))
    edges_to: dict[str, list[Edge]] = field(default_factory=lambda: defaultdict(list))
    count: int = 0
    _index: dict[tuple[str, str, str], Edge] = field(default_factory=dict, repr=False)

    def add(self, edge: Edge) -> None:
        """Add an edge; of several edges of one kind between two nodes, the unconditional one is kept."""
        if edge.source == edge.target:
            return
        key = (edge.source, edge.target, edge.kind)
        old = self._index.get(key)
        if old is not None:
            if old.conditional and not edge.conditional:
                self._index[key] = edge
                out, into = self.edges_from[edge.source], self.edges_to[edge.target]
                out[out.index(old)] = edge
                into[into.index(old)] = edge
            return
        self._index[key] = edge
        self.edges_from[edge.source].append(edge)
        self.edges_to[edge.target].append(edge)
        self.count += 1

    def out(self, node: str) -> list[Edge]:
        return self.edges_from.get(node, [])

    def into(self, node: str) -> list[Edge]:
        return self.edges_to.get(node, [])

    def paths_to(self, targets: Iterable[str], *, usable: Callable[[str], bool]) -> dict[str, list[Edge]]:
        """Shortest path from every node that can reach one of ``targets``, by reverse BFS.

        Paths through unconditional edges win over shorter paths that need a conditional edge.
        ``usable(node)`` rules out intermediate nodes (disabled identities).
        """
        best: dict[str, list[Edge]] = {}
        for allow_conditional in (False, True):
            nxt: dict[str, Edge | None] = {t: None for t in targets}
            queue = deque((t, 0) for t in nxt)
            while queue:
                node, depth = queue.popleft()
                if depth >= MAX_DEPTH:
                    continue
                for edge in self.into(node):
                    if edge.conditional and not allow_conditional:
                        continue
                    if edge.source in nxt or not usable(edge.source):
                        continue
                    nxt[edge.source] = edge
                    queue.append((edge.source, depth + 1))
            for node, edge in nxt.items():
                if edge is None or node in best:
                    continue
                path: list[Edge] = []
                step: Edge | None = edge
                while step is not None:
                    path.append(step)
                    step = nxt.get(step.target)
                best[node] = path
        return best


def build_graph(ctx: AnalysisContext) -> TrustGraph:
    graph = TrustGraph()
    providers = sorted({i.provider for i in ctx.inventory.identities})
    for provider in providers:
        target = EDGE_BUILDERS.get(provider)
        if target is None:
            continue
        module, func = target.split(":")
        builder: Callable[[AnalysisContext], Iterable[Edge]] = getattr(importlib.import_module(module), func)
        for edge in builder(ctx):
            graph.add(edge)
    return graph


def describe_path(path: list[Edge], label: Callable[[str], str]) -> str:
    """'can assume Role a (1), which can impersonate Service account b (p)'."""
    parts = []
    for n, edge in enumerate(path):
        lead = "" if n == 0 else ", which "
        parts.append(f"{lead}{edge.how.replace('{target}', label(edge.target))}")
    return "".join(parts)


def iter_hops(path: list[Edge]) -> Iterator[dict[str, Any]]:
    for edge in path:
        yield edge.as_dict()
