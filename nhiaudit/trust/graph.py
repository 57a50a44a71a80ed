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

Representation. A grant that does not depend on the target (``iam:PassRole`` or
``iam:CreateAccessKey`` on ``*``, ``sts:AssumeRole`` on ``arn:aws:iam::*:role/*``) reaches every
identity of a kind, which in a real account is thousands of pairs per source. Such a grant is
stored once, as an ``EdgeGroup``: one source, one ``TargetSet`` ("IAM users of account A",
"roles of account A trusting lambda.amazonaws.com", "roles trusting the root of account A"),
one edge template. Grants on specific resources, trusts naming one principal, and the GCP and
Azure edges stay explicit ``Edge`` objects. ``out()`` and ``into()`` expand groups into concrete
edges for one node on demand; ``paths_to`` walks groups without expanding them: the first time
the search reaches any member of a target set it claims every source of that set's groups at
once, so each set and each source is handled once per search and the cost is linear in
identities, explicit edges and groups, not in the pairs the groups stand for. A path always
names concrete hops (a group is expanded to the one target the path goes through).

Several edges of one kind between two nodes count as one: the unconditional one wins, else the
first (explicit edges before groups).

An edge is *conditional* when it holds only under conditions nhiaudit cannot evaluate (a trust
or policy Condition, a conditional IAM binding, ``act as`` without a deploy permission).
``paths_to_admin`` finds, for every identity at once, the shortest path to an admin-equivalent
identity, preferring paths without conditional edges.
"""

from __future__ import annotations

import importlib
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nhiaudit.rules.base import AnalysisContext

EDGE_BUILDERS: dict[str, str] = {
    "aws": "nhiaudit.trust.aws_edges:aws_edges",
    "gcp": "nhiaudit.trust.gcp:gcp_edges",
    "azure": "nhiaudit.trust.azure:azure_edges",
}
"""provider -> 'module:function(ctx) -> Iterable[Edge | EdgeGroup]'."""

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


@dataclass(frozen=True)
class Member:
    """What one target of a ``TargetSet`` adds to the edges into it (the trust statement it came from)."""

    evidence: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    conditions: tuple[str, ...] = ()
    """Conditions of this target's side (its trust statement), before the source's own."""


NO_CONDITIONS = Member()


@dataclass(eq=False)
class TargetSet:
    """Identities that a target-independent grant reaches together.

    Either every member has ``conditions`` or none has (``conditional``), so that a group into
    the set is conditional for all its members or for none.
    """

    key: tuple[Any, ...]
    label: str
    conditional: bool = False
    members: dict[str, Member] = field(default_factory=dict)

    _position: dict[str, int] = field(default_factory=dict, repr=False)

    def add(self, target: str, member: Member = NO_CONDITIONS) -> None:
        if bool(member.conditions) != self.conditional:
            raise ValueError(f"target set {self.label}: member {target} does not match its conditionality")
        if target not in self.members:
            self.members[target] = member
            self._position[target] = len(self._position)

    def ordered(self, targets: Iterable[str]) -> list[str]:
        """``targets`` (members) in the order they were added."""
        return sorted((t for t in targets if t in self._position), key=self._position.__getitem__)


@dataclass(frozen=True, eq=False)
class EdgeGroup:
    """``source`` -> every member of ``targets`` (except itself and ``excluded``), one template."""

    source: str
    targets: TargetSet
    kind: str
    how: str
    conditional: bool = False
    """The source's side (its policies); a conditional target set makes every edge conditional too."""
    conditions: tuple[str, ...] = ()
    evidence: dict[str, Any] = field(default_factory=dict)
    excluded: frozenset[str] = frozenset()
    """Members judged apart (an explicit edge, or none): a statement names their ARN."""

    @property
    def is_conditional(self) -> bool:
        return self.conditional or self.targets.conditional

    def covers(self, target: str) -> bool:
        return target != self.source and target not in self.excluded and target in self.targets.members

    def size(self) -> int:
        return (
            len(self.targets.members)
            - sum(1 for t in self.excluded if t in self.targets.members)
            - (self.source in self.targets.members and self.source not in self.excluded)
        )

    def edge_to(self, target: str) -> Edge:
        """The concrete edge to one member."""
        member = self.targets.members.get(target, NO_CONDITIONS)
        conditions = member.conditions + tuple(c for c in self.conditions if c not in member.conditions)
        return Edge(
            self.source,
            target,
            self.kind,
            self.how,
            conditional=self.conditional or bool(member.conditions),
            conditions=conditions,
            evidence={**self.evidence, **member.evidence},
        )

    def targets_in_order(self) -> Iterator[str]:
        return (t for t in self.targets.members if self.covers(t))


class _EdgeView(Mapping[str, list[Edge]]):
    """node -> its concrete edges, expanded on access (iterating yields the nodes that have any)."""

    def __init__(self, nodes: Callable[[], Iterable[str]], edges: Callable[[str], list[Edge]]) -> None:
        self._nodes = nodes
        self._edges = edges

    def __getitem__(self, node: str) -> list[Edge]:
        edges = self._edges(node)
        if not edges:
            raise KeyError(node)
        return edges

    def __iter__(self) -> Iterator[str]:
        return (n for n in self._nodes() if self._edges(n))

    def __len__(self) -> int:
        return sum(1 for _ in self)


class TrustGraph:
    """Explicit edges plus edge groups; see the module docstring."""

    def __init__(self) -> None:
        self._out: dict[str, list[Edge]] = defaultdict(list)
        self._in: dict[str, list[Edge]] = defaultdict(list)
        self._index: dict[tuple[str, str, str], Edge] = {}
        self._groups_out: dict[str, list[EdgeGroup]] = defaultdict(list)
        self._groups_in: dict[int, list[EdgeGroup]] = defaultdict(list)
        """id(target set) -> groups into it."""
        self._sets: dict[int, TargetSet] = {}
        self._sets_of: dict[str, list[TargetSet]] = defaultdict(list)
        self.explicit = 0
        self.groups = 0

    # building --------------------------------------------------------------------------------

    def add(self, edge: Edge | EdgeGroup) -> None:
        """Add an edge or a group; of several explicit edges of one kind between two nodes, the
        unconditional one is kept."""
        if isinstance(edge, EdgeGroup):
            self._add_group(edge)
            return
        if edge.source == edge.target:
            return
        key = (edge.source, edge.target, edge.kind)
        old = self._index.get(key)
        if old is not None:
            if old.conditional and not edge.conditional:
                self._index[key] = edge
                out, into = self._out[edge.source], self._in[edge.target]
                out[out.index(old)] = edge
                into[into.index(old)] = edge
            return
        self._index[key] = edge
        self._out[edge.source].append(edge)
        self._in[edge.target].append(edge)
        self.explicit += 1

    def _add_group(self, group: EdgeGroup) -> None:
        if group.size() <= 0:
            return
        tset = group.targets
        if id(tset) not in self._sets:
            self._sets[id(tset)] = tset
            for target in tset.members:
                self._sets_of[target].append(tset)
        self._groups_out[group.source].append(group)
        self._groups_in[id(tset)].append(group)
        self.groups += 1

    # reading ---------------------------------------------------------------------------------

    @property
    def count(self) -> int:
        """Stored edge records: explicit edges plus groups."""
        return self.explicit + self.groups

    def pairs(self) -> int:
        """(source, target, kind) pairs the graph stands for (groups counted by their members)."""
        return self.explicit + sum(g.size() for groups in self._groups_out.values() for g in groups)

    def explicit_out(self, node: str) -> list[Edge]:
        return self._out.get(node, [])

    def groups_out(self, node: str) -> list[EdgeGroup]:
        return self._groups_out.get(node, [])

    def groups_into(self, node: str) -> Iterator[EdgeGroup]:
        for tset in self._sets_of.get(node, ()):
            for group in self._groups_in.get(id(tset), ()):
                if group.covers(node):
                    yield group

    def out(self, node: str) -> list[Edge]:
        """Every concrete edge from ``node`` (groups expanded: as many edges as targets)."""
        expanded = (g.edge_to(t) for g in self.groups_out(node) for t in g.targets_in_order())
        return _dedup(self.explicit_out(node), expanded, lambda e: e.target)

    def into(self, node: str) -> list[Edge]:
        """Every concrete edge into ``node``."""
        expanded = (g.edge_to(node) for g in self.groups_into(node))
        return _dedup(self._in.get(node, []), expanded, lambda e: e.source)

    @property
    def edges_from(self) -> Mapping[str, list[Edge]]:
        return _EdgeView(lambda: list(dict.fromkeys([*self._out, *self._groups_out])), self.out)

    @property
    def edges_to(self) -> Mapping[str, list[Edge]]:
        return _EdgeView(lambda: list(dict.fromkeys([*self._in, *self._sets_of])), self.into)

    def paths_to(self, targets: Iterable[str], *, usable: Callable[[str], bool]) -> dict[str, list[Edge]]:
        """Shortest path from every node that can reach one of ``targets``, by reverse BFS.

        Paths through unconditional edges win over shorter paths that need a conditional edge
        (a first search over unconditional edges only, then one over all). Between the same two
        nodes an unconditional edge is taken before a conditional one. ``usable(node)`` rules out
        intermediate nodes (disabled identities).

        Groups are never expanded: the first node of a target set that the search dequeues
        claims every still unvisited source of the groups into that set; a group stays pending
        only while the node is one it excludes. Each group is therefore looked at about once
        per search.
        """
        targets = list(targets)
        best: dict[str, list[Edge]] = {}
        for allow_conditional in (False, True):
            phases = (False, True) if allow_conditional else (False,)
            nxt: dict[str, Edge | None] = {t: None for t in targets}
            queue = deque((t, 0) for t in nxt)
            pending: dict[tuple[int, bool], list[EdgeGroup]] = {}
            while queue:
                node, depth = queue.popleft()
                if depth >= MAX_DEPTH:
                    continue
                for conditional in phases:
                    for edge in self._in.get(node, ()):
                        if edge.conditional != conditional or edge.source in nxt or not usable(edge.source):
                            continue
                        nxt[edge.source] = edge
                        queue.append((edge.source, depth + 1))
                    for tset in self._sets_of.get(node, ()):
                        key = (id(tset), conditional)
                        groups = pending.get(key)
                        if groups is None:
                            groups = [g for g in self._groups_in.get(id(tset), ()) if g.is_conditional == conditional]
                        kept: list[EdgeGroup] = []
                        for group in groups:
                            if group.source in nxt:
                                continue  # visited (the node itself included): never needed again
                            if node in group.excluded:
                                kept.append(group)
                                continue
                            if not usable(group.source):
                                continue
                            nxt[group.source] = group.edge_to(node)
                            queue.append((group.source, depth + 1))
                        pending[key] = kept
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


def _dedup(explicit: list[Edge], expanded: Iterable[Edge], other: Callable[[Edge], str]) -> list[Edge]:
    """One edge per (other end, kind): the first, unless a later one is unconditional and it is not."""
    if not explicit and not isinstance(expanded, list):
        expanded = list(expanded)
        if not expanded:
            return []
    out: list[Edge] = []
    at: dict[tuple[str, str], int] = {}
    for edge in (*explicit, *expanded):
        key = (other(edge), edge.kind)
        n = at.get(key)
        if n is None:
            at[key] = len(out)
            out.append(edge)
        elif out[n].conditional and not edge.conditional:
            out[n] = edge
    return out


def build_graph(ctx: AnalysisContext) -> TrustGraph:
    graph = TrustGraph()
    providers = sorted({i.provider for i in ctx.inventory.identities})
    for provider in providers:
        target = EDGE_BUILDERS.get(provider)
        if target is None:
            continue
        module, func = target.split(":")
        builder: Callable[[AnalysisContext], Iterable[Edge | EdgeGroup]] = getattr(
            importlib.import_module(module), func
        )
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
