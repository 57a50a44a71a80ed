"""Baselines and diffs on two real scans with planted changes: new, fixed, unchanged, severity
changed, not rescanned, and first-seen dates carried forward."""

from __future__ import annotations

import csv
import io
import json

import pytest

from nhiaudit.baseline import compare
from nhiaudit.model import dump_json
from tests.ci_support import (
    ADMIN_ROLE,
    DECOMMISSIONED_KEY,
    FIRST_SCAN,
    METRICS_USER,
    PLANTED_KEY,
    SECOND_SCAN,
    demo_findings,
    second_scan,
)
from tests.conftest import run_cli


def _key(f) -> tuple[str, str, str | None]:
    return (f.rule_id, f.identity_id, f.credential_id)


@pytest.fixture(scope="module")
def scans(tmp_path_factory):
    root = tmp_path_factory.mktemp("scans")
    old, new = demo_findings(), second_scan()
    (root / "old.json").write_text(dump_json(old))
    (root / "new.json").write_text(dump_json(new))
    return root, old, new


def test_compare_finds_the_planted_changes(scans):
    _, old, new = scans
    diff = compare(old, new, "old.json", "new.json")

    # removing the admin grant fixes both the admin finding and the excess privilege it carried
    assert {_key(f) for f in diff.fixed} == {
        ("admin-equivalent", ADMIN_ROLE, None),
        ("excess-privilege", ADMIN_ROLE, None),
    }
    added = {_key(f) for f in diff.added}
    assert ("credential-not-rotated", METRICS_USER, PLANTED_KEY) in added
    assert ("multiple-active-credentials", METRICS_USER, None) in added
    assert not any(f.identity_id == ADMIN_ROLE and f.rule_id == "admin-equivalent" for f in diff.new.findings)

    # the decommissioned user's key crossed 365 days: same finding, higher severity
    changed = {_key(f): f for f in diff.severity_changed}
    rotated = changed[
        ("credential-not-rotated", "arn:aws:iam::111122223333:user/svc-decommissioned", DECOMMISSIONED_KEY)
    ]
    assert rotated.severity.value == "high"
    assert rotated.baseline.previous_severity.value == "medium"

    # every finding is accounted for exactly once
    assert len(diff.added) + len(diff.unchanged) == len(new.findings)
    assert len(diff.fixed) + len(diff.unchanged) == len(old.findings)
    assert diff.not_rescanned == []


def test_first_seen_is_carried_forward(scans):
    _, old, new = scans
    assert all(f.first_seen == SECOND_SCAN for f in new.findings)  # a fresh scan knows only today
    diff = compare(old, new, "old.json")
    assert diff.unchanged and all(f.first_seen == FIRST_SCAN for f in diff.unchanged)
    assert all(f.baseline.baseline_first_seen == FIRST_SCAN for f in diff.unchanged)
    assert diff.added and all(f.first_seen == SECOND_SCAN for f in diff.added)
    # and the carried date is what the annotated document (JSON, CSV due dates) holds
    carried = {f.fingerprint: f.first_seen for f in diff.new.findings}
    assert all(carried[f.fingerprint] == FIRST_SCAN for f in diff.unchanged)


def test_a_narrower_scan_does_not_mark_findings_fixed():
    old = demo_findings()
    narrow = second_scan(only_rules=["credential-not-rotated"])
    diff = compare(old, narrow, "old.json")
    assert diff.fixed == []  # only rotation ran; nothing else can be called fixed
    assert {f.rule_id for f in diff.not_rescanned} == {r for r in old.summary.by_rule if r != "credential-not-rotated"}

    # a clean scan of another account says nothing about this one
    other_account = second_scan()
    other_account.findings = []
    for source in other_account.scan.sources:
        source.scope = "999988887777"
    diff = compare(old, other_account, "old.json")
    assert diff.fixed == [] and len(diff.not_rescanned) == len(old.findings)


