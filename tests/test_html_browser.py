"""The HTML report in a real browser (headless Chromium over the DevTools protocol): it loads
with nothing fetched from the network and no script error, its counts match the JSON of the
same scan, and its table sorts and filters.

Chromium is required: Debian's ``chromium`` package (``.ci/run`` installs it). Without it this
test fails, it does not skip.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nhiaudit.baseline import apply_baseline
from nhiaudit.report.html import render_html
from nhiaudit.suppressions import Suppression, apply_suppressions
from tests.browser import Browser, find_chromium
from tests.ci_support import demo_findings, second_scan
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def chromium() -> str:
    path = find_chromium()
    if path is None:
        pytest.fail(
            "headless Chromium is needed to test the HTML report and was not found: install Debian's "
            "'chromium' package (apt-get install -y chromium; .ci/run does this) or set NHIAUDIT_CHROMIUM",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="module")
def browser(chromium):
    with Browser(chromium) as b:
        b.open_page()
        yield b


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("report")
    result = run_cli("scan", "--demo", "--format", "json,html", "--output-dir", str(out))
    assert result.returncode == 0, result.stderr
    return out / "nhiaudit.html", json.loads((out / "nhiaudit.json").read_text())


def _load(browser: Browser, path: Path) -> None:
    url = path.resolve().as_uri()
    browser.navigate(url)
    assert browser.evaluate("document.documentElement.dataset.ready") == "1", "the report script did not run"
    assert browser.requested_urls() == [url], "the report fetched something besides itself"
    assert browser.problems() == []


def _count(browser: Browser, key: str) -> int:
    return int(browser.evaluate(f"document.querySelector('[data-count=\"{key}\"]').textContent"))


def _visible_rows(browser: Browser) -> int:
    return browser.evaluate("document.querySelectorAll('#findings-table tbody tr[data-index]:not([hidden])').length")


def _set(browser: Browser, element_id: str, value: str) -> None:
    browser.evaluate(
        f"(() => {{ const el = document.getElementById({element_id!r}); el.value = {value!r};"
        " el.dispatchEvent(new Event('input')); })()"
    )


def test_demo_report_loads_offline_and_matches_the_json(browser, demo_report):
    html, data = demo_report
    text = html.read_text()
    assert 'http-equiv="Content-Security-Policy"' in text and "<link" not in text and " src=" not in text
    _load(browser, html)
    summary = data["summary"]
    assert _count(browser, "total") == summary["total"] == len(data["findings"])
    for severity, n in summary["by_severity"].items():
        assert _count(browser, severity) == n
        assert browser.evaluate(
            f"document.querySelector('#chart-severity g[data-label=\"{severity}\"]').dataset.value"
        ) == str(n)
    assert _count(browser, "suppressed") == summary["suppressed"]
    assert _count(browser, "identities") == data["scan"]["identities"]["analyzed"]
    assert _visible_rows(browser) == summary["total"]
    assert browser.evaluate("document.getElementById('shown-count').textContent") == str(summary["total"])
    for category, n in summary["by_owasp_nhi"].items():
        assert browser.evaluate(
            f"document.querySelector('#chart-owasp g[data-label^=\"{category} \"]').dataset.value"
        ) == str(n)
        cell = browser.evaluate(
            f"document.querySelector('table[data-framework=owasp_nhi] tr[data-item=\"{category}\"]').dataset.findings"
        )
        assert cell == str(n)
    for scope, n in summary["by_scope"].items():
        provider, name = scope.split(":", 1)
        label = {"aws": "AWS", "gcp": "GCP", "azure": "Azure"}[provider] + " " + name
        assert browser.evaluate(
            f"document.querySelector('#chart-scope g[data-label=\"{label}\"]').dataset.value"
        ) == str(n)
    identities = {f["identity_id"] for f in data["findings"]}
    assert browser.evaluate("document.querySelectorAll('details.identity').length") == len(identities)
    assert browser.evaluate("document.querySelectorAll('article.finding').length") == len(data["findings"])
    bucket_values = browser.evaluate(
        "Array.from(document.querySelectorAll('#chart-excess g')).map(g => Number(g.dataset.value))"
    )
    indexed = sum(1 for f in data["findings"] if "excess_privilege_index" in f["evidence"])
    assert sum(bucket_values) == indexed > 0  # the demo's excess-privilege findings (usage evidence)


def test_table_filters_and_sorts(browser, demo_report):
    html, data = demo_report
    _load(browser, html)
    findings = data["findings"]
    _set(browser, "filter-severity", "critical")
    assert _visible_rows(browser) == data["summary"]["by_severity"]["critical"]
    _set(browser, "filter-severity", "")
    _set(browser, "filter-text", "svc-reports")
    assert _visible_rows(browser) == sum(1 for f in findings if "svc-reports" in f["identity_id"])
    _set(browser, "filter-text", "")
    _set(browser, "filter-rule", "privilege-escalation")
    assert _visible_rows(browser) == data["summary"]["by_rule"]["privilege-escalation"]
    _set(browser, "filter-rule", "")
    assert _visible_rows(browser) == len(findings)

    # sort by identity (column 2), then reverse
    first = "document.querySelector('#findings-table tbody tr:not([hidden]) .idlink').textContent"
    browser.evaluate("document.querySelector('#findings-table thead button[data-col=\"2\"]').click()")
    names = sorted(f["identity_name"].lower() for f in findings)
    assert browser.evaluate(first).lower() == names[0]
    browser.evaluate("document.querySelector('#findings-table thead button[data-col=\"2\"]').click()")
    assert browser.evaluate(first).lower() == names[-1]
    assert (
        browser.evaluate("document.querySelector('#findings-table thead th[aria-sort]').getAttribute('aria-sort')")
        == "descending"
    )
    # severity sorts by rank, not alphabetically
    browser.evaluate("document.querySelector('#findings-table thead button[data-col=\"0\"]').click()")
    sev = "document.querySelector('#findings-table tbody tr:not([hidden])').dataset.severity"
    assert (
        browser.evaluate(sev)
        == min(findings, key=lambda f: ["info", "low", "medium", "high", "critical"].index(f["severity"]))["severity"]
    )

    # the identity link opens its detail with evidence and remediation
    browser.evaluate("document.querySelector('.idlink').click()")
    opened = browser.evaluate(
        "(() => { const d = document.querySelector('details.identity[open]'); return d && d.textContent; })()"
    )
    assert opened and "Remediation." in opened and "Evidence" in opened


def test_suppressed_baseline_and_excess_privilege(browser, tmp_path):
    doc = apply_baseline(second_scan(), demo_findings(), "last-week.json")
    target = [f for f in doc.findings if f.severity.value == "high"][-1]
    doc = apply_suppressions(doc, [Suppression(index=1, reason="accepted <risk>", fingerprint=target.fingerprint)], "s")
    # findings that carry an excess-privilege index (evidence key read generically by the report); the
    # demo's own excess-privilege indexes are replaced so that the distribution below is controlled
    indexed = {f.fingerprint: value for f, value in zip(doc.findings[:5], (5, 42, 47, 88, 100), strict=True)}
    doc.findings = [
        f.model_copy(
            update={
                "evidence": {k: v for k, v in f.evidence.items() if k != "excess_privilege_index"}
                | ({"excess_privilege_index": indexed[f.fingerprint]} if f.fingerprint in indexed else {})
            }
        )
        for f in doc.findings
    ]
    path = tmp_path / "report.html"
    path.write_text(render_html(doc))
    _load(browser, path)
    assert _count(browser, "total") == doc.summary.total
    assert _count(browser, "suppressed") == 1
    assert (
        _count(browser, "new") == doc.scan.baseline.new
        and _count(browser, "fixed") == len(doc.scan.baseline.fixed) == 2
    )
    assert _visible_rows(browser) == doc.summary.total
    _set(browser, "filter-status", "suppressed")
    assert _visible_rows(browser) == 1
    assert "accepted <risk>" in browser.evaluate(
        "document.querySelector('#findings-table tbody tr:not([hidden]) td:last-child').title"
    )
    _set(browser, "filter-status", "")
    _set(browser, "filter-change", "new")
    assert _visible_rows(browser) == sum(1 for f in doc.findings if f.baseline.state == "new")
    buckets = browser.evaluate(
        "Array.from(document.querySelectorAll('#chart-excess g')).map(g => [g.dataset.bucket, Number(g.dataset.value)])"
    )
    assert target.fingerprint not in indexed
    assert {k: v for k, v in buckets if v} == {"0-9": 1, "40-49": 2, "80-89": 1, "90-100": 1}
    assert "median 47" in browser.evaluate("document.getElementById('charts').textContent")
    assert "ci-deploy-admin" in browser.evaluate("document.getElementById('baseline').textContent")


def test_screenshot(browser, demo_report, tmp_path):
    html, _ = demo_report
    _load(browser, html)
    shot = tmp_path / "report.png"
    browser.screenshot(shot)
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 20_000


def test_missing_chromium_fails_loudly():
    """Without Chromium the browser tests fail with a clear message; they never skip silently."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "NHIAUDIT_CHROMIUM"}
    env["PATH"] = "/nonexistent"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"{__file__}::test_screenshot"],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).parent.parent,
        timeout=300,
    )
    assert result.returncode == 1, result.stdout
    assert "headless Chromium is needed" in result.stdout and "apt-get install -y chromium" in result.stdout
    assert "skipped" not in result.stdout


def test_hostile_names_stay_text(browser, tmp_path):
    """Identity names, descriptions and evidence are data from the cloud: never markup."""
    doc = demo_findings()
    hostile = (
        '<img src="https://example.invalid/x.png" onerror="document.title=\'pwned\'">'
        '<script>document.title="pwned"</script>'
    )
    first = doc.findings[0]
    doc.findings[0] = first.model_copy(
        update={
            "identity_name": hostile,
            "description": hostile,
            "evidence": {hostile: [hostile], "nested": {"k": hostile}},
            "suppression": {"reason": hostile},
        }
    )
    path = tmp_path / "hostile.html"
    path.write_text(render_html(doc))
    _load(browser, path)  # asserts that nothing but the file itself was requested, and no script error
    assert browser.evaluate("document.title") != "pwned"
    assert browser.evaluate("document.querySelectorAll('img').length") == 0
    assert browser.evaluate("document.querySelectorAll('script').length") == 1
    assert hostile in browser.evaluate("document.querySelector('.idlink').textContent")
