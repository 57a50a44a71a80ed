"""Whether an AWS identity's policies allow an action on a resource, per ARN or for a whole class.

``resource_grant`` evaluates one action on one resource ARN (Allow statements, explicit Denies,
the permissions boundary; conditions on keys nhiaudit knows evaluated, others recorded). The
bitset engine in ``policy/aws.py`` does not do that: a policy allowing ``sts:AssumeRole`` on one
role does not reach the others.

``class_grant`` answers the same question once for every ARN of a *class*, the ARNs sharing a
prefix up to the resource type (``arn:aws:iam::111122223333:role/``, any path and name after
it). Each resource pattern of a statement that grants the action is classified against the
class:

* ``ALWAYS``: it matches every ARN of the class (``*``, ``arn:aws:iam::*:role/*``,
  ``arn:aws:iam::111122223333:*``);
* ``NEVER``: it matches none (``arn:aws:s3:::bucket/*``, ``arn:aws:iam::*:user/*`` for roles, a
  policy variable other than ``${aws:username}``);
* ``LITERAL``: an exact ARN of the class: it matches that one resource only;
* ``DEPENDS``: anything else (``role/app-*``, ``role/?``): the answer depends on the name.

When no statement depends on the name, the answer is the same for every ARN of the class except
the literal ones, which are returned as ``exceptions`` for the caller to evaluate with
``resource_grant``; when one does, ``class_grant`` returns None and the caller evaluates each
resource. Conditions never depend on the resource ARN here (resource keys stay unevaluated), so
they do not break the equivalence.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import TYPE_CHECKING

from nhiaudit.model import Identity
from nhiaudit.trust.aws_conditions import ConditionTest, condition_tests, has_wildcard, like_match

if TYPE_CHECKING:
    from nhiaudit.policy.aws import AttachedPolicy, AwsAccess, CompiledStatement

ALWAYS, NEVER, LITERAL, DEPENDS = "always", "never", "literal", "depends"


@dataclass(frozen=True)
class ResourceGrant:
    policies: tuple[str, ...]
    conditional: bool
    conditions: tuple[str, ...]


@dataclass(frozen=True)
class ClassGrant:
    """The grant for every ARN of a class but ``exceptions`` (ARNs a statement names literally)."""

    grant: ResourceGrant | None
    exceptions: frozenset[str]


def arn_class(arn: str) -> str | None:
    """``arn:aws:iam::111122223333:role/`` for ``arn:aws:iam::111122223333:role/path/name``.

    None for an ARN whose path and name hold a ``:`` (IAM forbids it in names; ``class_grant``
    relies on names without one) or a wildcard.
    """
    parts = arn.split(":", 5)
    if len(parts) < 6 or "/" not in parts[5] or has_wildcard(arn) or "${" in arn:
        return None
    kind, _, name = parts[5].partition("/")
    if not kind or not name or ":" in name:
        return None
    return arn[: len(arn) - len(name)]


def _pattern_for(pattern: str, source: Identity) -> str | None:
    """The pattern as ``_resource_matches`` reads it for this caller; None when it is skipped."""
    if "${" in pattern:
        if source.kind == "aws.user":
            pattern = pattern.replace("${aws:username}", source.name)
        if "${" in pattern:
            return None  # another variable: it names the caller's own resources, not this one
    return pattern


def _resource_matches(cs: CompiledStatement, arn: str, source: Identity) -> bool:
    hit = False
    for raw in cs.statement.resources:
        pattern = _pattern_for(raw, source)
        if pattern is not None and like_match(pattern, arn):
            hit = True
            break
    return hit != cs.statement.not_resource


@lru_cache(maxsize=65536)
def pattern_reach(pattern: str, prefix: str) -> str:
    """How a resource pattern (``like_match`` semantics) meets the ARNs ``prefix`` + a non-empty
    name without ``:``: ALWAYS, NEVER, LITERAL or DEPENDS (see the module docstring)."""
    if pattern == "*":
        return ALWAYS
    if not has_wildcard(pattern):
        return LITERAL if pattern.startswith(prefix) and len(pattern) > len(prefix) else NEVER
    # what is left of the pattern once it has matched the prefix; a literal ':' in it can match no name
    tails = [pattern[j:] for j in _after_prefix(pattern, prefix) if j < len(pattern)]
    tails = [t for t in tails if ":" not in t]
    if not tails:
        return NEVER
    for tail in tails:
        if set(tail) <= {"*", "?"} and "*" in tail and tail.count("?") <= 1:
            return ALWAYS  # '*', '?*': every non-empty name
    return DEPENDS


def _after_prefix(pattern: str, text: str) -> set[int]:
    """Positions of ``pattern`` reachable after matching all of ``text`` (a glob NFA)."""

    def closure(states: set[int]) -> set[int]:
        todo = list(states)
        while todo:
            j = todo.pop()
            if j < len(pattern) and pattern[j] == "*" and j + 1 not in states:
                states.add(j + 1)
                todo.append(j + 1)
        return states

    states = closure({0})
    for ch in text:
        step: set[int] = set()
        for j in states:
            if j >= len(pattern):
                continue
            p = pattern[j]
            if p == "*":
                step.add(j)
            elif p == "?" or p == ch:
                step.add(j + 1)
        if not step:
            return set()
        states = closure(step)
    return states


def _conditions(cs: CompiledStatement, context: Mapping[str, str]) -> tuple[bool, list[str]]:
    """(possible, unevaluated condition labels) of a statement given known key values."""
    unknown: list[str] = []
    for test in condition_tests(cs.statement.condition):
        if test.key in context:
            hit = test.matches(context[test.key]) if not test.negated else not negated_hit(test, context[test.key])
            if test.base == "null":
                continue
            if not hit:
                return False, []
        else:
            unknown.append(test.label)
    return True, unknown


def negated_hit(test: ConditionTest, value: str) -> bool:
    """Whether the value is among those a negated operator excludes."""
    positive = replace(test, base=test.base.replace("not", "", 1), negated=False)
    return positive.matches(value)


Relevant = list[tuple[str, "CompiledStatement", bool]]
"""(policy label, statement, from the permissions boundary) of the statements naming one action."""


def relevant_statements(access: AwsAccess, idx: int) -> Relevant:
    """The statements (attached policies in order, then the boundary) whose actions include ``idx``."""
    out: Relevant = []
    for ap in access.attached:
        for cs in ap.compiled.statements:
            if (cs.mask >> idx) & 1:
                out.append((ap.label, cs, False))
    if access.boundary is not None:
        for cs in access.boundary.compiled.statements:
            if (cs.mask >> idx) & 1:
                out.append((access.boundary.label, cs, True))
    return out


def _evaluate(
    relevant: Relevant,
    has_boundary: bool,
    context: Mapping[str, str] | None,
    hits: Callable[[CompiledStatement], bool],
) -> ResourceGrant | None:
    """The grant of one action where ``hits(statement)`` says a statement's resources match
    (denies and boundary applied)."""
    known = dict(context or {})

    def matching(effect: str, attached: bool, boundary: bool) -> list[tuple[str, bool, list[str]]]:
        out = []
        for label, cs, in_boundary in relevant:
            if cs.statement.effect != effect or not (boundary if in_boundary else attached):
                continue
            if not hits(cs):
                continue
            possible, unknown = _conditions(cs, known)
            if possible:
                out.append((label, bool(unknown), unknown))
        return out

    allows = matching("Allow", True, False)
    if not allows:
        return None
    denies = matching("Deny", True, True)
    if any(not conditional for _, conditional, _ in denies):
        return None
    if has_boundary:
        capped = matching("Allow", False, True)
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


def _action_index(access: AwsAccess, action: str) -> int | None:
    idx = access.catalog.index_of(action)
    if idx is None or not (access.effective_any >> idx) & 1:
        return None
    return idx


def resource_grant(
    access: AwsAccess,
    action: str,
    arn: str,
    source: Identity,
    context: Mapping[str, str] | None = None,
    relevant: Relevant | None = None,
) -> ResourceGrant | None:
    """Whether ``access`` allows ``action`` on the resource ``arn`` (denies and boundary applied).

    ``relevant``: the statements naming the action (``relevant_statements``), when the caller
    keeps them; the action must then be in the identity's effective permissions."""
    if relevant is None:
        idx = _action_index(access, action)
        if idx is None:
            return None
        relevant = relevant_statements(access, idx)
    return _evaluate(relevant, access.boundary is not None, context, lambda cs: _resource_matches(cs, arn, source))


