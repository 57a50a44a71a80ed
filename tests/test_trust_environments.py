"""Environment resolution, organization membership and the config sections they read."""

from __future__ import annotations

from pathlib import Path

import pytest

from nhiaudit.errors import InputError
from nhiaudit.model import Identity, Inventory, Scope, Source, Trust
from nhiaudit.settings import Settings, load_settings
from nhiaudit.trust.environments import EnvironmentResolver, classify_name, words_in
from nhiaudit.trust.principals import Organization, parse_member


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("prod", True),
        ("Production", True),
        ("prd", True),
        ("prod-eu", True),
        ("dev", False),
        ("staging", False),
        ("UAT", False),
        ("nonprod", False),
        ("shared", None),
        ("", None),
    ],
)
def test_classify_name(value: str, expected: bool | None) -> None:
    assert classify_name(value) is expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("acme-prod-data", True),
        ("acme_dev_tools", False),
        ("acme-non-prod", False),
        ("acme-preprod", False),
        ("product-catalog", None),
        ("devops-tools", None),
        ("prod-and-dev-bridge", None),
        ("acme-live", None),
    ],
)
def test_words_in_names(name: str, expected: bool | None) -> None:
    found = words_in(name)
    assert (found.production if found else None) is expected


def _identity(name: str, scope: str, tags: dict[str, str] | None = None) -> Identity:
    return Identity(
        id=f"arn:aws:iam::{scope}:role/{name}",
        provider="aws",
        scope=scope,
        kind="aws.role",
        name=name,
        tags=tags or {},
    )


def test_resolver_order_config_tags_scope_names() -> None:
    inventory = Inventory(
        scopes=[
            Scope(provider="aws", id="111111111111", kind="aws.account", name="acme-prod"),
            Scope(
                provider="aws", id="222222222222", kind="aws.account", name="acme-sandbox", tags={"Environment": "qa"}
            ),
        ]
    )
    settings = Settings(environments={"production": ["333333333333"], "shared-services": ["444444444444"]})
    resolver = EnvironmentResolver(inventory, settings)
    assert resolver.of_scope("aws", "111111111111").production is True  # account name
    qa = resolver.of_scope("aws", "222222222222")
    assert qa.production is False and "tag Environment=qa" in qa.how  # tag beats the name
    assert resolver.of_scope("aws", "333333333333").how.startswith("config")
    assert resolver.of_scope("aws", "444444444444").production is None  # named, but neither
    assert resolver.of_scope("aws", "555555555555") is None
    tagged = resolver.of_identity(_identity("x", "111111111111", {"env": "dev"}))
    assert tagged.production is False and tagged.strength == 2
    named = resolver.of_identity(_identity("dev-runner", "999999999999"))
    assert named.production is False and named.strength == 0
    assert resolver.of_subject("repo:acme/api:environment:staging").production is False
    assert resolver.of_subject("repo:acme/api:ref:refs/heads/main") is None
    assert resolver.scope_label("aws", "111111111111") == "account acme-prod (111111111111)"


def test_config_patterns_match_identity_ids_and_names() -> None:
    settings = Settings(environments={"development": ["arn:aws:iam::*:role/sandbox-*"]})
    resolver = EnvironmentResolver(Inventory(), settings)
    env = resolver.of_identity(_identity("sandbox-ci", "111111111111"))
    assert env.production is False and "config" in env.how


def test_organization_membership() -> None:
    inventory = Inventory(
        sources=[Source(provider="aws", scope="111111111111", method="offline")],
        scopes=[
            Scope(provider="aws", id="222222222222", kind="aws.account", in_organization=True),
            Scope(
                provider="gcp", id="402938475610", kind="gcp.organization", name="acme.example", in_organization=True
            ),
            Scope(
                provider="gcp", id="acme-prod", kind="gcp.project", in_organization=True, attributes={"number": "42"}
            ),
        ],
    )
    org = Organization.build(
        inventory, Settings(organization_accounts=["333333333333"], organization_domains=["Corp.Example"])
    )
    assert org.listed("aws") and org.listed("gcp")
    assert org.contains("111111111111") and org.contains("222222222222") and org.contains("333333333333")
    assert org.contains("42") and not org.contains("444444444444")
    assert org.domain_inside("acme.example") and org.domain_inside("eu.corp.example")
    assert org.domain_inside("partner.example") is False
    trust = Trust(identity_id="x", principal_kind="account", principal="arn:aws:iam::444444444444:root", internal=False)
    assert org.trust_inside(trust) is False
    member = Trust(identity_id="x", principal_kind="gcp_member", principal="user:bob@acme.example")
    assert org.trust_inside(member) is True
    assert Organization.build(Inventory(), Settings()).domain_inside("acme.example") is None


def test_parse_member() -> None:
    sa = parse_member("serviceAccount:ci@acme-dev-tools.iam.gserviceaccount.com")
    assert sa.kind == "serviceAccount" and sa.project == "acme-dev-tools" and not sa.human
    assert parse_member("serviceAccount:acme-prod.svc.id.goog[payments/api]").project == "acme-prod"
    assert parse_member("serviceAccount:123456789-compute@developer.gserviceaccount.com").project == "123456789"
    assert parse_member("serviceAccount:service-42@gcp-sa-cloudbuild.iam.gserviceaccount.com").google_managed
    pool = parse_member(
        "principalSet://iam.googleapis.com/projects/42/locations/global/workloadIdentityPools/gh/attribute.repository/a/b"
    )
    assert pool.kind == "principalSet" and pool.project == "42" and pool.pool.endswith("workloadIdentityPools/gh")
    assert parse_member("user:Alice@Acme.Example").domain == "acme.example"
    assert parse_member("allUsers").public and parse_member("group:x@y.z").human


def test_config_sections(tmp_path: Path) -> None:
    path = tmp_path / "nhiaudit.toml"
    path.write_text(
        '[environments]\nproduction = ["111111111111", "acme-prod-*"]\n'
        '[organization]\naccounts = ["222222222222"]\ndomains = ["Acme.Example"]\n'
    )
    settings = load_settings(path)
    assert settings.environments == {"production": ["111111111111", "acme-prod-*"]}
    assert settings.organization_accounts == ["222222222222"]
    assert settings.organization_domains == ["acme.example"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[organization]\nmembers = ["x"]\n', "unknown key 'members' in [organization]"),
        ("[organization]\naccounts = 12\n", "[organization] accounts must be a list"),
        ('[organization]\ndomains = [""]\n', "[organization] domains must be a list"),
        ("environments = 3\n", "[environments] values must be lists"),
        ("[environments]\nprod = 'x'\n", "[environments] values must be lists"),
        ("[trust]\n", "unknown section [trust]"),
    ],
)
def test_bad_config_is_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_settings(path)
