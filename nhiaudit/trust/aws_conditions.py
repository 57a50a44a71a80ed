"""AWS condition blocks as trust analysis needs them: which keys a statement really pins.

A condition narrows a trust only if a request that does not carry the intended value fails it.
That depends on the operator, not just on the key being mentioned:

* ``StringEquals`` / ``ArnEquals`` compare literally: ``*`` in the value is a literal character;
* ``StringLike`` / ``ArnLike`` treat ``*`` (any run of characters, ``:`` and ``/`` included) and
  ``?`` (one character) as wildcards, so ``"*"`` admits every value;
* negated operators (``StringNotEquals``, ``StringNotLike``, ``ArnNot*``, ``NotIpAddress``) admit
  everything except the listed values: they do not pin a key to a set;
* ``Null`` only tests presence;
* ``...IfExists`` passes when the key is absent, and ``ForAllValues:`` passes vacuously when it is
  absent, so both pin a key only if every request carries it (``aws:PrincipalArn`` does,
  ``aws:PrincipalOrgID`` or ``sts:ExternalId`` do not);
* ``ForAnyValue:`` needs at least one match, which for a single-valued key is the plain operator.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

NEGATED_OPERATORS = frozenset(
    {
        "stringnotequals",
        "stringnotequalsignorecase",
        "stringnotlike",
        "arnnotequals",
        "arnnotlike",
        "notipaddress",
        "numericnotequals",
        "datenotequals",
    }
)
WILDCARD_OPERATORS = frozenset({"stringlike", "arnlike", "stringnotlike", "arnnotlike"})

ALWAYS_PRESENT_KEYS = frozenset(
    {
        "aws:principalarn",
        "aws:principalaccount",
        "aws:principaltype",
        "aws:userid",
        "aws:currenttime",
        "aws:epochtime",
        "aws:securetransport",
        "aws:requestedregion",
    }
)
"""Global keys present in every request an AWS principal makes (IfExists on them still pins)."""

PRINCIPAL_NARROWING_KEYS = frozenset(
    {
        "aws:principalorgid",
        "aws:principalorgpaths",
        "aws:principalaccount",
        "aws:principalarn",
        "aws:userid",
        "aws:sourceaccount",
        "aws:sourcearn",
        "aws:sourceorgid",
        "aws:sourceorgpaths",
        "aws:sourceowner",
    }
)
"""Keys that restrict *who* (which principal, account or organization) can use a trust."""

WEAK_NARROWING_KEYS = frozenset(
    {
        "sts:externalid",
        "aws:sourceip",
        "aws:sourcevpc",
        "aws:sourcevpce",
        "aws:vpcsourceip",
        "aws:principaltag",
        "aws:requesttag",
        "aws:multifactorauthpresent",
        "aws:calledvia",
        "aws:viaawsservice",
    }
)
"""Keys that make a trust harder to use but do not say who the caller is (a shared id, a network)."""

SOURCE_KEYS = frozenset({"aws:sourceaccount", "aws:sourcearn", "aws:sourceorgid", "aws:sourceorgpaths"})
"""Confused-deputy protection for service principals."""


@dataclass(frozen=True)
class ConditionTest:
    """One key under one operator of a Condition block."""

    operator: str
    key: str
    """Lower-cased: condition keys are case-insensitive."""
    values: tuple[str, ...]
    base: str
    """The operator without qualifiers, lower-cased: ``stringlike``."""
    negated: bool
    if_exists: bool
    for_all_values: bool
    wildcard: bool

    @property
    def label(self) -> str:
        shown = ", ".join(self.values[:3]) + (" ..." if len(self.values) > 3 else "")
        return f"{self.operator} {self.key} = {shown}"

    def pins(self, *, always_present: bool = False) -> bool:
        """True when only requests carrying one of ``values`` pass this test."""
        if self.negated or self.base == "null":
            return False
        if (self.if_exists or self.for_all_values) and not (always_present or self.key in ALWAYS_PRESENT_KEYS):
            return False
        return not (self.wildcard and any(_only_wildcards(v) for v in self.values))

    def matches(self, value: str) -> bool:
        """Whether ``value`` satisfies the (positive) test, with the operator's wildcard semantics."""
        if self.base.endswith("ignorecase"):
            return any(value.lower() == v.lower() for v in self.values)
        if self.wildcard:
            return any(like_match(v, value) for v in self.values)
        return value in self.values


