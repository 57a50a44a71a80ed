"""The GCP role catalog, the GCP policy engine and the GCP escalation paths."""

from __future__ import annotations

import pytest

from nhiaudit.catalogs.gcp_roles import load_catalog, permission_level
from nhiaudit.catalogs.privesc import CATEGORY_TEXT, load_paths
from nhiaudit.model import Grant, Identity, Inventory, Policy
from nhiaudit.policy.engine import ENGINES, evaluate_inventory
from nhiaudit.policy.gcp import GcpPolicyEngine, is_admin_role_name, is_container

SA = "app@proj.iam.gserviceaccount.com"


def identity(email: str = SA) -> Identity:
    return Identity(id=email, provider="gcp", scope="proj", kind="gcp.service_account", name=email.split("@")[0])


def grant(role: str, scope: str = "projects/proj", condition: dict | None = None, email: str = SA) -> Grant:
    return Grant(
        identity_id=email, policy_id=role, policy_name=role, kind="role_binding", scope=scope, condition=condition
    )


def evaluate(*grants: Grant, policies: dict[str, Policy] | None = None):
    inv = Inventory(identities=[identity()], grants=list(grants), policies=policies or {})
    engine = GcpPolicyEngine(inv)
    return engine.evaluate(inv.identities[0], list(grants)), engine


# --- catalog --------------------------------------------------------------------------------------


def test_catalog_expands_predefined_roles_from_package_data():
    catalog = load_catalog()
    assert catalog.version.startswith("iam-dataset ")
    assert len(catalog.roles) > 2000 and catalog.size > 10000
    editor = catalog.role_mask("roles/editor")
    viewer = catalog.role_mask("roles/viewer")
    assert editor and viewer and editor.bit_count() > viewer.bit_count()
    assert "iam.serviceAccounts.actAs" in set(catalog.names(editor))
    assert catalog.role_mask("roles/does.notExist") is None
    token = catalog.role("roles/iam.serviceAccountTokenCreator")
    assert token is not None and "iam.serviceAccounts.getAccessToken" in token.permissions


@pytest.mark.parametrize(
    ("permission", "level"),
    [
        ("storage.buckets.list", "List"),
        ("storage.objects.get", "Read"),
        ("secretmanager.versions.access", "Read"),
        ("storage.objects.delete", "Write"),
        ("resourcemanager.projects.setIamPolicy", "Permissions management"),
        ("iam.serviceAccounts.actAs", "Permissions management"),
        ("compute.instances.setLabels", "Tagging"),
    ],
)
def test_permission_levels(permission, level):
    assert permission_level(permission) == level


def test_gcp_privesc_methods_are_converted_and_categorized():
    paths = load_paths("gcp")
    assert len(paths) == 23
    assert all(p.category in CATEGORY_TEXT for p in paths), [p.id for p in paths if p.category not in CATEGORY_TEXT]
    by_id = {p.id: p for p in paths}
    assert by_id["CreateServiceAccountKey"].required == ("iam.serviceAccountKeys.create",)
    assert by_id["SetProjectIAMPolicy"].category == "self-escalation"
    assert "RhinoSecurityLabs" in by_id["UpdateIAMRole"].reference
    assert len(load_paths("aws")) > 50  # the AWS paths are untouched


def test_engine_is_registered():
    assert ENGINES["gcp"] == "nhiaudit.policy.gcp:GcpPolicyEngine"


@pytest.mark.parametrize(
    ("role", "admin"),
    [
        ("roles/storage.admin", True),
        ("roles/compute.instanceAdmin.v1", True),
        ("roles/iam.serviceAccountAdmin", True),
        ("projects/p/roles/deployAdmin", True),
        ("roles/viewer", False),
        ("roles/cloudsql.client", False),
    ],
)
def test_admin_role_names(role, admin):
    assert is_admin_role_name(role) is admin


def test_containers():
    assert is_container("projects/p") and is_container("folders/1") and is_container("organizations/2")
    assert not is_container("projects/p/serviceAccounts/x@p.iam.gserviceaccount.com")
    assert not is_container(None)


# --- admin verdicts ------------------------------------------------------------------------------------


def test_owner_is_full_admin():
    access, _ = evaluate(grant("roles/owner"))
    assert access.admin is not None and access.admin.level == "full" and access.admin.account_wide
    assert not access.admin.conditional
    assert access.admin.policies == ("roles/owner on projects/proj",)
    assert "Owner" in access.admin.reason


def test_editor_is_admin_equivalent():
    access, _ = evaluate(grant("roles/editor"))
    assert access.admin is not None and access.admin.level == "equivalent"
    assert "Editor" in access.admin.reason and "service account" in access.admin.reason


