"""docs/gcp.md and the rules reference stay true to the code."""

from __future__ import annotations

from nhiaudit.collectors.gcp_export import CONTAINER_FILES, PROJECT_DIRS, PROJECT_FILES
from nhiaudit.collectors.gcp_live import ENDPOINT_SERVICES
from nhiaudit.rules import all_rules
from tests.conftest import ROOT, run_cli

DOC = (ROOT / "docs" / "gcp.md").read_text()


def test_every_gcp_option_is_documented():
    import typer

    from nhiaudit.cli import app
    from nhiaudit.cli.gcp import CONNECTION, INPUT, SCOPE

    command = typer.main.get_command(app)
    for group in ("scan", "collect"):
        gcp = command.commands[group].commands["gcp"]  # type: ignore[attr-defined]
        own = [p for p in gcp.params if getattr(p, "rich_help_panel", None) in (SCOPE, INPUT, CONNECTION)]
        assert len(own) == 10
        for param in own:
            for option in param.opts:
                if option.startswith("--"):
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
