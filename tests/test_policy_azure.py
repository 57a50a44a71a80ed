"""The Azure engine: RBAC role definitions, scopes, conditions, Graph permissions, directory roles, admin."""

from __future__ import annotations

import pytest

from nhiaudit.catalogs.azure import load_azure_catalog, parse_role_definition, plane, role_definition_id
from nhiaudit.catalogs.privesc import load_paths
from nhiaudit.model import Grant, Identity, Inventory, Policy
from nhiaudit.policy.azure import AzurePolicyEngine, scope_kind
from nhiaudit.policy.engine import ENGINES, evaluate_inventory
from tests.azure_builders import ROLE, SUB, TENANT, app_with_sp, graph_grant, inventory, rbac

SUBSCRIPTION = f"/subscriptions/{SUB}"
RG = f"{SUBSCRIPTION}/resourceGroups/rg-app"
MG = "/providers/Microsoft.Management/managementGroups/contoso"


def access_of(*role_assignments, custom=(), graph=(), directory=None, directory_defs=()):
    app, sp = app_with_sp("worker", owners=[])
    inv = inventory(
        apps=[app],
        sps=[sp],
        role_assignments=[rbac(sp["id"], role, scope, condition=cond) for role, scope, cond in role_assignments],
        role_definitions=list(custom),
        app_role_assignments=[graph_grant(sp, g) for g in graph],
        directory_role_assignments=[dict(d, principalId=sp["id"]) for d in directory] if directory else None,
        directory_role_definitions=list(directory_defs),
    )
    access, _warnings = evaluate_inventory(inv)
    return access[sp["id"]], inv


def custom_role(name, actions, not_actions=(), data=(), scope=SUBSCRIPTION):
    guid = {"Everything": "c0ffee00-0000-4000-8000-000000000001"}.get(name, "c0ffee00-0000-4000-8000-000000000002")
    ROLE[name] = guid
    return {
        "id": f"{scope}/providers/Microsoft.Authorization/roleDefinitions/{guid}",
        "name": guid,
        "roleName": name,
        "roleType": "CustomRole",
        "permissions": [
            {"actions": list(actions), "notActions": list(not_actions), "dataActions": list(data), "notDataActions": []}
        ],
        "assignableScopes": [scope],
    }


def test_engine_is_registered_and_catalog_is_packaged():
    assert ENGINES["azure"] == "nhiaudit.policy.azure:AzurePolicyEngine"
    catalog = load_azure_catalog()
    assert len(catalog.builtin_roles) > 900  # iam-dataset's 928 built-in roles, never a hand-written list
    assert catalog.builtin_role("/providers/x/roleDefinitions/" + ROLE["Owner"]).name == "Owner"
    assert catalog.graph_permission("9e3f62cf-ca93-4989-b6ce-bf83c28f9fe8").name == "RoleManagement.ReadWrite.Directory"
    assert {
        "RoleManagement.ReadWrite.Directory",
        "AppRoleAssignment.ReadWrite.All",
        "Application.ReadWrite.All",
    } <= set(catalog.tier0_graph)
    assert "built-in roles: iam-dataset" in catalog.version