def test_diff_command_json(scans):
    root, _old, new = scans
    result = run_cli("diff", str(root / "old.json"), str(root / "new.json"), "--format", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["kind"] == "nhiaudit.diff"
    assert data["counts"]["fixed"] == 2
    assert {f["identity_id"] for f in data["fixed"]} == {ADMIN_ROLE}
    assert PLANTED_KEY in {f["credential_id"] for f in data["new_findings"]}
    assert data["counts"]["new"] == len(data["new_findings"])
    assert data["counts"]["unchanged"] + data["counts"]["new"] == len(new.findings)
    assert {f["first_seen"] for f in data["unchanged"]} == {"2026-11-01T00:00:00Z"}
    assert data["counts"]["severity_changed"] == sum(
        1 for f in data["unchanged"] if f["baseline"]["state"] == "severity_changed"
    )


def test_diff_command_csv_markdown_table(scans):
    root, _, _ = scans
    args = ("diff", str(root / "old.json"), str(root / "new.json"))
    result = run_cli(*args, "--format", "csv")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    changes = {r["change"] for r in rows}
    assert {"new", "fixed", "unchanged", "severity_changed"} <= changes
    fixed = [r for r in rows if r["change"] == "fixed"]
    assert sorted((r["rule_id"], r["identity"]) for r in fixed) == [
        ("admin-equivalent", ADMIN_ROLE),
        ("excess-privilege", ADMIN_ROLE),
    ]
    planted = next(r for r in rows if r["credential"] == PLANTED_KEY)
    assert planted["change"] == "new" and planted["first_seen"] == "2026-11-10"

    markdown = run_cli(*args, "--format", "markdown")
    assert markdown.returncode == 0, markdown.stderr
    assert markdown.stdout.startswith("## nhiaudit diff: ")
    assert "### Fixed (2)" in markdown.stdout and "ci-deploy-admin" in markdown.stdout
    assert "severity changed (was medium)" in markdown.stdout

    table = run_cli(*args)
    assert table.returncode == 0, table.stderr
    assert "2 fixed" in table.stdout and "Fixed (2)" in table.stdout and "HIGH (was medium)" in table.stdout


def test_diff_fails_only_on_new_findings(scans):
    root, _, new = scans
    args = ("diff", str(root / "old.json"), str(root / "new.json"))
    # new high findings (the planted key, the key that turned high) -> 1
    high = run_cli(*args, "--fail-on", "high", "--format", "json")
    assert high.returncode == 1
    assert "new (or newly this severe) since the baseline" in high.stderr
    # critical findings exist in the new scan, but none is new -> 0
    assert any(f.severity.value == "critical" for f in new.findings)
    assert run_cli(*args, "--fail-on", "critical", "--format", "json").returncode == 0
    # the same scan without a baseline fails on them
    assert run_cli("report", str(root / "new.json"), "--fail-on", "critical", "-f", "json").returncode == 1


def test_report_and_scan_with_baseline(scans, tmp_path):
    root, _, _ = scans
    out = tmp_path / "annotated.json"
    result = run_cli(
        "report", str(root / "new.json"), "--baseline", str(root / "old.json"), "-f", "json", "-o", str(out)
    )
    assert result.returncode == 0, result.stderr
    assert "since the baseline" in result.stderr
    doc = json.loads(out.read_text())
    states = {f["fingerprint"]: f["baseline"]["state"] for f in doc["findings"]}
    assert set(states.values()) == {"new", "unchanged", "severity_changed"}
    assert doc["scan"]["baseline"]["fixed"][0]["identity_id"] == ADMIN_ROLE
    assert (
        run_cli(
            "report", str(root / "new.json"), "--baseline", str(root / "old.json"), "--fail-on", "critical"
        ).returncode
        == 0
    )

    # a scan compared with itself has nothing new, whatever its severities
    assert run_cli("scan", "--demo", "--fail-on", "high", "-f", "json").returncode == 1
    same = run_cli("scan", "--demo", "--baseline", str(root / "old.json"), "--fail-on", "info", "-f", "json")
    assert same.returncode == 0, same.stderr
    assert json.loads(same.stdout)["scan"]["baseline"]["new"] == 0


def test_other_formats_render_the_annotated_scan(scans):
    root, _, _ = scans
    sarif = run_cli("diff", str(root / "old.json"), str(root / "new.json"), "--format", "sarif")
    assert sarif.returncode == 0, sarif.stderr
    results = json.loads(sarif.stdout)["runs"][0]["results"]
    assert {r["baselineState"] for r in results} == {"new", "unchanged", "updated"}


def test_bad_baseline_is_a_one_line_error(scans, tmp_path):
    root, _, _ = scans
    bad = tmp_path / "truncated.json"
    bad.write_text((root / "old.json").read_text()[:500])
    result = run_cli("report", str(root / "new.json"), "--baseline", str(bad))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "truncated" in result.stderr
    inventory = run_cli("diff", str(root / "old.json"), str(tmp_path / "missing.json"))
    assert inventory.returncode == 2 and "file not found" in inventory.stderr


def test_diff_only_keeps_the_asked_changes(scans):
    root, _, _ = scans
    args = ("diff", str(root / "old.json"), str(root / "new.json"), "-f", "csv")
    result = run_cli(*args, "--only", "new", "--only", "fixed")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert {r["change"] for r in rows} == {"new", "fixed"}
    assert PLANTED_KEY in {r["credential"] for r in rows}
    bad = run_cli(*args, "--only", "gone")
    assert bad.returncode == 2 and "--only: unknown change 'gone'" in bad.stderr
