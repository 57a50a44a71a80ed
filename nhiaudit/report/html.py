"""HTML: one self-contained file to open in a browser or attach to a ticket.

Nothing is fetched when it is viewed: styles, the small script and the charts (inline SVG) are
in the file, and a Content-Security-Policy forbids any other load. It holds:

* the summary (counts by severity, suppressed, changes since a baseline);
* charts: severity, OWASP NHI Top 10 category, account / project / tenant, and the
  distribution of the excess-privilege index (evidence key ``excess_privilege_index``, 0-100)
  for findings that carry one;
* what could not be seen (coverage gaps) and warnings;
* the findings table, sortable (click a column) and filterable (text, severity, rule, scope,
  status, change since baseline);
* per identity: its findings with evidence, remediation and references;
* framework coverage: OWASP NHI Top 10 (2025) and NIST SP 800-207, rules and findings per item.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from functools import cache
from html import escape
from importlib import resources
from typing import Any, TextIO

from nhiaudit.frameworks import load_framework
from nhiaudit.model import Finding, FindingsDocument
from nhiaudit.report.helpers import (
    SEVERITY_ORDER,
    active,
    excess_privilege_index,
    provider_name,
    rule_url,
    scope_label,
    scopes_scanned,
)
from nhiaudit.report.interface import Reporter, ReportOptions

SEVERITY_COLOR = {"critical": "#b3001b", "high": "#e4572e", "medium": "#e9a400", "low": "#2f7dc1", "info": "#8a8f98"}
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; "
    "base-uri 'none'; form-action 'none'"
)
"""Nothing but the inline style and script may load: the report fetches nothing when viewed."""
SCOPES_CHARTED = 15
EVIDENCE_LIST_SHOWN = 25
CONFIDENCE_RANK = {"low": 0, "medium": 1, "high": 2}
SEVERITY_RANK = {s: n for n, s in enumerate(reversed(SEVERITY_ORDER))}


def e(value: object) -> str:
    return escape(str(value), quote=True)


def _anchor(identity_id: str) -> str:
    return "identity-" + hashlib.sha1(identity_id.encode()).hexdigest()[:12]


def _badge(severity: str) -> str:
    return f'<span class="sev sev-{e(severity)}">{e(severity)}</span>'


# --- charts ------------------------------------------------------------------------------------


def bar_chart(chart_id: str, items: list[tuple[str, int, str]], *, empty: str = "No findings.") -> str:
    """Horizontal bars as inline SVG: (label, value, colour)."""
    if not items or not any(v for _, v, _ in items):
        return f'<p class="empty" id="{chart_id}">{e(empty)}</p>'
    top = max(v for _, v, _ in items) or 1
    row, label_w, bar_w = 24, 290, 250
    height = row * len(items) + 4
    parts = [
        f'<svg id="{chart_id}" class="chart" viewBox="0 0 {label_w + bar_w + 50} {height}" role="img" '
        f'aria-label="{e(chart_id)}" width="100%" preserveAspectRatio="xMinYMin meet">'
    ]
    for i, (label, value, colour) in enumerate(items):
        y = i * row + 2
        short = label if len(label) <= 44 else label[:43] + "…"
        width = round(bar_w * value / top) if value else 0
        parts.append(
            f'<g data-label="{e(label)}" data-value="{value}"><title>{e(label)}: {value}</title>'
            f'<text x="0" y="{y + 16}" class="lbl">{e(short)}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{max(width, 1 if value else 0)}" height="{row - 8}" '
            f'rx="3" fill="{colour}"/>'
            f'<text x="{label_w + width + 6}" y="{y + 16}" class="val">{value}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def histogram(chart_id: str, values: list[float]) -> str:
    """Excess-privilege index distribution in ten buckets (0-9, ..., 90-100)."""
    if not values:
        return (
            f'<p class="empty" id="{chart_id}">No finding carries an excess-privilege index. It needs usage evidence '
            "(granted versus used), which a live scan collects; offline exports do not carry it.</p>"
        )
    buckets = [0] * 10
    for v in values:
        buckets[min(9, int(v // 10))] += 1
    top = max(buckets)
    col, plot_h, head = 44, 150, 16  # head: room above the tallest bar for its count
    parts = [
        f'<svg id="{chart_id}" class="chart" viewBox="0 0 {col * 10 + 10} {plot_h + head + 40}" role="img" '
        f'aria-label="excess-privilege index distribution" width="100%" preserveAspectRatio="xMinYMin meet">'
    ]
    for i, count in enumerate(buckets):
        h = round(plot_h * count / top) if count else 0
        x = i * col + 5
        label = f"{i * 10}-{i * 10 + 9 if i < 9 else 100}"
        parts.append(
            f'<g data-bucket="{label}" data-value="{count}"><title>index {label}: {count}</title>'
            f'<rect x="{x}" y="{head + plot_h - h + 4}" width="{col - 8}" height="{h}" rx="2" fill="#7a4fb5"/>'
            f'<text x="{x + (col - 8) / 2}" y="{head + plot_h - h}" class="val mid">{count or ""}</text>'
            f'<text x="{x + (col - 8) / 2}" y="{head + plot_h + 20}" class="lbl mid">{label}</text></g>'
        )
    parts.append("</svg>")
    mean = sum(values) / len(values)
    ordered = sorted(values)
    median = (
        ordered[len(ordered) // 2]
        if len(ordered) % 2
        else (ordered[len(ordered) // 2 - 1] + ordered[len(ordered) // 2]) / 2
    )
    parts.append(
        f'<p class="note">{len(values)} findings with an index; median {median:.0f}, mean {mean:.0f} '
        "(0 = uses everything it is granted, 100 = uses none of it).</p>"
    )
    return "".join(parts)


# --- sections -------------------------------------------------------------------------------


def _header(doc: FindingsDocument) -> str:
    scan = doc.scan
    scopes = ", ".join(scope_label(p, s) for p, s in scopes_scanned(doc)) or "no scope"
    methods = "/".join(sorted({s.method for s in scan.sources})) or "no"
    return (
        "<header><h1>nhiaudit report</h1>"
        f'<p class="meta">{e(scopes)} · {e(methods)} data as of <time>{scan.as_of:%Y-%m-%d %H:%M} UTC</time> · '
        f"generated {doc.generated_at:%Y-%m-%d %H:%M} UTC by nhiaudit {e(doc.tool_version)}</p></header>"
    )


def _cards(doc: FindingsDocument) -> str:
    s = doc.summary
    ids = doc.scan.identities
    cards = [f'<div class="card total"><span class="n" data-count="total">{s.total}</span> findings</div>']
    for level in SEVERITY_ORDER:
        cards.append(
            f'<div class="card sev-card-{level}"><span class="n" data-count="{level}">{s.by_severity.get(level, 0)}'
            f"</span> {level}</div>"
        )
    cards.append(f'<div class="card"><span class="n" data-count="suppressed">{s.suppressed}</span> suppressed</div>')
    cards.append(
        f'<div class="card"><span class="n" data-count="identities">{ids.get("analyzed", 0)}</span> NHIs analyzed '
        f"<small>of {ids.get('total', 0)} identities</small></div>"
    )
    b = doc.scan.baseline
    if b is not None:
        cards.append(f'<div class="card new"><span class="n" data-count="new">{b.new}</span> new since baseline</div>')
        cards.append(f'<div class="card fixed"><span class="n" data-count="fixed">{len(b.fixed)}</span> fixed</div>')
    return '<section id="summary"><div class="cards">' + "".join(cards) + "</div></section>"


def _charts(doc: FindingsDocument) -> str:
    s = doc.summary
    sev = [(level, s.by_severity.get(level, 0), SEVERITY_COLOR[level]) for level in SEVERITY_ORDER]
    owasp = load_framework("owasp_nhi")
    cat = [(owasp.label(r.id), s.by_owasp_nhi.get(r.id, 0), "#3d6bb3") for r in owasp.requirements]
    by_scope = Counter({k: v for k, v in s.by_scope.items()})
    scope_items = []
    for key, count in by_scope.most_common(SCOPES_CHARTED):
        provider, _, scope = key.partition(":")
        scope_items.append((f"{provider_name(provider)} {scope}", count, "#2c8c7a"))
    rest = sum(by_scope.values()) - sum(v for _, v, _ in scope_items)
    if rest:
        scope_items.append((f"{len(by_scope) - SCOPES_CHARTED} more scopes", rest, "#8a8f98"))
    index = [v for f in active(doc.findings) if (v := excess_privilege_index(f)) is not None]
    return (
        '<section id="charts"><h2>Overview</h2><div class="grid">'
        f"<figure><figcaption>By severity</figcaption>{bar_chart('chart-severity', sev)}</figure>"
        f"<figure><figcaption>By OWASP NHI Top 10 (2025) category</figcaption>{bar_chart('chart-owasp', cat)}</figure>"
        "<figure><figcaption>By account / project / tenant</figcaption>"
        f"{bar_chart('chart-scope', scope_items)}</figure>"
        f"<figure><figcaption>Excess-privilege index</figcaption>{histogram('chart-excess', index)}</figure>"
        "</div></section>"
    )


def _gaps(doc: FindingsDocument) -> str:
    scan = doc.scan
    if not scan.coverage and not scan.warnings:
        return ""
    out = ['<section id="coverage"><h2>What could not be seen</h2>']
    if scan.coverage:
        out.append(
            "<table><thead><tr><th>Scope</th><th>Evidence</th><th>Status</th><th>Detail</th></tr></thead><tbody>"
        )
        for gap in scan.coverage:
            out.append(
                f"<tr><td>{e(scope_label(gap.provider, gap.scope))}</td><td>{e(gap.source)}</td>"
                f"<td>{e(gap.status)}</td><td>{e(gap.detail)}</td></tr>"
            )
        out.append("</tbody></table>")
    else:
        out.append("<p>Every evidence source was available.</p>")
    if scan.warnings:
        out.append(f'<h3>Warnings ({len(scan.warnings)})</h3><ul class="warnings">')
        out += [f"<li>{e(w)}</li>" for w in scan.warnings]
        out.append("</ul>")
    out.append("</section>")
    return "".join(out)


def _change(f: Finding) -> str:
    if f.baseline is None:
        return ""
    if f.baseline.state == "severity_changed" and f.baseline.previous_severity is not None:
        return f"severity changed (was {f.baseline.previous_severity.value})"
    return f.baseline.state


def _findings_table(doc: FindingsDocument) -> str:
    has_baseline = doc.scan.baseline is not None
    rules = sorted({f.rule_id for f in doc.findings})
    scopes = sorted({f"{f.provider}:{f.scope}" for f in doc.findings})
    option = "".join
    controls = [
        '<div class="controls">',
        '<label>Search <input id="filter-text" type="search" placeholder="identity, rule, text…"></label>',
        '<label>Severity <select id="filter-severity"><option value="">all</option>'
        + option(f'<option value="{s}">{s}</option>' for s in SEVERITY_ORDER)
        + "</select></label>",
        '<label>Rule <select id="filter-rule"><option value="">all</option>'
        + option(f'<option value="{e(r)}">{e(r)}</option>' for r in rules)
        + "</select></label>",
        '<label>Scope <select id="filter-scope"><option value="">all</option>'
        + option(f'<option value="{e(s)}">{e(s.replace(":", " "))}</option>' for s in scopes)
        + "</select></label>",
        '<label>Status <select id="filter-status"><option value="open" selected>open</option>'
        '<option value="suppressed">suppressed</option><option value="">all</option></select></label>',
    ]
    if has_baseline:
        controls.append(
            '<label>Change <select id="filter-change"><option value="">all</option><option value="new">new</option>'
            '<option value="unchanged">unchanged</option><option value="severity_changed">severity changed</option>'
            "</select></label>"
        )
    total = doc.summary.total
    controls.append(
        f'<span class="shown">showing <b id="shown-count">{total}</b> of '
        f'<b id="row-count">{len(doc.findings)}</b></span>'
    )
    controls.append("</div>")
    head = ["Severity", "Rule", "Identity", "Scope", "Confidence", "First seen"]
    if has_baseline:
        head.append("Change")
    head.append("Status")
    rows = []
    for i, f in enumerate(doc.findings):
        status = "suppressed" if f.suppression else "open"
        state = f.baseline.state if f.baseline else ""
        sev_rank = SEVERITY_RANK[f.severity.value]
        cells = [
            f'<td data-sort="{sev_rank}">{_badge(f.severity.value)}</td>',
            f'<td><a href="{e(rule_url(f.rule_id))}" rel="noreferrer">{e(f.rule_id)}</a></td>',
            f'<td><a href="#{_anchor(f.identity_id)}" class="idlink">{e(f.identity_name)}</a>'
            + (f'<div class="sub">{e(f.credential_id)}</div>' if f.credential_id else "")
            + f'<div class="desc">{e(f.description)}</div></td>',
            f"<td>{e(provider_name(f.provider))} {e(f.scope)}</td>",
            f'<td data-sort="{CONFIDENCE_RANK[f.confidence.value]}">{e(f.confidence.value)}</td>',
            f"<td>{f.first_seen:%Y-%m-%d}</td>",
        ]
        if has_baseline:
            cells.append(f"<td>{e(_change(f))}</td>")
        reason = (f.suppression or {}).get("reason", "")
        cells.append(f'<td title="{e(reason)}">{status}</td>')
        hidden = " hidden" if status != "open" else ""
        rows.append(
            f'<tr data-index="{i}" data-severity="{f.severity.value}" data-rule="{e(f.rule_id)}" '
            f'data-scope="{e(f.provider)}:{e(f.scope)}" data-status="{status}" data-change="{state}" '
            f'data-fingerprint="{f.fingerprint}" data-id="{e(f.identity_id)}"{hidden}>' + "".join(cells) + "</tr>"
        )
    header = "".join(
        f'<th scope="col"><button type="button" data-col="{i}">{h}</button></th>' for i, h in enumerate(head)
    )
    body = "".join(rows) or f'<tr><td colspan="{len(head)}">No findings.</td></tr>'
    return (
        f'<section id="findings"><h2>Findings</h2>{"".join(controls)}'
        f'<table id="findings-table" class="findings"><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>'
        "</section>"
    )


def _value(value: Any) -> str:
    if value is None:
        return '<span class="none">none</span>'
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list) and all(not isinstance(v, dict | list) for v in value):
        if not value:
            return '<span class="none">(empty)</span>'
        shown = ", ".join(e(v) for v in value[:EVIDENCE_LIST_SHOWN])
        if len(value) <= EVIDENCE_LIST_SHOWN:
            return shown
        rest = ", ".join(e(v) for v in value[EVIDENCE_LIST_SHOWN:])
        return f"{shown} <details><summary>{len(value) - EVIDENCE_LIST_SHOWN} more</summary>{rest}</details>"
    if isinstance(value, dict | list):
        return f"<pre>{e(json.dumps(value, indent=2, default=str))}</pre>"
    return e(value)


def _references(f: Finding) -> str:
    parts = []
    for key, title in (
        ("owasp_nhi", "OWASP NHI"),
        ("nist_800_207", "NIST SP 800-207"),
        ("nist_800_53", "NIST SP 800-53"),
        ("cis", "CIS"),
    ):
        ids = getattr(f.references, key)
        if ids:
            fw = load_framework(key)
            parts.append(f"<li><b>{title}:</b> {e('; '.join(fw.label(i) for i in ids))}</li>")
    return f'<ul class="refs">{"".join(parts)}</ul>' if parts else ""


def _finding_detail(f: Finding) -> str:
    evidence = "".join(f"<tr><th>{e(k)}</th><td>{_value(v)}</td></tr>" for k, v in f.evidence.items())
    suppression = ""
    if f.suppression:
        sup = f.suppression
        extra = ", ".join(f"{k} {sup[k]}" for k in ("ticket", "owner", "expires") if sup.get(k))
        suppression = (
            f'<p class="suppressed">Suppressed: {e(sup.get("reason", ""))}{e(" (" + extra + ")" if extra else "")}</p>'
        )
    change = f' <span class="change">{e(_change(f))}</span>' if f.baseline else ""
    return (
        f'<article class="finding" data-fingerprint="{f.fingerprint}">'
        f"<h4>{_badge(f.severity.value)} {e(f.title)} "
        f'<a href="{e(rule_url(f.rule_id))}" rel="noreferrer"><code>{e(f.rule_id)}</code></a>{change}</h4>'
        f"<p>{e(f.description)}</p>{suppression}"
        + (f'<table class="evidence"><caption>Evidence</caption>{evidence}</table>' if evidence else "")
        + f'<p class="fix"><b>Remediation.</b> {e(f.remediation)}</p>{_references(f)}'
        f'<p class="sub">confidence {e(f.confidence.value)} · first seen {f.first_seen:%Y-%m-%d} · '
        f"fingerprint <code>{f.fingerprint}</code>"
        + (f" · credential <code>{e(f.credential_id)}</code>" if f.credential_id else "")
        + "</p></article>"
    )


def _identities(doc: FindingsDocument) -> str:
    groups: dict[str, list[Finding]] = defaultdict(list)
    for f in doc.findings:
        groups[f.identity_id].append(f)
    rank = SEVERITY_RANK

    def order(item: tuple[str, list[Finding]]) -> tuple:
        fs = active(item[1])
        worst = max((rank[f.severity.value] for f in fs), default=-1)
        return (-worst, -len(fs), item[1][0].identity_name)

    out = [f'<section id="identities"><h2>Identities ({len(groups)})</h2>']
    for identity_id, findings in sorted(groups.items(), key=order):
        first = findings[0]
        counts = Counter(f.severity.value for f in active(findings))
        badges = " ".join(f"{_badge(s)}×{counts[s]}" for s in SEVERITY_ORDER if counts.get(s))
        muted = "" if counts else " (suppressed only)"
        out.append(
            f'<details class="identity" id="{_anchor(identity_id)}"><summary><b>{e(first.identity_name)}</b> '
            f'<span class="sub">{e(first.identity_kind)} · {e(scope_label(first.provider, first.scope))}</span> '
            f"{badges}{muted}</summary>"
            f'<p class="sub">id <code>{e(identity_id)}</code></p>'
            + "".join(_finding_detail(f) for f in findings)
            + "</details>"
        )
    out.append("</section>")
    return "".join(out)


def _frameworks(doc: FindingsDocument) -> str:
    from nhiaudit.frameworks.coverage import coverage_tables
    from nhiaudit.rules import all_rules

    out = ['<section id="frameworks"><h2>Framework coverage</h2>']
    for table in coverage_tables([r.meta for r in all_rules()], doc.findings):
        fw = table.framework
        out.append(
            f'<h3>{e(fw.name)} ({e(fw.version)})</h3><p class="note">{table.covered} of {len(table.items)} items '
            "covered by at least one rule.</p>"
            f'<table class="coverage" data-framework="{e(fw.key)}"><thead><tr><th>Item</th><th>Title</th><th>Rules</th>'
            "<th>Findings</th></tr></thead><tbody>"
        )
        for item in table.items:
            rules = ", ".join(
                f'<a href="{e(rule_url(r))}" rel="noreferrer"><code>{e(r)}</code></a>' for r in item.rules
            )
            sev = " ".join(f"{_badge(s)}×{item.by_severity[s]}" for s in SEVERITY_ORDER if item.by_severity.get(s))
            out.append(
                f'<tr data-item="{e(item.requirement.id)}" data-findings="{item.findings}">'
                f'<td><a href="{e(item.requirement.url)}" rel="noreferrer">{e(item.requirement.id)}</a></td>'
                f"<td>{e(item.requirement.title)}</td><td>{rules or '<span class=none>not covered</span>'}</td>"
                f"<td>{item.findings} {sev}</td></tr>"
            )
        out.append("</tbody></table>")
    out.append("</section>")
    return "".join(out)


def _fixed(doc: FindingsDocument) -> str:
    b = doc.scan.baseline
    if b is None:
        return ""
    out = [
        f'<section id="baseline"><h2>Since the baseline</h2><p>Compared with <code>{e(b.file)}</code> '
        f"(data as of {b.as_of:%Y-%m-%d}): {b.new} new, {b.unchanged} unchanged "
        f"({b.severity_changed} with a changed severity), {len(b.fixed)} fixed, "
        f"{len(b.not_rescanned)} not rescanned.</p>"
    ]
    for title, items in (
        ("Fixed", b.fixed),
        ("Not rescanned (scope or rule not covered by this scan)", b.not_rescanned),
    ):
        if items:
            out.append(f"<h3>{title} ({len(items)})</h3><ul>")
            out += [
                f"<li>{_badge(f.severity.value)} <code>{e(f.rule_id)}</code> {e(f.description)} "
                f'<span class="sub">first seen {f.first_seen:%Y-%m-%d}</span></li>'
                for f in items
            ]
            out.append("</ul>")
    out.append("</section>")
    return "".join(out)


@cache
def _asset(name: str) -> str:
    return (resources.files("nhiaudit.report") / "assets" / name).read_text(encoding="utf-8")


def render_html(doc: FindingsDocument) -> str:
    title = f"nhiaudit report: {doc.summary.total} findings"
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<meta name="generator" content="nhiaudit {e(doc.tool_version)}">'
        f"<title>{e(title)}</title><style>{_asset('report.css')}</style></head><body>"
        + _header(doc)
        + _cards(doc)
        + _charts(doc)
        + _gaps(doc)
        + _fixed(doc)
        + _findings_table(doc)
        + _identities(doc)
        + _frameworks(doc)
        + f"<footer>nhiaudit {e(doc.tool_version)} · schema {e(doc.schema_version)} · "
        f"scan {doc.scan.started_at:%Y-%m-%d %H:%M} UTC · "
        "this file is self-contained and loads nothing from the network.</footer>"
        f"<script>{_asset('report.js')}</script></body></html>\n"
    )


class HtmlReporter(Reporter):
    name = "html"
    extension = "html"
    description = "one self-contained HTML file: charts, sortable and filterable findings, per-identity detail"

    def render(self, doc: FindingsDocument, out: TextIO, options: ReportOptions) -> None:
        out.write(render_html(doc))
