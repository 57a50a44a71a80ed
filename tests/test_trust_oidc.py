"""OIDC subjects and attribute conditions: how many workloads they admit."""

from __future__ import annotations

import pytest

from nhiaudit.trust.oidc import Breadth, analyze_attribute_condition, analyze_subject, claim_scope, issuer_of

GITHUB = issuer_of("arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com")
GITLAB = issuer_of("https://gitlab.com")
TFC = issuer_of("app.terraform.io")
EKS = issuer_of("oidc.eks.eu-west-1.amazonaws.com/id/ABCDEF0123456789")


def test_issuers_are_classified() -> None:
    assert GITHUB.platform == "github" and GITHUB.multi_tenant
    assert GITLAB.platform == "gitlab" and GITLAB.multi_tenant
    assert TFC.platform == "terraform" and TFC.multi_tenant
    assert EKS.platform == "eks" and not EKS.multi_tenant
    enterprise = issuer_of("https://token.actions.githubusercontent.com/acme-enterprise")
    assert enterprise.platform == "github" and not enterprise.multi_tenant
    assert issuer_of("https://gitlab.acme.example").platform == "gitlab"
    assert issuer_of("cognito-identity.amazonaws.com").platform == "cognito"
    assert issuer_of("https://idp.acme.example").platform == "generic"


@pytest.mark.parametrize(
    ("subject", "wildcard", "breadth"),
    [
        (None, False, Breadth.ANY),
        ("*", True, Breadth.ANY),
        ("repo:*", True, Breadth.ANY),
        ("repo:*/app:*", True, Breadth.ANY),
        ("repo:acme*", True, Breadth.OTHER_OWNERS),
        ("repo:acme/*", True, Breadth.OWNER),
        ("repo:acme/*:ref:refs/heads/main", True, Breadth.OWNER),
        ("repo:acme/app-*", True, Breadth.REPOSITORY_SET),
        ("repo:acme/app:*", True, Breadth.ANY_REF),
        ("repo:acme/app:ref:refs/heads/*", True, Breadth.ANY_REF),
        ("repo:acme/app:environment:*", True, Breadth.ANY_REF),
        ("repo:acme/app:pull_request", False, Breadth.ANY_REF),
        ("repo:acme/app", False, Breadth.ANY_REF),
        ("repository_owner:acme", False, Breadth.OWNER),
        ("repo:acme/app:ref:refs/heads/release-*", True, Breadth.REF_PATTERN),
        ("repo:acme/app:ref:refs/heads/main", False, Breadth.PINNED),
        ("repo:acme/app:ref:refs/heads/main", True, Breadth.PINNED),
        ("repo:acme/app:environment:production", False, Breadth.PINNED),
        (
            "repo:acme/app:job_workflow_ref:acme/shared/.github/workflows/deploy.yml@refs/heads/main",
            False,
            Breadth.PINNED,
        ),
        # StringEquals compares literally: this matches no real token
        ("repo:acme/*", False, Breadth.PINNED),
    ],
)
def test_github_subjects(subject: str | None, wildcard: bool, breadth: Breadth) -> None:
    assert analyze_subject(GITHUB, subject, wildcard=wildcard).breadth == breadth


@pytest.mark.parametrize(
    ("subject", "breadth"),
    [
        ("project_path:acme/*", Breadth.OWNER),
        ("project_path:acme/platform/*", Breadth.OWNER),
        ("project_path:acme/api-*", Breadth.REPOSITORY_SET),
        ("project_path:ac*", Breadth.OTHER_OWNERS),
        ("project_path:acme/api:*", Breadth.ANY_REF),
        ("project_path:acme/api:ref_type:branch:ref:*", Breadth.ANY_REF),
        ("project_path:acme/api:ref_type:branch:ref:main", Breadth.PINNED),
    ],
)
def test_gitlab_subjects(subject: str, breadth: Breadth) -> None:
    assert analyze_subject(GITLAB, subject, wildcard=True).breadth == breadth