def condition_tests(conditions: Mapping[str, Any] | None) -> list[ConditionTest]:
    """Flatten a Condition block into tests (values are always a tuple of strings)."""
    tests: list[ConditionTest] = []
    for operator, block in (conditions or {}).items():
        if not isinstance(block, Mapping):
            continue
        op = str(operator)
        lowered = op.lower()
        qualifier, _, base = lowered.rpartition(":")
        if_exists = base.endswith("ifexists")
        if if_exists:
            base = base[: -len("ifexists")]
        for key, raw in block.items():
            values = raw if isinstance(raw, list) else [raw]
            tests.append(
                ConditionTest(
                    operator=op,
                    key=str(key).lower(),
                    values=tuple(str(v) for v in values),
                    base=base,
                    negated=base in NEGATED_OPERATORS,
                    if_exists=if_exists,
                    for_all_values=qualifier == "forallvalues",
                    wildcard=base in WILDCARD_OPERATORS,
                )
            )
    return tests


def key_tests(conditions: Mapping[str, Any] | None, key: str) -> list[ConditionTest]:
    wanted = key.lower()
    return [t for t in condition_tests(conditions) if t.key == wanted]


def pinning_tests(
    conditions: Mapping[str, Any] | None, keys: Iterable[str], *, always_present: bool = False
) -> list[ConditionTest]:
    """Tests on any of ``keys`` that pin the key to their values."""
    wanted = {k.lower() for k in keys}
    return [t for t in condition_tests(conditions) if t.key in wanted and t.pins(always_present=always_present)]


def narrows_principal(test: ConditionTest) -> bool:
    """A pinning test on a principal key whose values name a specific account, org or principal.

    ``aws:PrincipalArn`` like ``arn:aws:iam::*:role/deploy`` pins a name in *any* account, which
    anyone can create; it narrows nothing. The same goes for a wildcard organization id.
    """
    if test.key not in PRINCIPAL_NARROWING_KEYS or not test.pins():
        return False
    for value in test.values:
        if test.key in ("aws:principalarn", "aws:sourcearn"):
            parts = value.split(":")
            account = parts[4] if len(parts) > 4 else ""
            if test.wildcard and (not account or any(c in account for c in "*?")):
                return False
        elif test.wildcard and any(c in value for c in "*?"):
            if test.key in ("aws:principalorgpaths", "aws:sourceorgpaths") and _org_path_pinned(value):
                continue
            return False
    return True


def _org_path_pinned(value: str) -> bool:
    """``o-abc/r-xyz/ou-1/*`` pins an organization; ``o-*`` does not."""
    org = value.split("/", 1)[0]
    return bool(org) and not any(c in org for c in "*?")


def _only_wildcards(value: str) -> bool:
    return value == "" or set(value) <= {"*"}


@lru_cache(maxsize=4096)
def _like_regex(pattern: str) -> re.Pattern[str]:
    parts = []
    for ch in pattern:
        if ch == "*":
            parts.append(".*")
        elif ch == "?":
            parts.append(".")
        else:
            parts.append(re.escape(ch))
    return re.compile("".join(parts), re.DOTALL)


def like_match(pattern: str, value: str) -> bool:
    """``StringLike`` / ``ArnLike`` matching: ``*`` any run of characters, ``?`` one character."""
    if pattern == "*":
        return True
    if "*" not in pattern and "?" not in pattern:
        return pattern == value
    return _like_regex(pattern).fullmatch(value) is not None


def wildcard_prefix(pattern: str) -> str:
    """The literal text before the first wildcard."""
    for n, ch in enumerate(pattern):
        if ch in "*?":
            return pattern[:n]
    return pattern


def has_wildcard(pattern: str) -> bool:
    return "*" in pattern or "?" in pattern
