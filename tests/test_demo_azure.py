"""The Azure tenant of the demo: every Azure rule fires, the cross-cloud rules fire on Azure data,
the trust-relevant data for the trust rules is there, and the near-misses stay quiet."""

from __future__ import annotations

import pytest

from nhiaudit.analyzer import analyze
from nhiaudit.demo import load_demo
from nhiaudit.rules import all_rules

TENANT = "7d3c1b4e-2a9f-4c86-9b1e-5f0a6d2c8e41"


@pytest.fixture(scope="module")
def demo():
    inventory = load_demo()
    return inventory, analyze(inventory)


def names(doc, rule_id):
    return {f.identity_name for f in doc.findings if f.rule_id == rule_id and f.provider == "azure"}


AZURE_RULES = {
    # cross-cloud rules, on Azure data
    "admin-equivalent",
    "privilege-escalation",
    "credential-not-rotated",
    "credential-never-used",
    "credential-unused",
    "identity-unused",
    "inactive-identity-active-credentials",
    "multiple-active-credentials",
    # generic rules added with the Azure collector, and the Azure-specific ones
    "orphaned-identity",
    "credential-long-lived",
    "client-secret-authentication",
    "third-party-privileged-app",
}


def test_every_azure_rule_and_the_cross_cloud_rules_fire_on_azure_data(demo):
    _, doc = demo
    fired = {f.rule_id for f in doc.findings if f.provider == "azure"}
    assert not AZURE_RULES - fired, AZURE_RULES - fired
    azure_only = {r.meta.id for r in all_rules() if r.meta.providers == ("azure",)}
    assert azure_only <= fired


def test_demo_planted_azure_problems(demo):
    _, doc = demo
    assert names(doc, "admin-equivalent") == {
        "ci-deploy", "mi-data-pipeline", "tf-automation", "idm-connector", "Fabrikam CloudOps", "access-broker",
    }  # fmt: skip
    assert names(doc, "third-party-privileged-app") == {"Acme Analytics", "Fabrikam CloudOps"}
    assert names(doc, "orphaned-identity") == {"legacy-reporting", "old-prototype"}
    assert names(doc, "client-secret-authentication") >= {"ci-deploy", "github-deployer", "legacy-reporting"}
    assert "legacy-reporting" in names(doc, "identity-unused")
    assert "backup-automation" in names(doc, "inactive-identity-active-credentials")
    assert {"build-agent", "vm-ops", "github-deployer", "rg-operator"} <= names(doc, "privilege-escalation")
    conditional = next(
        f for f in doc.findings if f.identity_name == "access-broker" and f.rule_id == "admin-equivalent"
    )
    assert conditional.severity.value == "high" and conditional.confidence.value == "medium"


def test_demo_azure_near_misses(demo):
    _, doc = demo
    azure = {f.identity_name for f in doc.findings if f.provider == "azure"}
    assert "monitoring-agent" not in azure  # owners, fresh certificate, Reader only, signed in yesterday
    assert "helpdesk-bot" not in azure  # a non-tier-0 Entra role
    assert "Zeta Calendar Sync" not in azure  # third party with low-privilege delegated scopes only
    assert "hr-sync" not in names(doc, "credential-long-lived")  # a certificate valid for under a year
    assert "app-robot-portal" not in azure  # system-assigned managed identity, Key Vault Secrets User on one RG
    assert "Microsoft Graph" not in azure  # provider-owned


def test_demo_carries_trust_data_for_the_trust_rules(demo):
    inventory, _ = demo
    by_name = {i.name: i for i in inventory.identities if i.provider == "azure"}
    trusts = {(t.identity_id, t.principal_kind): t for t in inventory.trusts}
    broad = trusts[(by_name["github-deployer"].id, "azure_federated")]
    assert broad.conditions["subject"] is None
    assert broad.conditions["claimsMatchingExpression"] == "claims['sub'] matches 'repo:contoso-robotics/*'"
    pinned = trusts[(by_name["rg-operator"].id, "azure_federated")]
    assert pinned.conditions["subject"] == "repo:contoso-robotics/infra:environment:production"
    foreign = trusts[(by_name["Fabrikam CloudOps"].id, "azure_tenant")]
    assert foreign.internal is False and foreign.principal == "5b8d2e94-1f7c-4a03-9e6b-d4c1a7f09e32"
    guest_only = by_name["hr-sync"].attributes["owner_details"]
    assert [(o["guest"], o["enabled"]) for o in guest_only] == [(True, True)]
    departed = by_name["backup-automation"].attributes["owner_details"]
    assert [(o["guest"], o["enabled"]) for o in departed] == [(False, False)]
    assert all(i.scope == TENANT for i in by_name.values())
