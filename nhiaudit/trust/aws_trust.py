"""AWS trust-policy helpers shared by the AWS trust rules."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from nhiaudit.model import Trust
from nhiaudit.trust.aws_conditions import like_match

ASSUME_ACTIONS = ("sts:assumerole", "sts:assumerolewithwebidentity", "sts:assumerolewithsaml")


def grants_assume(trust: Trust, action: str | None = None) -> bool:
    """The trust statement allows assuming the role (any of the three Assume actions, or ``action``)."""
    wanted = (action.lower(),) if action else ASSUME_ACTIONS
    return any(like_match(granted.lower(), w) for granted in trust.actions for w in wanted)


@cache
def confused_deputy_services() -> dict[str, str]:
    """Service principal -> documentation URL, for services that set aws:SourceAccount / aws:SourceArn."""
    text = (resources.files("nhiaudit.trust") / "data" / "aws-confused-deputy-services.json").read_text("utf-8")
    return {k.lower(): v for k, v in json.loads(text)["services"].items()}


def statement_label(trust: Trust) -> str:
    """'statement 2' for statements without a Sid (the collector's name), "statement 'AllowVendor'" otherwise."""
    source = trust.source or "?"
    return source if source.startswith("statement ") else f"statement {source!r}"