def class_grant(
    access: AwsAccess,
    action: str,
    source: Identity,
    members: Collection[str],
    prefix: str | None,
    matching: Callable[[str], frozenset[str]],
    context: Mapping[str, str] | None = None,
    relevant: Relevant | None = None,
) -> ClassGrant:
    """``resource_grant`` for all ``members`` (ARNs ``prefix`` + name) at once.

    ``matching(pattern)`` gives the members a DEPENDS pattern matches (the caller caches it per
    target set); they and the members a LITERAL pattern names become ``exceptions``; the rest
    share ``grant``.
    """
    if relevant is None:
        idx = _action_index(access, action)
        if idx is None:
            return ClassGrant(None, frozenset())
        relevant = relevant_statements(access, idx)
    if prefix is None:
        return ClassGrant(None, frozenset(members))
    applies: dict[int, bool] = {}
    exceptions: set[str] = set()
    for _, cs, _ in relevant:
        applies[id(cs)] = _statement_reach(cs, source, prefix, members, matching, exceptions)
    grant = _evaluate(relevant, access.boundary is not None, context, lambda cs: applies[id(cs)])
    return ClassGrant(grant, frozenset(exceptions))


def _statement_reach(
    cs: CompiledStatement,
    source: Identity,
    prefix: str,
    members: Collection[str],
    matching: Callable[[str], frozenset[str]],
    exceptions: set[str],
) -> bool:
    """Whether the statement applies to a member no LITERAL or DEPENDS pattern matches; the
    members such patterns match are added to ``exceptions``."""
    found: list[str | frozenset[str]] = []
    for raw in cs.statement.resources:
        pattern = _pattern_for(raw, source)
        if pattern is None:
            continue
        reach = pattern_reach(pattern, prefix)
        if reach == ALWAYS:
            return not cs.statement.not_resource  # every member: no exception
        if reach == LITERAL:
            found.append(pattern)
        elif reach == DEPENDS:
            found.append(matching(pattern))
    for hit in found:
        if isinstance(hit, str):
            if hit in members:
                exceptions.add(hit)
        else:
            exceptions |= hit
    return cs.statement.not_resource


