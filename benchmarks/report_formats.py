"""How long each output format (and a diff) takes, and how big it gets, for a large scan.

    python benchmarks/report_formats.py [--findings 11000] [--browser]

The findings are the demo scan's, repeated over many identities and 40 accounts. --browser
also loads the HTML report in headless Chromium (needs Debian's chromium) and times the load,
a filter and a sort.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nhiaudit.analyzer import summarize  # noqa: E402
from nhiaudit.report import FORMATS, ReportOptions, get_reporter  # noqa: E402
from tests.ci_support import demo_findings  # noqa: E402


def big_scan(count: int):
    doc = demo_findings()
    base = doc.findings
    findings = []
    for i in range(count // len(base) + 1):
        for f in base:
            findings.append(
                f.model_copy(
                    update={
                        "fingerprint": f"{i:06x}{f.fingerprint[6:]}",
                        "identity_id": f"{f.identity_id}-{i}",
                        "identity_name": f"{f.identity_name}-{i}",
                        "scope": str(100000000000 + i % 40),
                    }
                )
            )
    doc.findings = findings[:count]
    doc.summary = summarize(doc.findings)
    return doc


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--findings", type=int, default=11000)
    parser.add_argument("--browser", action="store_true")
    args = parser.parse_args()
    doc = big_scan(args.findings)
    print(f"{len(doc.findings)} findings, {len({f.identity_id for f in doc.findings})} identities")
    html = ""
    for name in FORMATS:
        out = io.StringIO()
        started = time.perf_counter()
        get_reporter(name).render(doc, out, ReportOptions(max_rows=50, color=False, width=140))
        elapsed = time.perf_counter() - started
        text = out.getvalue()
        if name == "html":
            html = text
        print(f"  {name:9} {elapsed:6.2f} s  {len(text.encode()) / 1024 / 1024:7.1f} MiB")
    from nhiaudit.baseline import compare

    older = doc.model_copy(update={"findings": doc.findings[: len(doc.findings) // 2] + doc.findings[-1000:]})
    newer = doc.model_copy(update={"findings": doc.findings[1000:]})
    started = time.perf_counter()
    diff = compare(older, newer, "old.json")
    counts = ", ".join(f"{n} {k}" for k, n in diff.counts().items() if n)
    print(f"  diff      {time.perf_counter() - started:6.2f} s  ({counts})")
    if args.browser:
        from tests.browser import Browser, find_chromium

        with tempfile.TemporaryDirectory() as tmp, Browser(find_chromium(), timeout=300) as browser:
            path = Path(tmp) / "report.html"
            path.write_text(html)
            browser.open_page()
            started = time.perf_counter()
            browser.navigate(path.as_uri())
            print(f"  browser load    {time.perf_counter() - started:6.2f} s")
            started = time.perf_counter()
            browser.evaluate(
                "(() => { const el = document.getElementById('filter-text'); el.value = 'svc-reports';"
                " el.dispatchEvent(new Event('input')); })()"
            )
            print(f"  first search    {time.perf_counter() - started:6.2f} s")
            started = time.perf_counter()
            browser.evaluate("document.querySelector('#findings-table thead button[data-col=\"2\"]').click()")
            print(f"  sort            {time.perf_counter() - started:6.2f} s")


if __name__ == "__main__":
    main()
