"""JSON: the findings document itself (findings, summary, scan metadata)."""

from __future__ import annotations

from typing import TextIO

from nhiaudit.model import FindingsDocument, dump_json
from nhiaudit.report.interface import Reporter, ReportOptions


class JsonReporter(Reporter):
    name = "json"
    extension = "json"
    description = "findings, summary and scan metadata; the input of 'nhiaudit report' and 'diff'"

    def render(self, doc: FindingsDocument, out: TextIO, options: ReportOptions) -> None:
        out.write(dump_json(doc))
