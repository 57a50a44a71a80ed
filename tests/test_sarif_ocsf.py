"""SARIF output validated against the official SARIF 2.1.0 schema; OCSF output validated with
py-ocsf-models. Both for the demo scan and for findings from GCP and Azure."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from nhiaudit.baseline import apply_baseline
from nhiaudit.report.ocsf import ocsf_events
from nhiaudit.report.sarif import FINGERPRINT_KEY, sarif_log
from nhiaudit.rules import all_rules
from nhiaudit.suppressions import Suppression, apply_suppressions
from tests.ci_support import demo_findings, multicloud_findings, second_scan
from tests.conftest import run_cli

SCHEMA = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft4Validator:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)


def _valid(validator, log: dict) -> None:
    errors = sorted(validator.iter_errors(log), key=lambda e: list(e.path))
    assert not errors, "; ".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors[:5])


def test_demo_sarif_from_the_cli_is_valid(validator, tmp_path):
    out = tmp_path / "demo.sarif"
    result = run_cli("scan", "--demo", "--format", "sarif", "--output", str(out))
    assert result.returncode == 0, result.stderr
    log = json.loads(out.read_text())
    _valid(validator, log)

    run = log["runs"][0]
    doc = demo_findings()
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == [r.meta.id for r in all_rules()]
    for descriptor in rules:
        assert descriptor["help"]["markdown"].startswith("**")
        assert "Remediation" in descriptor["help"]["text"]
        assert descriptor["helpUri"].endswith(f"rules.md#{descriptor['id']}")
    admin = next(r for r in rules if r["id"] == "admin-equivalent")
    assert admin["properties"]["security-severity"] == "9.5" and "NHI5:2025" in admin["properties"]["tags"]

    results = run["results"]
    assert len(results) == len(doc.findings)
    assert [r["partialFingerprints"][FINGERPRINT_KEY] for r in results] == [f.fingerprint for f in doc.findings]
    for result, finding in zip(results, doc.findings, strict=True):
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"] == finding.rule_id
        location = result["locations"][0]
        provider, scope = finding.provider, finding.scope
        assert location["physicalLocation"]["artifactLocation"]["uri"].startswith(f"nhiaudit/{provider}/")
        logical = location["logicalLocations"][0]
        assert logical["fullyQualifiedName"] == f"{provider}/{scope}/{finding.identity_id}"
        # the hierarchy: identity -> account / project -> cloud
        identity = run["logicalLocations"][logical["index"]]
        account = run["logicalLocations"][identity["parentIndex"]]
        cloud = run["logicalLocations"][account["parentIndex"]]
        assert (cloud["name"], account["name"], identity["name"]) == (provider, scope, finding.identity_name)
        assert account["properties"]["scope"] == {"aws": "account", "gcp": "project", "azure": "tenant"}[provider]
    expected_levels = {
        {"critical": "error", "high": "error", "medium": "warning"}.get(f.severity, "note") for f in doc.findings
    }
    assert {r["level"] for r in results} == expected_levels
    notes = run["invocations"][0]["toolExecutionNotifications"]
    assert any("access_advisor" in n["message"]["text"] for n in notes), "coverage gaps are reported"


def test_sarif_for_gcp_and_azure_suppressions_and_baseline(validator):
    doc = multicloud_findings()
    gcp = next(f for f in doc.findings if f.provider == "gcp")
    doc = apply_suppressions(
        doc, [Suppression(index=1, reason="rotating in Q1", fingerprint=gcp.fingerprint)], "s.toml"
    )
    log = sarif_log(doc)
    _valid(validator, log)
    run = log["runs"][0]
    by_fp = {r["partialFingerprints"][FINGERPRINT_KEY]: r for r in run["results"]}
    suppressed = by_fp[gcp.fingerprint]
    assert suppressed["suppressions"][0]["justification"] == "rotating in Q1"
    assert suppressed["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] == f"gcp/shop-prod/{gcp.identity_id}"
    scopes = {(loc["name"], loc.get("properties", {}).get("scope")) for loc in run["logicalLocations"]}
    assert ("shop-prod", "project") in scopes and any(s == "tenant" for _, s in scopes)
    azure = next(r for r in run["results"] if r["properties"]["cloud"] == "azure")
    assert (
        azure["properties"]["tenant"] and "%20" in azure["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    )

    with_baseline = sarif_log(apply_baseline(second_scan(), demo_findings(), "old.json"))
    _valid(validator, with_baseline)
    assert {r["baselineState"] for r in with_baseline["runs"][0]["results"]} == {"new", "unchanged", "updated"}
    assert with_baseline["runs"][0]["properties"]["baseline"]["fixed"] == 2  # admin-equivalent + excess-privilege


def _assert_round_trip(sent: Any, parsed: Any, path: str = "") -> None:
    """Every attribute we emit survives the OCSF model: none unknown (dropped) or retyped."""
    if isinstance(sent, dict):
        assert isinstance(parsed, dict), path
        for key, value in sent.items():
            assert key in parsed, f"{path}.{key} is not an OCSF Detection Finding attribute"
            _assert_round_trip(value, parsed[key], f"{path}.{key}")
    elif isinstance(sent, list):
        assert isinstance(parsed, list) and len(parsed) == len(sent), path
        for i, (a, b) in enumerate(zip(sent, parsed, strict=True)):
            _assert_round_trip(a, b, f"{path}[{i}]")
    else:
        assert sent == parsed, f"{path}: {sent!r} became {parsed!r}"


def _validate_ocsf(events: list[dict]) -> list[Any]:
    from py_ocsf_models.events.findings.detection_finding import DetectionFinding

    models = []
    for event in events:
        model = DetectionFinding.model_validate(event)
        _assert_round_trip(event, json.loads(model.model_dump_json(exclude_none=True)))
        assert event["type_uid"] == event["class_uid"] * 100 + event["activity_id"]
        models.append(model)
    return models


def test_demo_ocsf_from_the_cli_is_valid(tmp_path):
    result = run_cli("scan", "--demo", "--format", "ocsf")
    assert result.returncode == 0, result.stderr
    events = json.loads(result.stdout)
    doc = demo_findings()
    models = _validate_ocsf(events)
    assert len(models) == len(doc.findings)
    for model, finding in zip(models, doc.findings, strict=True):
        assert model.finding_info.uid == finding.fingerprint
        assert model.resources[0].uid == finding.identity_id
        provider = {"aws": "AWS", "gcp": "GCP", "azure": "Azure"}[finding.provider]
        assert model.cloud.account.uid == finding.scope and model.cloud.provider == provider
        assert model.severity_id.name.lower() == {"info": "informational"}.get(
            finding.severity.value, finding.severity.value
        )
        assert model.remediation.desc == finding.remediation
        assert model.class_uid == 2004 and model.activity_id == 1 and model.status_id == 1


def test_ocsf_suppressed_baseline_and_multicloud():
    doc = multicloud_findings()
    azure = next(f for f in doc.findings if f.provider == "azure")
    doc = apply_suppressions(doc, [Suppression(index=1, reason="vendor-managed", fingerprint=azure.fingerprint)], "s")
    models = {m.finding_info.uid: m for m in _validate_ocsf(ocsf_events(doc))}
    assert models[azure.fingerprint].status_id == 3 and "vendor-managed" in models[azure.fingerprint].status_detail
    assert models[azure.fingerprint].cloud.provider == "Azure"

    annotated = apply_baseline(second_scan(), demo_findings(), "old.json")
    events = ocsf_events(annotated)
    models = _validate_ocsf(events)
    closes = [m for m in models if m.activity_id == 3]
    # the fixed admin findings close (admin-equivalent and excess-privilege of ci-deploy-admin)
    assert len(closes) == 2 and all(c.status_id == 4 for c in closes)
    assert {m.activity_id for m in models} == {1, 2, 3}