def test_iam_policy_setter_is_admin_equivalent_through_inheritance():
    access, _ = evaluate(grant("roles/resourcemanager.projectIamAdmin", scope="folders/123"))
    assert access.admin is not None and access.admin.level == "equivalent"
    assert "folders/123" in access.admin.reason and "grant itself any role" in access.admin.reason


def test_service_admin_is_its_own_level():
    access, _ = evaluate(grant("roles/storage.admin"), grant("roles/viewer"))
    assert access.admin is not None and access.admin.level == "service" and not access.admin.account_wide
    assert "storage" in access.admin.reason


def test_conditional_owner_is_narrowed_not_dropped():
    cond = {"title": "until-december", "expression": 'request.time < timestamp("2026-12-01T00:00:00Z")'}
    access, _ = evaluate(grant("roles/owner", condition=cond))
    assert access.admin is not None and access.admin.level == "full" and access.admin.conditional
    assert any("until-december" in c for c in access.admin.conditions)
    perm = access.allows("resourcemanager.projects.setIamPolicy")
    assert perm is not None and not perm.unconditional and perm.narrowed
    assert "until-december" in perm.narrowing()


def test_unconditional_grant_wins_over_conditional_one():
    cond = {"title": "t", "expression": "true"}
    access, _ = evaluate(grant("roles/owner", condition=cond), grant("roles/owner", scope="folders/9"))
    assert access.admin is not None and not access.admin.conditional
    assert access.admin.policies == ("roles/owner on folders/9",)


def test_owner_on_a_single_service_account_is_not_admin_but_narrowed_access():
    target = "projects/proj/serviceAccounts/other@proj.iam.gserviceaccount.com"
    access, _ = evaluate(grant("roles/owner", scope=target))
    assert access.admin is None
    perm = access.allows("iam.serviceAccountKeys.create")
    assert perm is not None and not perm.unrestricted_resource and perm.resources == (target,)


def test_viewer_is_not_admin_and_cannot_set_policy():
    access, _ = evaluate(grant("roles/viewer"))
    assert access.admin is None
    assert access.allows("resourcemanager.projects.setIamPolicy") is None
    assert not access.allows_all(["iam.serviceAccounts.actAs"])
    assert access.permission_count() == load_catalog().role_mask("roles/viewer").bit_count()
    assert "compute" in access.services()
    levels = access.level_counts()
    assert levels["Permissions management"] == 0
    assert levels["Write"] < 0.05 * access.permission_count() < levels["Read"] + levels["List"]


# --- custom and unknown roles ---------------------------------------------------------------------------


def custom(name: str, perms: list[str] | None, **attributes) -> Policy:
    return Policy(id=name, provider="gcp", kind="gcp.custom_role", name=name, permissions=perms, attributes=attributes)


def test_custom_role_expands_and_keeps_unknown_permissions_by_name():
    role = "projects/proj/roles/deployer"
    access, engine = evaluate(
        grant(role),
        policies={role: custom(role, ["iam.serviceAccounts.actAs", "cloudfunctions.functions.create", "future.x.y"])},
    )
    assert access.allows_all(["iam.serviceAccounts.actAs", "future.x.y"])
    assert access.unknown_permissions == ["future.x.y"]
    grant_detail = access.allows("future.x.y")
    assert grant_detail is not None and grant_detail.policies == (f"{role} on projects/proj",)
    assert any("future.x.y" in w for w in engine.warnings)
    assert "future" in access.services()


def test_unknown_role_makes_the_evaluation_incomplete_not_empty():
    access, engine = evaluate(grant("roles/brandNew.thing"), grant("roles/viewer"))
    assert access.incomplete and "roles/brandNew.thing" in access.incomplete[0]
    assert any("roles/brandNew.thing" in w for w in engine.warnings)
    assert access.permission_count() > 0


def test_no_binding_at_all_is_incomplete_not_decommissioned():
    access, _ = evaluate()
    assert access.empty and access.incomplete and "other resources" in access.incomplete[0]


def test_deleted_custom_role_grants_nothing():
    role = "projects/proj/roles/old"
    access, engine = evaluate(grant(role), policies={role: custom(role, [], deleted=True)})
    assert access.permission_count() == 0 and access.empty
    assert any("deleted" in w for w in engine.warnings)


def test_custom_role_without_permission_list_is_incomplete():
    role = "projects/proj/roles/listed"
    access, _ = evaluate(grant(role), policies={role: custom(role, None)})
    assert access.incomplete


def test_each_role_compiles_once_for_many_identities():
    emails = [f"sa{i}@proj.iam.gserviceaccount.com" for i in range(50)]
    inv = Inventory(
        identities=[identity(e) for e in emails],
        grants=[grant("roles/editor", email=e) for e in emails]
        + [grant("roles/storage.admin", email=e) for e in emails],
    )
    access, warnings = evaluate_inventory(inv)
    assert len(access) == 50 and not warnings
    assert all(a.admin is not None and a.admin.level == "equivalent" for a in access.values())
