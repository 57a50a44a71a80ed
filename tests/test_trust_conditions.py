"""AWS condition semantics used by the trust rules."""

from __future__ import annotations

import pytest

from nhiaudit.trust.aws_conditions import (
    condition_tests,
    key_tests,
    like_match,
    narrows_principal,
    pinning_tests,
)


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("repo:acme/*", "repo:acme/api:ref:refs/heads/main", True),
        ("repo:acme/*", "repo:acme-evil/api:ref:refs/heads/main", False),
        ("repo:acme*", "repo:acme-evil/api", True),
        ("repo:acme/ap?", "repo:acme/api", True),
        ("repo:acme/ap?", "repo:acme/apis", False),
        ("arn:aws:iam::*:role/x", "arn:aws:iam::123456789012:role/x", True),
        ("a.b", "aXb", False),
    ],
)
def test_like_match_uses_aws_wildcards(pattern: str, value: str, expected: bool) -> None:
    assert like_match(pattern, value) is expected


def test_operators_are_parsed_with_qualifiers() -> None:
    tests = condition_tests(
        {
            "ForAnyValue:StringLike": {"cognito-identity.amazonaws.com:amr": ["authenticated"]},
            "StringEqualsIfExists": {"sts:ExternalId": "x"},
            "ForAllValues:StringEquals": {"aws:TagKeys": ["a"]},
            "StringNotLike": {"Token.Actions.GithubUserContent.com:Sub": "repo:evil/*"},
        }
    )
    by_key = {t.key: t for t in tests}
    assert by_key["cognito-identity.amazonaws.com:amr"].wildcard
    assert by_key["sts:externalid"].if_exists
    assert by_key["aws:tagkeys"].for_all_values
    negated = by_key["token.actions.githubusercontent.com:sub"]  # keys are case-insensitive
    assert negated.negated and not negated.pins()


def test_pinning_depends_on_presence_semantics() -> None:
    assert pinning_tests({"StringEquals": {"sts:ExternalId": "abc"}}, ["sts:ExternalId"])
    # IfExists passes when the caller sends no external id at all
    assert not pinning_tests({"StringEqualsIfExists": {"sts:ExternalId": "abc"}}, ["sts:ExternalId"])
    # ... but aws:PrincipalArn is in every request
    assert pinning_tests({"ArnEqualsIfExists": {"aws:PrincipalArn": "arn:aws:iam::1:role/x"}}, ["aws:PrincipalArn"])
    # a Like pattern that is only wildcards pins nothing; StringEquals "*" is a literal
    assert not pinning_tests({"StringLike": {"sts:ExternalId": "*"}}, ["sts:ExternalId"])
    assert pinning_tests({"StringEquals": {"sts:ExternalId": "*"}}, ["sts:ExternalId"])
    assert not pinning_tests({"Null": {"sts:ExternalId": "false"}}, ["sts:ExternalId"])


@pytest.mark.parametrize(
    ("condition", "narrows"),
    [
        ({"StringEquals": {"aws:PrincipalOrgID": "o-abc123"}}, True),
        ({"StringLike": {"aws:PrincipalOrgID": "o-*"}}, False),
        ({"StringNotEquals": {"aws:PrincipalOrgID": "o-abc123"}}, False),
        ({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/deployer"}}, False),
        ({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::123456789012:role/*"}}, True),
        ({"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": "o-abc/r-1/ou-2/*"}}, True),
        ({"StringEquals": {"aws:SourceAccount": "123456789012"}}, True),
        ({"ArnLike": {"aws:SourceArn": "arn:aws:states:*:*:stateMachine:*"}}, False),
        ({"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, False),
    ],
)
def test_narrows_principal(condition: dict, narrows: bool) -> None:
    assert any(narrows_principal(t) for t in condition_tests(condition)) is narrows


def test_matches_respects_operator() -> None:
    like = key_tests({"StringLike": {"k": ["a*", "b"]}}, "K")[0]
    assert like.matches("abc") and like.matches("b") and not like.matches("c")
    equals = key_tests({"StringEquals": {"k": "a*"}}, "k")[0]
    assert equals.matches("a*") and not equals.matches("abc")
    ignore_case = key_tests({"StringEqualsIgnoreCase": {"k": "ABC"}}, "k")[0]
    assert ignore_case.matches("abc")
