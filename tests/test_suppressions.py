"""Suppressions: what they match, how they change the exit code, expiry, and bad files."""

from __future__ import annotations

import json
from datetime import date

import pytest

from nhiaudit.errors import InputError
from nhiaudit.suppressions import apply_suppressions, load_suppressions
from tests.ci_support import ACCOUNT, demo_findings
from tests.conftest import run_cli

ADMIN_ROLE = f"arn:aws:iam::{ACCOUNT}:role/ci-deploy-admin"


def _write(tmp_path, text: str, name: str = "suppressions.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_each_criterion_matches(tmp_path):
    doc = demo_findings()
    admin = next(f for f in doc.findings if f.identity_id == ADMIN_ROLE)
    path = _write(
        tmp_path,
        f"""
[[suppress]]
fingerprint = "{admin.fingerprint}"
reason = "Break-glass deploy role, reviewed quarterly"
ticket = "SEC-1"

[[suppress]]
rule = "credential-not-rotated"
identity = "svc-report*"
reason = "Rotation scheduled with the reports rewrite"
expires = 2099-12-31

[[suppress]]
rule = "identity-unused"
account = "1111*"
identity = "arn:aws:iam::111122223333:role/old-migration-*"
reason = "Kept for the 2027 audit"
""",
    )
    out = apply_suppressions(doc, load_suppressions(path), str(path), today=date(2026, 11, 1))
    suppressed = {(f.rule_id, f.identity_name): f.suppression for f in out.findings if f.suppression}
    assert set(suppressed) == {
        ("admin-equivalent", "ci-deploy-admin"),
        ("credential-not-rotated", "svc-reports"),
        ("identity-unused", "old-migration-2024"),
    }
    assert suppressed[("admin-equivalent", "ci-deploy-admin")]["ticket"] == "SEC-1"
    assert suppressed[("admin-equivalent", "ci-deploy-admin")]["matched_by"] == ["fingerprint"]
    assert suppressed[("credential-not-rotated", "svc-reports")]["expires"] == "2099-12-31"
    # two svc-reports keys are unrotated: both suppressed, and the counts say so
    assert sum(1 for f in out.findings if f.suppression) == 4
    assert out.summary.suppressed == 4 and out.summary.total == len(doc.findings) - 4
    assert out.scan.suppressions.suppressed == 4 and out.scan.suppressions.unmatched == []
    assert len(out.findings) == len(doc.findings)  # suppressed findings stay in the document


def test_suppressions_decide_the_exit_code(tmp_path):
    doc = demo_findings()
    blocking = [f for f in doc.findings if f.severity.value in ("critical", "high")]
    entries = "\n".join(
        f'[[suppress]]\nfingerprint = "{f.fingerprint}"\nreason = "accepted for the test"\n' for f in blocking
    )
    path = _write(tmp_path, entries)
    assert run_cli("scan", "--demo", "--fail-on", "high", "-f", "json").returncode == 1
    result = run_cli("scan", "--demo", "--fail-on", "high", "-f", "json", "--suppressions", str(path))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["summary"]["suppressed"] == len(blocking)
    kept = [f for f in data["findings"] if f["suppression"]]
    assert len(kept) == len(blocking) and all(f["suppression"]["reason"] == "accepted for the test" for f in kept)
    # medium findings are not suppressed and still fail a lower threshold
    assert run_cli("scan", "--demo", "--fail-on", "medium", "--suppressions", str(path)).returncode == 1
    # the same file works on 'report' with a saved findings file
    findings = tmp_path / "findings.json"
    findings.write_text(json.dumps(data))
    assert run_cli("report", str(findings), "--fail-on", "high").returncode == 0  # suppressions kept in the file
    assert (
        run_cli(
            "report", str(findings), "--fail-on", "high", "--suppressions", str(_write(tmp_path, "", "empty.toml"))
        ).returncode
        == 1
    )


def test_expired_suppression_counts_again_and_warns(tmp_path):
    doc = demo_findings()
    admins = [f for f in doc.findings if f.rule_id == "admin-equivalent"]
    path = _write(
        tmp_path,
        """
[[suppress]]
rule = "admin-equivalent"
reason = "Temporary exception during the migration"
expires = 2020-01-31
""",
    )
    others = [f for f in doc.findings if f.severity.value in ("critical", "high") and f.rule_id != "admin-equivalent"]
    others_file = "\n".join(f'[[suppress]]\nfingerprint = "{f.fingerprint}"\nreason = "ok"\n' for f in others)
    path.write_text(path.read_text() + others_file)
    result = run_cli("scan", "--demo", "--fail-on", "critical", "-f", "json", "--suppressions", str(path))
    assert result.returncode == 1, "an expired suppression must not keep suppressing"
    data = json.loads(result.stdout)
    expected = (
        f"suppression entry 1 (rule admin-equivalent) in {path} expired on 2020-01-31; "
        f"the {len(admins)} findings it matched count again"
    )
    assert expected in data["scan"]["warnings"]
    assert f"nhiaudit: warning: {expected}" in result.stderr
    assert data["scan"]["suppressions"]["expired"][0]["matched"] == len(admins)
    assert all(f["suppression"] is None for f in data["findings"] if f["rule_id"] == "admin-equivalent")
    # every report format shows it
    markdown = run_cli("scan", "--demo", "-f", "markdown", "--suppressions", str(path))
    assert "expired on 2020-01-31" in markdown.stdout
    table = run_cli("scan", "--demo", "--suppressions", str(path))
    assert "expired on 2020-01-31" in table.stdout


def test_unknown_rule_and_stale_entries_are_reported(tmp_path):
    path = _write(
        tmp_path,
        """
[[suppress]]
rule = "credential-not-rotatd"
reason = "typo"
""",
    )
    out = apply_suppressions(demo_findings(), load_suppressions(path), "s.toml")
    assert any("names no known rule" in w for w in out.scan.warnings)
    assert out.scan.suppressions.unmatched[0]["entry"] == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[suppress]]\nrule = "admin-equivalent"\n', "entry 1: 'reason' is required"),
        ('[[suppress]]\nreason = "everything"\n', "entry 1: give at least one of fingerprint"),
        ('[[suppress]]\nrule = "x"\nreason = "r"\nexpires = "next week"\n', "'expires' must be a date"),
        ('[[suppress]]\nfingerprint = "abc"\nreason = "r"\n', "not a 32-character hex finding fingerprint"),
        ('[[suppress]]\nrule = "x"\nreason = "r"\nsevrity = "high"\n', "unknown key 'sevrity'"),
        ('[[suppress]]\nrule = "x"\nreason = ""\n', "'reason' must be a non-empty string"),
        ('[suppress]\nrule = "x"\nreason = "r"\n', "'suppress' must be an array of tables"),
        ("[[suppress]\nrule = ", "malformed TOML"),
    ],
)
def test_malformed_files_are_rejected(tmp_path, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(InputError) as info:
        load_suppressions(path)
    assert message in str(info.value)


def test_malformed_file_exits_2_with_one_line(tmp_path):
    path = _write(tmp_path, '[[suppress]]\nrule = "admin-equivalent"\n')
    result = run_cli("scan", "--demo", "--fail-on", "high", "--suppressions", str(path))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip() == (
        f"nhiaudit: error: {path}: entry 1: 'reason' is required (say why this finding is accepted)"
    )
    missing = run_cli("scan", "--demo", "--suppressions", str(tmp_path / "nope.toml"))
    assert missing.returncode == 2 and "suppressions file not found" in missing.stderr
    yaml = run_cli("scan", "--demo", "--suppressions", str(_write(tmp_path, "- rule: x", "s.yaml")))
    assert yaml.returncode == 2 and "suppressions files are TOML" in yaml.stderr
