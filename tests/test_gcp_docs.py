"""docs/gcp.md and the rules reference stay true to the code."""

from __future__ import annotations

import re

from conftest import ROOT, run_cli

from nhiaudit.collectors.gcp_export import CONTAINER_FILES, PROJECT_DIRS, PROJECT_FILES
from nhiaudit.collectors.gcp_live import ENDPOINT_SERVICES
from nhiaudit.rules import all_rules

DOC = (ROOT / "docs" / "gcp.md").read_text()


def test_every_gcp_option_is_documented():
    result = run_cli("scan", "gcp", "--help", env={"COLUMNS": "250"})
    options = set(re.findall(r"--[a-z][a-z-]+", result.stdout))
    own = {o for o in options if o not in {"--help", "--config", "--as-of", "--rule", "--disable-rule", "--format",
                                         "--output", "--fail-on", "--max-rows", "--rotation-days",
                                         "--credential-unused-days", "--identity-unused-days",
                                         "--include-provider-owned"}}  # fmt: skip
    assert {"--project", "--organization", "--from-dir", "--endpoint"} <= own
    for option in own:
        assert f"`{option}" in DOC, option


def test_every_export_file_endpoint_and_gcp_rule_is_documented():
    for name in PROJECT_FILES | CONTAINER_FILES:
        assert name in DOC, name
    for name in PROJECT_DIRS:
        assert f"{name}/" in DOC, name
    for name in ENDPOINT_SERVICES:
        assert f"`{name}`" in DOC, name
    for rule in all_rules():
        if "gcp" in rule.meta.providers and rule.meta.id.startswith("gcp-"):
            assert f"`{rule.meta.id}`" in DOC, rule.meta.id


def test_rules_reference_is_current():
    assert run_cli("rules", "--format", "markdown").stdout == (ROOT / "docs" / "rules.md").read_text()
