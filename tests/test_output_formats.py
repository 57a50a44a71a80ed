"""Several formats in one run, the Markdown summary, the frameworks command, option errors."""

from __future__ import annotations

import csv
import json

import pytest

from nhiaudit.frameworks import load_framework
from nhiaudit.frameworks.coverage import coverage_tables
from nhiaudit.model import dump_json
from nhiaudit.report import FORMATS
from nhiaudit.rules import all_rules
from tests.ci_support import demo_findings
from tests.conftest import run_cli


def test_every_format_in_one_run(tmp_path):
    out = tmp_path / "out"
    result = run_cli("scan", "--demo", "--format", "json,csv,sarif,ocsf,html,markdown,table", "--output-dir", str(out))
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(
        [
            "nhiaudit.json",
            "nhiaudit.csv",
            "nhiaudit.sarif",
            "nhiaudit.ocsf.json",
            "nhiaudit.html",
            "nhiaudit.md",
            "nhiaudit.txt",
        ]
    )
    total_demo = demo_findings().summary.total
    assert result.stderr.count(f"wrote {total_demo} findings") == 7
    data = json.loads((out / "nhiaudit.json").read_text())
    total = data["summary"]["total"]
    assert len(list(csv.DictReader((out / "nhiaudit.csv").open()))) == total
    assert len(json.loads((out / "nhiaudit.sarif").read_text())["runs"][0]["results"]) == total
    assert len(json.loads((out / "nhiaudit.ocsf.json").read_text())) == total
    assert f"nhiaudit: {total} findings" in (out / "nhiaudit.md").read_text()
    text = (out / "nhiaudit.txt").read_text()
    assert "\x1b[" not in text and f"{total} findings" in text
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--format", "json,sarif"), "2 formats need --output-dir DIR"),
        (("--format", "json,pdf", "--output-dir", "x"), "unknown format 'pdf'"),
        (
            ("--format", "json", "--output", "a.json", "--output-dir", "x"),
            "either --output (one format) or --output-dir",
        ),
        (("--format", " , "), "--format: give a format"),
    ],
)
def test_format_option_errors(tmp_path, args, message):
    result = run_cli("scan", "--demo", *args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr and result.stderr.count("\n") == 1
    assert not (tmp_path / "x").exists(), "nothing is written when the options are wrong"


def test_markdown_summary(tmp_path):
    result = run_cli("scan", "--demo", "--format", "markdown", "--max-rows", "5")
    assert result.returncode == 0, result.stderr
    md = result.stdout
    summary = demo_findings().summary  # the demo spans AWS and GCP: counts come from the scan itself
    sev = summary.by_severity
    counts = ", ".join(f"{sev[s]} {s}" for s in ("critical", "high", "medium", "low", "info") if sev[s])
    assert md.startswith(f"## nhiaudit: {summary.total} findings ({counts})")
    assert f"| 🟥 critical | {sev['critical']} |" in md
    assert f"| NHI5:2025 Overprivileged NHI | {summary.by_owasp_nhi['NHI5:2025']} |" in md
    assert f"### Findings ({summary.total})" in md and f"… {summary.total - 5} more" in md
    assert "### What could not be seen" in md and "access_advisor" in md
    rows = [line for line in md.splitlines() if "[`" in line]
    assert len(rows) == 5 and all(line.count(" | ") == 5 for line in rows)


def test_markdown_escapes_table_cells(tmp_path):
    doc = demo_findings()
    doc.findings[0].description = "a | b <script>alert(1)</script>\nnext line"
    path = tmp_path / "f.json"
    path.write_text(dump_json(doc))
    md = run_cli("report", str(path), "-f", "markdown").stdout
    assert "a \\| b &lt;script>alert(1)&lt;/script> next line" in md


def test_frameworks_command_counts_match_the_scan(tmp_path):
    findings = tmp_path / "findings.json"
    assert run_cli("scan", "--demo", "-f", "json", "-o", str(findings)).returncode == 0
    data = json.loads(findings.read_text())
    result = run_cli("frameworks", str(findings), "--format", "json")
    assert result.returncode == 0, result.stderr
    tables = {t["framework"]: t for t in json.loads(result.stdout)}
    assert set(tables) == {"owasp_nhi", "nist_800_207"}
    owasp = tables["owasp_nhi"]
    assert [i["id"] for i in owasp["items"]] == [r.id for r in load_framework("owasp_nhi").requirements]
    for item in owasp["items"]:
        assert item["findings"] == data["summary"]["by_owasp_nhi"].get(item["id"], 0)
        assert item["rules"] == sorted(r.meta.id for r in all_rules() if item["id"] in r.meta.owasp_nhi)
    assert len(tables["nist_800_207"]["items"]) == 7
    tenet6 = next(i for i in tables["nist_800_207"]["items"] if i["id"] == "Tenet 6")
    assert tenet6["findings"] == sum(1 for f in data["findings"] if "Tenet 6" in f["references"]["nist_800_207"])

    table = run_cli("frameworks")
    assert table.returncode == 0 and "Improper Offboarding" in table.stdout and "Findings" not in table.stdout
    md = run_cli("frameworks", str(findings), "--format", "markdown", "--framework", "all")
    assert md.returncode == 0
    assert "## OWASP Non-Human Identities Top 10 (2025)" in md.stdout and "## NIST SP 800-53" in md.stdout
    bad = run_cli("frameworks", "--framework", "iso27001")
    assert bad.returncode == 2 and "unknown framework 'iso27001'" in bad.stderr


def test_coverage_counts_suppressed_apart():
    doc = demo_findings()
    doc.findings[0].suppression = {"reason": "x"}
    (owasp,) = coverage_tables([r.meta for r in all_rules()], doc.findings, ["owasp_nhi"])
    nhi5 = next(i for i in owasp.items if i.requirement.id == "NHI5:2025")
    first_is_nhi5 = "NHI5:2025" in doc.findings[0].references.owasp_nhi
    expected = sum(1 for f in doc.findings if "NHI5:2025" in f.references.owasp_nhi) - first_is_nhi5
    assert (nhi5.findings, nhi5.suppressed) == (expected, int(first_is_nhi5))
    assert nhi5.findings > 5


def test_registry_lists_every_documented_format():
    assert set(FORMATS) == {"table", "json", "csv", "sarif", "ocsf", "html", "markdown"}