class ActionBits:
    """Which statements name which of a few actions, computed once per compiled policy.

    Testing one bit of a catalog-wide mask costs as much as copying it (22,000 bits), so the
    masks are intersected once per policy with the bits of the actions the graph needs, and the
    small results are tested instead.
    """

    def __init__(self, actions: Collection[str]) -> None:
        self.actions = tuple(actions)
        self._catalogs: dict[int, tuple[int, int, dict[str, int]]] = {}
        self._policies: dict[int, list[tuple[CompiledStatement, int]]] = {}
        self._present: dict[int, int] = {}

    def _numbers(self, access: AwsAccess) -> tuple[int, int, dict[str, int]]:
        """(lowest bit, selector over the actions, action -> bit relative to the lowest)."""
        found = self._catalogs.get(id(access.catalog))
        if found is None:
            known = {a: i for a in self.actions if (i := access.catalog.index_of(a)) is not None}
            low = min(known.values(), default=0)
            selector = sum(1 << i for i in known.values())
            found = self._catalogs[id(access.catalog)] = (low, selector, {a: i - low for a, i in known.items()})
        return found

    def present(self, access: AwsAccess) -> int:
        """The identity's effective actions among ``actions`` (relative bits)."""
        found = self._present.get(id(access))
        if found is None:
            low, selector, _ = self._numbers(access)
            found = self._present[id(access)] = (access.effective_any & selector) >> low
        return found

    def bit(self, access: AwsAccess, action: str) -> int | None:
        return self._numbers(access)[2].get(action)

    def statements(self, access: AwsAccess, policy: AttachedPolicy) -> list[tuple[CompiledStatement, int]]:
        """(statement, relative bits of the actions it names) for the statements naming any."""
        compiled = policy.compiled
        found = self._policies.get(id(compiled))
        if found is None:
            low, selector, _ = self._numbers(access)
            found = []
            if (compiled.allow_any | compiled.deny_full | compiled.deny_partial) & selector:
                for cs in compiled.statements:
                    if bits := cs.mask & selector:
                        found.append((cs, bits >> low))
            self._policies[id(compiled)] = found
        return found

    def relevant(self, access: AwsAccess, action: str) -> Relevant | None:
        """``relevant_statements`` of an action in the identity's effective permissions, else None."""
        bit = self.bit(access, action)
        if bit is None or not (self.present(access) >> bit) & 1:
            return None
        out: Relevant = []
        for ap in access.attached:
            out.extend((ap.label, cs, False) for cs, bits in self.statements(access, ap) if (bits >> bit) & 1)
        if access.boundary is not None:
            out.extend(
                (access.boundary.label, cs, True)
                for cs, bits in self.statements(access, access.boundary)
                if (bits >> bit) & 1
            )
        return out


