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


def _evaluate(
    access: AwsAccess,
    idx: int,
    context: Mapping[str, str] | None,
    hits: Callable[[CompiledStatement], bool],
) -> ResourceGrant | None:
    """The grant of the action numbered ``idx`` where ``hits(statement)`` says a statement's
    resources match (denies and boundary applied)."""
    known = dict(context or {})

    def matching(policies: list[AttachedPolicy], effect: str) -> list[tuple[str, bool, list[str]]]:
        out = []
        for ap in policies:
            for cs in ap.compiled.statements:
                if cs.statement.effect != effect or not (cs.mask >> idx) & 1:
                    continue
                if not hits(cs):
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
) -> ResourceGrant | None:
    """Whether ``access`` allows ``action`` on the resource ``arn`` (denies and boundary applied)."""
    idx = _action_index(access, action)
    if idx is None:
        return None
    return _evaluate(access, idx, context, lambda cs: _resource_matches(cs, arn, source))


def class_grant(
    access: AwsAccess,
    action: str,
    source: Identity,
    members: Collection[str],
    prefix: str | None,
    matching: Callable[[str], frozenset[str]],
    context: Mapping[str, str] | None = None,
) -> ClassGrant:
    """``resource_grant`` for all ``members`` (ARNs ``prefix`` + name) at once.

    ``matching(pattern)`` gives the members a DEPENDS pattern matches (the caller caches it per
    target set); they and the members a LITERAL pattern names become ``exceptions``; the rest
    share ``grant``.
    """
    idx = _action_index(access, action)
    if idx is None:
        return ClassGrant(None, frozenset())
    if prefix is None:
        return ClassGrant(None, frozenset(members))
    applies: dict[int, bool] = {}
    exceptions: set[str] = set()
    policies = access.attached + ([access.boundary] if access.boundary is not None else [])
    for ap in policies:
        for cs in ap.compiled.statements:
            if (cs.mask >> idx) & 1:
                applies[id(cs)] = _statement_reach(cs, source, prefix, members, matching, exceptions)
    grant = _evaluate(access, idx, context, lambda cs: applies[id(cs)])
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


class ClassGrants:
    """``class_grant`` memoized per (source, action, context, target set), and the members each
    DEPENDS pattern matches memoized per target set."""

    def __init__(self, access: Mapping[str, AwsAccess]) -> None:
        self.access = access
        self._cache: dict[tuple[str, str, tuple[tuple[str, str], ...], int], ClassGrant] = {}
        self._matched: dict[tuple[str, int], frozenset[str]] = {}

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

            def matching(pattern: str) -> frozenset[str]:
                at = (pattern, id(members))
                hit = self._matched.get(at)
                if hit is None:
                    hit = self._matched[at] = frozenset(m for m in members if like_match(pattern, m))
                return hit

            found = class_grant(self.access[source.id], action, source, members, prefix, matching, context)
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
    """Who may perform ``action`` on which resource ARN, for finding candidate sources quickly.

    Sources whose Allow statements name exact ARNs only are indexed by ARN (``exact``); sources
    with patterns (``*``, ``role/app-*``, variables, NotResource) are ``broad``: candidates for
    every resource, judged per class of ARNs with ``class_grant``.
    """

    def __init__(self, action: str, sources: list[Identity], access: Mapping[str, AwsAccess]) -> None:
        self.exact: dict[str, list[Identity]] = defaultdict(list)
        self.broad: list[Identity] = []
        indexes: dict[int, int | None] = {}  # one catalog in practice
        for source in sources:
            acc = access.get(source.id)
            if acc is None:
                continue
            if id(acc.catalog) not in indexes:
                indexes[id(acc.catalog)] = acc.catalog.index_of(action)
            idx = indexes[id(acc.catalog)]
            if idx is None or not (acc.effective_any >> idx) & 1:
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

    def __bool__(self) -> bool:
        return bool(self.exact or self.broad)