@pytest.mark.parametrize(
    ("subject", "breadth"),
    [
        ("organization:*", Breadth.ANY),
        ("organization:acme*", Breadth.OTHER_OWNERS),
        ("organization:acme:*", Breadth.OWNER),
        ("organization:acme:project:platform:*", Breadth.REPOSITORY_SET),
        ("organization:acme:project:*:workspace:network:run_phase:*", Breadth.PINNED),
    ],
)
def test_terraform_subjects(subject: str, breadth: Breadth) -> None:
    assert analyze_subject(TFC, subject, wildcard=True).breadth == breadth


def test_kubernetes_subjects() -> None:
    assert analyze_subject(EKS, "system:serviceaccount:payments:api", wildcard=False).breadth == Breadth.PINNED
    assert analyze_subject(EKS, "system:serviceaccount:payments:*", wildcard=True).breadth == Breadth.REPOSITORY_SET
    assert analyze_subject(EKS, "system:serviceaccount:*", wildcard=True).breadth == Breadth.OWNER
    assert "service account of the cluster" in analyze_subject(EKS, None, wildcard=False).explanation


@pytest.mark.parametrize(
    ("expression", "breadth"),
    [
        ("", Breadth.ANY),
        (None, Breadth.ANY),
        ("assertion.ref == 'refs/heads/main'", Breadth.ANY),
        ("assertion.repository_owner == 'acme'", Breadth.OWNER),
        ("'acme' == assertion.repository_owner", Breadth.OWNER),
        ("assertion.repository_owner.startsWith('acme')", Breadth.OTHER_OWNERS),
        ("attribute.repository == 'acme/app' && assertion.ref == 'refs/heads/main'", Breadth.ANY_REF),
        ("assertion.repository in ['acme/a', 'acme/b']", Breadth.ANY_REF),
        ("assertion.sub.startsWith('repo:acme/')", Breadth.OWNER),
        ("assertion.sub.startsWith('repo:acme')", Breadth.OTHER_OWNERS),
        ("assertion.sub == 'repo:acme/app:environment:prod'", Breadth.PINNED),
    ],
)
def test_github_attribute_conditions(expression: str | None, breadth: Breadth) -> None:
    assert analyze_attribute_condition(expression, GITHUB).breadth == breadth


def test_or_takes_the_broadest_alternative() -> None:
    scope = analyze_attribute_condition(
        "assertion.repository == 'acme/app' || assertion.repository_owner == 'acme'", GITHUB
    )
    assert scope.breadth == Breadth.OWNER and scope.notes


def test_gitlab_and_terraform_attribute_conditions() -> None:
    assert analyze_attribute_condition("assertion.namespace_path == 'acme'", GITLAB).breadth == Breadth.OWNER
    assert analyze_attribute_condition("assertion.project_path == 'acme/api'", GITLAB).breadth == Breadth.ANY_REF
    tfc = analyze_attribute_condition("assertion.terraform_organization_name == 'acme'", TFC)
    assert tfc.breadth == Breadth.OWNER


@pytest.mark.parametrize(
    ("claim", "pattern", "wildcard", "breadth"),
    [
        ("repository_owner", "acme", False, Breadth.OWNER),
        ("repository_owner", "acme*", True, Breadth.OTHER_OWNERS),
        ("repository", "acme/api", False, Breadth.ANY_REF),
        ("repository", "acme/*", True, Breadth.OWNER),
        ("repository", "acme/api-*", True, Breadth.REPOSITORY_SET),
        ("job_workflow_ref", "acme/shared/.github/workflows/deploy.yml@refs/heads/main", False, Breadth.REPOSITORY_SET),
        ("workflow_ref", "acme/api/.github/workflows/deploy.yml@refs/heads/main", False, Breadth.PINNED),
    ],
)
def test_claim_scopes(claim: str, pattern: str, wildcard: bool, breadth: Breadth) -> None:
    scope = claim_scope(GITHUB, claim, pattern, wildcard=wildcard)
    assert scope is not None and scope.breadth == breadth


def test_claims_that_do_not_name_the_repository() -> None:
    assert claim_scope(GITHUB, "ref", "refs/heads/main", wildcard=False) is None
    assert claim_scope(GITHUB, "repository", "*", wildcard=True) is None
