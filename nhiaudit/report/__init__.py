"""Output formats. Each lives in its own module and is imported only when used."""

from __future__ import annotations

import importlib

from nhiaudit.errors import NhiauditError
from nhiaudit.report.interface import Reporter, ReportOptions

__all__ = ["FORMATS", "ReportOptions", "Reporter", "get_reporter"]

FORMATS: dict[str, str] = {
    "table": "nhiaudit.report.table:TableReporter",
    "json": "nhiaudit.report.json_report:JsonReporter",
    "csv": "nhiaudit.report.csv_report:CsvReporter",
    "sarif": "nhiaudit.report.sarif:SarifReporter",
    "ocsf": "nhiaudit.report.ocsf:OcsfReporter",
    "html": "nhiaudit.report.html:HtmlReporter",
    "markdown": "nhiaudit.report.markdown:MarkdownReporter",
}
"""format name -> 'module:Class'."""


def get_reporter(name: str) -> Reporter:
    target = FORMATS.get(name.strip().lower())
    if target is None:
        raise NhiauditError(f"unknown format {name!r}; choose from {', '.join(FORMATS)}")
    module, cls = target.split(":")
    return getattr(importlib.import_module(module), cls)()