def test_role_definition_ids_are_tenant_neutral():
    a = role_definition_id(f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{ROLE['Owner']}")
    b = role_definition_id(f"/providers/Microsoft.Authorization/roleDefinitions/{ROLE['Owner'].upper()}")
    assert a == b == f"/providers/Microsoft.Authorization/roleDefinitions/{ROLE['Owner']}"
    assert scope_kind("/") == "root"
    assert scope_kind(MG) == "management group"
    assert scope_kind(SUBSCRIPTION) == "subscription"
    assert scope_kind(RG.replace("resourceGroups", "resourcegroups")) == "resource group"
    assert scope_kind(RG + "/providers/Microsoft.KeyVault/vaults/kv1") == "resource"


def test_owner_at_subscription_is_full_admin():
    access, _ = access_of(("Owner", SUBSCRIPTION, None))
    assert access.admin is not None and access.admin.level == "full"
    assert access.admin.scopes == (f"subscription {SUB}",)
    assert not access.admin.conditional
    grant = access.allows("Microsoft.Compute/virtualMachines/write")
    assert grant is not None and grant.unrestricted_resource and grant.unconditional
    # the control-plane '*' never grants data actions nor Graph permissions
    assert access.allows("data:Microsoft.KeyVault/vaults/secrets/getSecret/action") is None
    assert access.allows("graph:Application.ReadWrite.All") is None


@pytest.mark.parametrize(
    ("role", "scope", "level"),
    [
        ("User Access Administrator", MG, "equivalent"),
        ("Role Based Access Control Administrator", "/", "equivalent"),
        ("Owner", MG, "full"),
    ],
)
def test_role_assignment_writers_at_broad_scope_are_admin(role, scope, level):
    access, _ = access_of((role, scope, None))
    assert access.admin is not None and access.admin.level == level
    assert "role assignments" in access.admin.reason or "every control-plane action" in access.admin.reason


def test_contributor_and_rg_owner_are_not_admin_but_can_escalate():
    contributor, _ = access_of(("Contributor", SUBSCRIPTION, None))
    assert contributor.admin is None  # notActions remove Microsoft.Authorization/*/Write
    assert contributor.allows("Microsoft.Authorization/roleAssignments/write") is None
    assert contributor.allows("Microsoft.Compute/virtualMachines/runCommand/action").unrestricted_resource
    rg_owner, _ = access_of(("Owner", RG, None))
    assert rg_owner.admin is None  # Owner of one resource group is not admin of the subscription
    grant = rg_owner.allows("Microsoft.Authorization/roleAssignments/write")
    assert grant is not None and grant.narrowed and grant.resources == (RG,)


def test_abac_condition_makes_admin_conditional():
    condition = "@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {x}"
    access, _ = access_of(("User Access Administrator", SUBSCRIPTION, condition))
    assert access.admin is not None and access.admin.conditional
    assert access.admin.conditions == (condition,)
    both, _ = access_of(("User Access Administrator", SUBSCRIPTION, condition), ("Owner", MG, None))
    assert not both.admin.conditional and both.admin.level == "full"


def test_custom_roles_wildcards_notactions_and_data_actions():
    role = custom_role(
        "Ops",
        ["Microsoft.Compute/*", "*/read"],
        not_actions=["Microsoft.Compute/virtualMachines/delete"],
        data=["Microsoft.Storage/storageAccounts/blobServices/containers/blobs/*"],
    )
    access, inv = access_of(("Ops", SUBSCRIPTION, None), custom=[role])
    assert access.admin is None
    assert access.allows("microsoft.compute/virtualmachines/RUNCOMMAND/action") is not None  # case-insensitive
    assert access.allows("Microsoft.Compute/virtualMachines/delete") is None  # notActions subtract
    assert access.allows("Microsoft.Network/virtualNetworks/read") is not None
    assert access.allows("Microsoft.Network/virtualNetworks/write") is None
    assert access.allows("data:Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read") is not None
    assert access.allows("Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write") is None
    assert inv.policies[role_definition_id(role["id"])].attributes == {"role_type": "CustomRole", "source": "input"}
    assert access.level_counts()["Read"] > 100 and access.level_counts()["Data"] >= 1
    assert "Microsoft.Compute" in access.services()


def test_custom_role_with_everything_is_full_admin():
    access, _ = access_of(("Everything", SUBSCRIPTION, None), custom=[custom_role("Everything", ["*"])])
    assert access.admin.level == "full"


def test_missing_custom_role_definition_is_reported_not_ignored():
    access, inv = access_of(("Mystery", SUBSCRIPTION, None))
    assert access.admin is None
    assert any("Mystery" in reason and "not in the input" in reason for reason in access.incomplete)
    gap = next(g for g in inv.coverage if g.source.startswith("role_definition:"))
    assert gap.status == "partial" and "az role definition list --custom-role-only true" in gap.detail


def test_tier0_graph_permission_is_admin_and_others_are_not():
    access, _ = access_of(graph=["RoleManagement.ReadWrite.Directory"])
    assert access.admin is not None and access.admin.scopes == ("tenant",)
    assert "assign any Entra role" in access.admin.reason
    assert access.allows("graph:RoleManagement.ReadWrite.Directory").policies == (
        "Microsoft Graph: RoleManagement.ReadWrite.Directory",
    )
    reader, _ = access_of(graph=["Directory.Read.All"])
    assert reader.admin is None and reader.held("graph") == ["graph:Directory.Read.All"]


def test_directory_roles_tenant_wide_tier0_only():
    gadmin = "62e90394-69f5-4237-9190-012177145e10"
    app_admin = "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3"
    defs = [
        {
            "id": app_admin,
            "templateId": app_admin,
            "displayName": "Application Administrator",
            "rolePermissions": [
                {"allowedResourceActions": ["microsoft.directory/applications/allProperties/allTasks"]}
            ],
        }
    ]
    ga, _ = access_of(directory=[{"roleDefinitionId": gadmin, "directoryScopeId": "/"}])
    assert ga.admin.level == "full" and "Global Administrator" in ga.admin.reason
    scoped, _ = access_of(
        directory=[{"roleDefinitionId": app_admin, "directoryScopeId": "/administrativeUnits/x"}], directory_defs=defs
    )
    assert scoped.admin is None  # scoped to an administrative unit: narrower, not tenant admin
    grant = scoped.allows("entra:microsoft.directory/applications/credentials/update")  # 'allTasks' is a wildcard
    assert grant is not None and grant.narrowed
    wide, _ = access_of(directory=[{"roleDefinitionId": app_admin, "directoryScopeId": "/"}], directory_defs=defs)
    assert wide.admin.level == "equivalent"


def test_group_inherited_role_assignment():
    app, sp = app_with_sp("member", owners=[])
    group = "4d3c2b1a-0f9e-4d8c-b7a6-5f4e3d2c1b0a"
    inv = inventory(
        apps=[app],
        sps=[sp],
        role_assignments=[rbac(group, "Owner", SUBSCRIPTION, ptype="Group")],
        group_members={group: [{"@odata.type": "#microsoft.graph.servicePrincipal", "id": sp["id"]}]},
        group_names={group: "platform-admins"},
    )
    access, _ = evaluate_inventory(inv)
    assert access[sp["id"]].admin.policies == (f"Owner at subscription {SUB} (via group platform-admins ({group}))",)
    unseen = inventory(apps=[app], sps=[sp], role_assignments=[rbac(group, "Owner", SUBSCRIPTION, ptype="Group")])
    assert any(g.source == "group_members" for g in unseen.coverage)


def test_azure_escalation_paths_use_known_permission_planes():
    paths = load_paths("azure")
    assert {p.id for p in paths} >= {"azure-rbac-001", "azure-mi-001", "azure-vm-001", "azure-graph-003"}
    for path in paths:
        assert path.reference.startswith("https://")
        for permission in path.required:
            assert plane(permission) in ("control", "data", "graph", "entra")


def test_app_registration_without_service_principal_is_known_empty_but_sp_is_not():
    app, sp = app_with_sp("plain", owners=[])
    inv = inventory(apps=[app], sps=[sp])
    lone = dict(app, id="6a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", appId="7b2c3d4e-5f6a-4b7c-9d8e-0f1a2b3c4d5e")
    inv2 = inventory(apps=[lone], sps=[])
    access, _ = evaluate_inventory(inv)
    access2, _ = evaluate_inventory(inv2)
    assert not access[sp["id"]].empty  # permissions outside RBAC / Graph may exist
    assert access2[lone["id"]].empty


def test_engine_reads_policy_documents_from_the_inventory():
    """An inventory from elsewhere (no collector) is evaluated from its own role documents."""
    role = parse_role_definition(custom_role("Everything", ["*"]))
    identity = Identity(id="i", provider="azure", scope=TENANT, kind="azure.service_principal", name="i")
    policy = Policy(
        id=role.id, provider="azure", kind="azure.role_definition", name=role.name, document=role.document()
    )
    grant = Grant(identity_id="i", policy_id=role.id, policy_name=role.name, kind="role_assignment", scope="/")
    engine = AzurePolicyEngine(Inventory(identities=[identity], policies={role.id: policy}, grants=[grant]))
    access = engine.evaluate(identity, [grant])
    assert access.admin.level == "full" and access.admin.scopes == ("root scope /",)


def test_role_assignments_of_deleted_principals_are_reported_not_dropped():
    app, sp = app_with_sp("alive", owners=[])
    ghost = "0a1b2c3d-4e5f-4a6b-9c8d-7e6f5a4b3c2d"
    inv = inventory(apps=[app], sps=[sp], role_assignments=[rbac(ghost, "Owner", SUBSCRIPTION, ptype="Unknown")])
    assert not inv.grants
    expected = "1 Azure role assignment(s) name a service principal that is not in the tenant"
    assert any(expected in w for w in inv.warnings)