class ClassGrants:
    """``class_grant`` memoized per (source, action, context, target set); the statements naming
    an action memoized per source, and the members each DEPENDS pattern matches per target set."""

    def __init__(self, access: Mapping[str, AwsAccess], bits: ActionBits) -> None:
        self.access = access
        self.bits = bits
        self._cache: dict[tuple[str, str, tuple[tuple[str, str], ...], int], ClassGrant] = {}
        self._relevant: dict[tuple[str, str], Relevant | None] = {}
        self._matched: dict[tuple[str, int], frozenset[str]] = {}

    def relevant(self, source: Identity, action: str) -> Relevant | None:
        key = (source.id, action)
        if key not in self._relevant:
            access = self.access[source.id]
            if action in self.bits.actions:
                self._relevant[key] = self.bits.relevant(access, action)
            else:
                idx = _action_index(access, action)
                self._relevant[key] = None if idx is None else relevant_statements(access, idx)
        return self._relevant[key]

    def resource_grant(
        self, source: Identity, action: str, arn: str, context: Mapping[str, str] | None = None
    ) -> ResourceGrant | None:
        relevant = self.relevant(source, action)
        if relevant is None:
            return None
        return resource_grant(self.access[source.id], action, arn, source, context, relevant)

    def get(
        self,
        source: Identity,
        action: str,
        members: Collection[str],
        prefix: str | None,
        context: Mapping[str, str] | None = None,
    ) -> ClassGrant:
        key = (source.id, action, tuple(sorted((context or {}).items())), id(members))
        found = self._cache.get(key)
        if found is None:
            relevant = self.relevant(source, action)
            if relevant is None:
                found = ClassGrant(None, frozenset())
            else:

                def matching(pattern: str) -> frozenset[str]:
                    at = (pattern, id(members))
                    hit = self._matched.get(at)
                    if hit is None:
                        hit = self._matched[at] = frozenset(m for m in members if like_match(pattern, m))
                    return hit

                access = self.access[source.id]
                found = class_grant(access, action, source, members, prefix, matching, context, relevant)
            self._cache[key] = found
        return found


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


class ResourceIndex:
    """Who may perform an action on which resource ARN, for finding candidate sources quickly.

    Sources whose Allow statements name exact ARNs only are indexed by ARN (``exact``); sources
    with patterns (``*``, ``role/app-*``, variables, NotResource) are ``broad``: candidates for
    every resource, judged per class of ARNs with ``class_grant``. ``resource_indexes`` builds
    the indexes of several actions in one pass over the policies.
    """

    def __init__(self) -> None:
        self.exact: dict[str, list[Identity]] = defaultdict(list)
        self.broad: list[Identity] = []

    def __bool__(self) -> bool:
        return bool(self.exact or self.broad)


def resource_indexes(
    bits: ActionBits, sources: list[Identity], access: Mapping[str, AwsAccess]
) -> dict[str, ResourceIndex]:
    """The ``ResourceIndex`` of each of ``bits.actions``."""
    indexes = {action: ResourceIndex() for action in bits.actions}
    for source in sources:
        acc = access.get(source.id)
        if acc is None or not (present := bits.present(acc)):
            continue
        held = [(a, b) for a in bits.actions if (b := bits.bit(acc, a)) is not None and (present >> b) & 1]
        exact: dict[str, set[str]] = {a: set() for a, _ in held}
        broad: set[str] = set()
        for ap in acc.attached:
            for cs, named in bits.statements(acc, ap):
                if cs.statement.effect != "Allow":
                    continue
                for action, bit in held:
                    if not (named >> bit) & 1:
                        continue
                    if cs.statement.not_resource:
                        broad.add(action)
                    for resource in cs.statement.resources:
                        if has_wildcard(resource) or "${" in resource:
                            broad.add(action)
                        else:
                            exact[action].add(resource)
        for action, _ in held:
            if action in broad:
                indexes[action].broad.append(source)
            else:
                for resource in exact[action]:
                    indexes[action].exact[resource].append(source)
    return indexes
