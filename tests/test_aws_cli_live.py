"""`nhiaudit scan aws` / `collect aws` as a user runs them: a subprocess reaching a moto server on
127.0.0.1 through AWS_ENDPOINT_URL (the way the project is checked)."""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.request

import boto3
import pytest
from moto.server import ThreadedMotoServer

from tests.aws_fakes import (
    MGMT,
    AdvisorFake,
    AnalyzerFake,
    allow,
    backdate_key,
    backdate_role,
    backdate_user,
    days_ago,
    service,
    trust,
)
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def moto_server():
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def endpoint(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    urllib.request.urlopen(urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")).read()
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name, raising=False)
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": "/nonexistent/config",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/credentials",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL": moto_server,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return moto_server


def plant(url: str) -> dict[str, str]:
    iam = boto3.client("iam", endpoint_url=url, region_name="us-east-1")
    iam.create_role(RoleName="nightly-export", AssumeRolePolicyDocument=trust())
    iam.put_role_policy(RoleName="nightly-export", PolicyName="p", PolicyDocument=allow("s3:PutObject", "kms:Decrypt"))
    iam.create_role(RoleName="web", AssumeRolePolicyDocument=trust("ecs-tasks.amazonaws.com"))
    iam.put_role_policy(
        RoleName="web",
        PolicyName="p",
        PolicyDocument=allow("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteTable", "sqs:SendMessage"),
    )
    iam.create_user(UserName="svc-deploy")
    iam.put_user_policy(UserName="svc-deploy", PolicyName="p", PolicyDocument=allow("cloudformation:*"))
    old_key = iam.create_access_key(UserName="svc-deploy")["AccessKey"]
    never_key = iam.create_access_key(UserName="svc-deploy")["AccessKey"]
    old, never = old_key["AccessKeyId"], never_key["AccessKeyId"]
    backdate_user(MGMT, "svc-deploy", created=days_ago(700))
    backdate_key(MGMT, old, created=days_ago(500), last_used=days_ago(3))
    backdate_key(MGMT, never, created=days_ago(120))
    backdate_role(MGMT, "nightly-export", created=days_ago(600), last_used=days_ago(250))
    backdate_role(MGMT, "web", created=days_ago(365), last_used=days_ago(0.5))
    return {"old": old, "never": never, "secrets": [old_key["SecretAccessKey"], never_key["SecretAccessKey"]]}


def test_scan_against_an_unmodified_moto_server(endpoint: str) -> None:
    """moto implements neither Access Advisor nor Access Analyzer: the scan reports what it could
    see, names what it could not, and exits 0."""
    keys = plant(endpoint)
    started = time.monotonic()
    result = run_cli("scan", "aws", "-f", "json", "--quiet")
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    doc = json.loads(result.stdout)
    found = {(f["rule_id"], f["identity_name"], f["credential_id"]) for f in doc["findings"]}
    assert ("credential-not-rotated", "svc-deploy", keys["old"]) in found
    assert ("credential-never-used", "svc-deploy", keys["never"]) in found
    assert ("multiple-active-credentials", "svc-deploy", None) in found
    assert ("identity-unused", "nightly-export", None) in found
    assert all(f["scope"] == MGMT for f in doc["findings"])
    gaps = {g["source"]: g for g in doc["scan"]["coverage"]}
    assert gaps["access_advisor"]["status"] == "unavailable"
    assert gaps["access_analyzer"]["status"] in ("unavailable", "error")
    assert not any(f["rule_id"] == "excess-privilege" for f in doc["findings"])
    (source,) = doc["scan"]["sources"]
    assert source["method"] == "live" and source["api_calls"]["iam:GetAccountAuthorizationDetails"] == 1
    assert source["api_calls"]["iam:GenerateServiceLastAccessedDetails"] <= 3  # the jobs already in flight
    assert elapsed < 60


def test_scan_with_usage_evidence_verbose_and_collect(endpoint: str, tmp_path, httpserver, monkeypatch) -> None:
    AdvisorFake(
        data={
            f"arn:aws:iam::{MGMT}:role/web": [
                service(
                    "dynamodb", days_ago(0.5), {"GetItem": days_ago(0.5), "PutItem": days_ago(1), "DeleteTable": None}
                ),
                service("sqs"),
            ],
            f"arn:aws:iam::{MGMT}:user/svc-deploy": [service("cloudformation", days_ago(3))],
        }
    ).install(monkeypatch)
    analyzer = AnalyzerFake()
    an = analyzer.add_analyzer()
    analyzer.add_finding(
        an,
        f"arn:aws:iam::{MGMT}:role/nightly-export",
        "UnusedIAMRole",
        [{"unusedIamRoleDetails": {"lastAccessed": days_ago(250).timestamp()}}],
    )
    monkeypatch.setenv("AWS_ENDPOINT_URL_ACCESSANALYZER", analyzer.serve(httpserver))
    keys = plant(endpoint)

    result = run_cli("scan", "aws", "-f", "json", "--verbose")
    assert result.returncode == 0, result.stderr
    assert "nhiaudit: collecting 1 account" in result.stderr and "nhiaudit: done 123456789012" in result.stderr
    assert "AWS API calls" in result.stderr and "iam:GetAccountAuthorizationDetails" in result.stderr
    assert "per identity" in result.stderr
    doc = json.loads(result.stdout)
    excess = next(f for f in doc["findings"] if f["rule_id"] == "excess-privilege")
    assert excess["identity_name"] == "web" and excess["evidence"]["unused_services"][0]["service"] == "sqs"
    assert "dynamodb:DeleteTable" in excess["evidence"]["unused_actions_in_used_services"]
    unused = next(f for f in doc["findings"] if f["rule_id"] == "identity-unused")
    assert "aws.access_analyzer" in unused["evidence"]["sources"]
    assert doc["scan"]["sources"][0]["api_calls"]["access-analyzer:GetFindingV2"] == 1

    inventory = tmp_path / "inventory.json"
    collected = run_cli("collect", "aws", "-o", str(inventory), "--quiet", "--max-workers", "2")
    assert collected.returncode == 0, collected.stderr
    analyzed = run_cli("analyze", str(inventory))
    assert analyzed.returncode == 0, analyzed.stderr
    assert {f["rule_id"] for f in json.loads(analyzed.stdout)["findings"]} >= {"excess-privilege", "identity-unused"}
    text = inventory.read_text()
    assert keys["old"] in text and not any(secret in text for secret in keys["secrets"])  # ids only, never secrets


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--exclude-accounts", "111122223333"], "--exclude-accounts needs --org or --accounts"),
        (["--org-role-name", "x"], "--org-role-name needs --org or --accounts"),
        (["--accounts", "12345"], "not a 12-digit AWS account id"),
        (["--credential-report", "r.csv"], "--credential-report is for offline import"),
        (["--from-file", "a.json", "--profile", "p"], "--profile is for live collection"),
        (["--profile", "no-such-profile"], "no such profile"),
    ],
)
def test_bad_options_are_one_line_errors(args: list[str], message: str, endpoint: str) -> None:
    result = run_cli("scan", "aws", *args)
    assert result.returncode == 2
    assert message in result.stderr and result.stderr.count("\n") == 1


def test_no_credentials_is_a_clear_error(endpoint: str) -> None:
    env = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}
    result = run_cli("scan", "aws", "--quiet", env=env)
    assert result.returncode == 2
    assert "no AWS credentials found" in result.stderr and "Traceback" not in result.stderr


def test_help_does_not_import_boto3() -> None:
    result = run_cli("scan", "aws", "--help")
    assert result.returncode == 0 and "--org-role-name" in result.stdout
    probe = run_cli("--version")
    assert probe.returncode == 0
    import subprocess
    import sys

    code = (
        "import sys, nhiaudit.cli; nhiaudit.cli.app(['scan','aws','--help'], standalone_mode=False); "
        "print('boto3' in sys.modules, 'botocore' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip().endswith("False False"), out.stdout + out.stderr
