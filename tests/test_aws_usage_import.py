"""Offline usage evidence: Access Advisor and Access Analyzer exports, and their conversion."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from nhiaudit.collectors.aws_export import AwsExportCollector
from nhiaudit.collectors.aws_usage import advisor_usage, analyzer_usage
from nhiaudit.demo import load_demo
from nhiaudit.errors import InputError
from tests.conftest import run_cli, write_json

DEMO = Path(__file__).resolve().parent.parent / "nhiaudit" / "demo" / "aws"
ROLE = "arn:aws:iam::111122223333:role/lambda-orchestrator"
END = datetime(2026, 10, 31, tzinfo=UTC)


def test_advisor_records_services_actions_and_identity() -> None:
    details = {
        "JobStatus": "COMPLETED",
        "JobCompletionDate": "2026-10-31T00:00:00Z",
        "ServicesLastAccessed": [
            {
                "ServiceName": "AWS Lambda",
                "ServiceNamespace": "lambda",
                "LastAuthenticated": "2026-10-29T12:00:00Z",
                "TrackedActionsLastAccessed": [
                    {"ActionName": "InvokeFunction", "LastAccessedTime": "2026-10-29T12:00:00Z"},
                    {"ActionName": "CreateFunction"},
                ],
            },
            {"ServiceName": "AWS IAM", "ServiceNamespace": "iam"},
            {"ServiceName": "Amazon S3", "ServiceNamespace": "s3", "TrackedActionsLastAccessed": [{"ActionName": "X"}]},
        ],
    }
    records = advisor_usage(ROLE, details, where="t", fallback_end=None)
    by = {(r.target_kind, r.target): r for r in records}
    assert by[("identity", None)].last_used == datetime(2026, 10, 29, 12, tzinfo=UTC)
    assert (by[("identity", None)].window_end - by[("identity", None)].window_start).days == 400
    assert by[("service", "iam")].last_used is None and by[("service", "iam")].unobservable == ["iam:PassRole"]
    assert by[("action", "lambda:CreateFunction")].last_used is None
    assert ("action", "s3:X") not in by  # an unused service needs no action records


def test_advisor_rejects_what_is_not_a_finished_report() -> None:
    with pytest.raises(InputError, match="IN_PROGRESS"):
        advisor_usage(ROLE, {"JobStatus": "IN_PROGRESS", "ServicesLastAccessed": []}, where="t", fallback_end=END)
    with pytest.raises(InputError, match="missing ServicesLastAccessed"):
        advisor_usage(ROLE, {"JobStatus": "COMPLETED"}, where="t", fallback_end=END)
    with pytest.raises(InputError, match="missing ServiceNamespace"):
        advisor_usage(ROLE, {"ServicesLastAccessed": [{"ServiceName": "x"}]}, where="t", fallback_end=END)
    with pytest.raises(InputError, match="not a timestamp"):
        bad = {"ServicesLastAccessed": [{"ServiceNamespace": "s3", "LastAuthenticated": "yesterday"}]}
        advisor_usage(ROLE, bad, where="t", fallback_end=END)


def test_analyzer_finding_types() -> None:
    base = {"analyzedAt": 1790000000, "resource": ROLE, "status": "ACTIVE", "id": "f1"}
    role = analyzer_usage(
        {**base, "findingType": "UnusedIAMRole", "findingDetails": [{"unusedIamRoleDetails": {}}]},
        age_days=45,
        where="t",
    )
    assert [(r.target_kind, r.last_used) for r in role] == [("identity", None)]
    assert (role[0].window_end - role[0].window_start).days == 45
    perm = analyzer_usage(
        {
            **base,
            "findingType": "UnusedPermission",
            "findingDetails": [
                {"unusedPermissionDetails": {"serviceNamespace": "iam"}},
                {"unusedPermissionDetails": {"serviceNamespace": "s3", "actions": [{"action": "GetObject"}]}},
            ],
        },
        age_days=90,
        where="t",
    )
    assert [(r.target_kind, r.target, r.unobservable) for r in perm] == [
        ("service", "iam", ["iam:PassRole"]),
        ("action", "s3:GetObject", []),
    ]
    resolved = {**base, "findingType": "UnusedIAMRole", "status": "RESOLVED", "findingDetails": []}
    assert analyzer_usage(resolved, age_days=90, where="t") == []
    external = {**base, "findingType": "ExternalAccess", "findingDetails": []}
    assert analyzer_usage(external, age_days=90, where="t") == []
    with pytest.raises(InputError, match="missing accessKeyId"):
        analyzer_usage(
            {
                **base,
                "findingType": "UnusedIAMUserAccessKey",
                "findingDetails": [{"unusedIamUserAccessKeyDetails": {}}],
            },
            age_days=90,
            where="t",
        )


def test_offline_import_reads_the_demo_layout() -> None:
    inventory = AwsExportCollector(
        [DEMO / "authorization-details.json"],
        DEMO / "credential-report.csv",
        access_advisor=[DEMO / "access-advisor.json"],
        access_analyzer=[DEMO / "access-analyzer.json"],
    ).collect()
    sources = {u.source for u in inventory.usage}
    assert {"aws.access_advisor", "aws.access_analyzer", "aws.role_last_used", "aws.credential_report"} <= sources
    assert [g.status for g in inventory.coverage if g.source == "access_advisor"] == ["partial"]
    analyzer = [u for u in inventory.usage if u.source == "aws.access_analyzer"]
    assert all(u.window_end and (u.window_end - u.window_start).days == 90 for u in analyzer)  # type: ignore[operator]
    assert not any(u.detail and "e06" in u.detail for u in analyzer)  # the RESOLVED finding is not evidence


def test_offline_import_directory_and_partial_coverage(tmp_path: Path) -> None:
    data = json.loads((DEMO / "access-advisor.json").read_text())
    folder = tmp_path / "advisor"
    folder.mkdir()
    for n, (arn, details) in enumerate(list(data.items())[:3]):
        write_json(folder / f"{n}.json", {arn: details})
    inventory = AwsExportCollector(
        [DEMO / "authorization-details.json"], DEMO / "credential-report.csv", access_advisor=[folder]
    ).collect()
    gap = next(g for g in inventory.coverage if g.source == "access_advisor")
    assert gap.status == "partial" and "no Access Advisor data for 28 of 31 identities" in gap.detail


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"ServicesLastAccessed": []}, "single get-service-last-accessed-details output without its principal"),
        (["x"], "expected a JSON object mapping principal ARNs"),
        ({"role/x": {"ServicesLastAccessed": []}}, "is not a principal ARN"),
        ({ROLE: {"JobStatus": "FAILED", "ServicesLastAccessed": []}}, "FAILED, not COMPLETED"),
    ],
)
def test_bad_advisor_files_are_one_line_errors(tmp_path: Path, content: object, message: str) -> None:
    path = write_json(tmp_path / "advisor.json", content)
    result = run_cli(
        "scan",
        "aws",
        "--from-file",
        str(DEMO / "authorization-details.json"),
        "--access-advisor",
        str(path),
    )
    assert result.returncode == 2
    assert message in result.stderr and str(path) in result.stderr and result.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"findings": "x"}, "expected a list of get-finding-v2 outputs"),
        ([{"id": "a", "findingType": "UnusedIAMRole"}], "list-findings-v2 summaries are not enough"),
        ({"unusedAccessAge": 0, "findings": []}, "unusedAccessAge must be"),
        ([{"findingType": "UnusedIAMRole", "resource": ROLE, "findingDetails": []}], "missing analyzedAt"),
    ],
)
def test_bad_analyzer_files_are_one_line_errors(tmp_path: Path, content: object, message: str) -> None:
    path = write_json(tmp_path / "findings.json", content)
    result = run_cli(
        "scan", "aws", "--from-file", str(DEMO / "authorization-details.json"), "--access-analyzer", str(path)
    )
    assert result.returncode == 2
    assert message in result.stderr and result.stderr.count("\n") == 1


def test_truncated_advisor_file(tmp_path: Path) -> None:
    path = tmp_path / "advisor.json"
    path.write_text((DEMO / "access-advisor.json").read_text()[:5000])
    result = run_cli(
        "scan", "aws", "--from-file", str(DEMO / "authorization-details.json"), "--access-advisor", str(path)
    )
    assert result.returncode == 2 and "looks truncated" in result.stderr


def test_demo_shows_excess_privilege_and_unused_identities_from_usage_evidence() -> None:
    result = run_cli("scan", "--demo", "-f", "json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    excess = {f["identity_name"]: f for f in doc["findings"] if f["rule_id"] == "excess-privilege"}
    assert excess["ci-deploy-admin"]["severity"] == "high"
    assert excess["ci-deploy-admin"]["evidence"]["excess_privilege_index"] >= 90
    assert excess["lambda-orchestrator"]["evidence"]["not_judged"] == ["iam:PassRole"]
    assert excess["ops-automation"]["evidence"]["unused_actions_in_used_services"] == ["iam:PutRolePolicy"]
    # near misses: young identities (grace period), identities that use what they hold, and wholly
    # unused identities (left to identity-unused)
    for clean in ("batch-worker", "svc-new-uploader", "svc-backup", "github-actions-deploy", "legacy-etl"):
        assert clean not in excess
    unused = {f["identity_name"]: f for f in doc["findings"] if f["rule_id"] == "identity-unused"}
    assert {"aws.access_advisor", "aws.access_analyzer"} <= set(unused["old-migration-2024"]["evidence"]["sources"])
    (gap,) = [g for g in doc["scan"]["coverage"] if g["source"] == "access_advisor"]
    assert gap["status"] == "partial" and "svc-new-uploader" in gap["detail"]  # the demo's one blind spot
    table = run_cli("scan", "--demo", "--max-rows", "0")  # the demo has more findings than one screen
    assert "excess-privilege" in table.stdout and "Excess-privilege index" in table.stdout


def test_demo_inventory_keeps_its_earlier_findings() -> None:
    """The findings the demo had before usage evidence was added are all still there."""
    from nhiaudit.analyzer import analyze

    doc = analyze(load_demo())
    found = {(f.rule_id, f.identity_name) for f in doc.findings}
    before = {
        ("admin-equivalent", "ci-deploy-admin"),
        ("admin-equivalent", "legacy-etl"),
        ("admin-equivalent", "svc-admin-bot"),
        ("credential-never-used", "svc-reports"),
        ("identity-unused", "legacy-etl"),
        ("identity-unused", "old-migration-2024"),
        ("identity-unused", "svc-decommissioned"),
        ("identity-unused", "svc-legacy-sync"),
        ("privilege-escalation", "ops-automation"),
        ("human-usable-nhi", "jenkins"),
    }
    assert before <= found
