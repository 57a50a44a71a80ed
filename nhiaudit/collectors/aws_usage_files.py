"""Offline usage evidence: IAM Access Advisor and IAM Access Analyzer exports.

Layouts (docs/aws.md shows the commands that write them):

* **Access Advisor**: a JSON object mapping each principal ARN to the output of
  ``aws iam get-service-last-accessed-details --job-id ...`` for that principal, or a directory of
  such files (merged; one file per principal is fine).
* **Access Analyzer**: a JSON list of ``aws accessanalyzer get-finding-v2`` outputs, or an object
  ``{"unusedAccessAge": 90, "findings": [...]}`` naming the analyzer's tracking period (default 90
  days), or the ``aws accessanalyzer get-analyzer`` output merged in as ``"analyzer"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from nhiaudit.collectors.aws_usage import ANALYZER_DEFAULT_AGE_DAYS, advisor_usage, analyzer_usage
from nhiaudit.errors import InputError
from nhiaudit.model import Usage, load_json_file


def _json_files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".json" and p.is_file())
        if not files:
            raise InputError("directory holds no .json files", source=path)
        return files
    return [path]


def read_access_advisor(paths: list[Path], *, snapshot: datetime | None) -> dict[str, list[Usage]]:
    """Usage records per principal ARN from Access Advisor export files or directories."""
    result: dict[str, list[Usage]] = {}
    for given in paths:
        for path in _json_files(given):
            data = load_json_file(path)
            if isinstance(data, Mapping) and "ServicesLastAccessed" in data:
                raise InputError(
                    "this is a single get-service-last-accessed-details output without its principal: wrap it as "
                    '{"<principal ARN>": <output>} (see docs/aws.md)',
                    source=path,
                )
            if not isinstance(data, Mapping):
                raise InputError(
                    "expected a JSON object mapping principal ARNs to get-service-last-accessed-details output",
                    source=path,
                )
            for arn, details in data.items():
                if not isinstance(arn, str) or not arn.startswith("arn:"):
                    raise InputError(f"key {arn!r} is not a principal ARN", source=path)
                if arn in result:
                    raise InputError(f"{arn} appears twice in the Access Advisor input", source=path)
                result[arn] = advisor_usage(arn, details, where=f"{path}: {arn}", fallback_end=snapshot)
    return result


def read_access_analyzer(paths: list[Path]) -> list[Usage]:
    """Usage records from Access Analyzer unused-access finding exports."""
    records: list[Usage] = []
    for path in paths:
        data = load_json_file(path)
        age = ANALYZER_DEFAULT_AGE_DAYS
        findings: Any = data
        if isinstance(data, Mapping):
            findings = data.get("findings")
            age = _age(data, path)
        if not isinstance(findings, list):
            raise InputError(
                "expected a list of get-finding-v2 outputs, or an object with a 'findings' list", source=path
            )
        for n, finding in enumerate(findings):
            if isinstance(finding, Mapping) and "findingDetails" not in finding:
                raise InputError(
                    f"findings[{n}] has no findingDetails: list-findings-v2 summaries are not enough, "
                    "export each finding with get-finding-v2",
                    source=path,
                )
            records.extend(analyzer_usage(finding, age_days=age, where=f"{path}: findings[{n}]"))
    return records


def _age(data: Mapping[str, Any], path: Path) -> int:
    analyzer = data.get("analyzer")
    if isinstance(analyzer, Mapping):
        configured = ((analyzer.get("configuration") or {}).get("unusedAccess") or {}).get("unusedAccessAge")
        if configured is not None:
            data = {"unusedAccessAge": configured}
    age = data.get("unusedAccessAge", ANALYZER_DEFAULT_AGE_DAYS)
    if not isinstance(age, int) or isinstance(age, bool) or not 1 <= age <= 365:
        raise InputError("unusedAccessAge must be a whole number of days between 1 and 365", source=path)
    return age
