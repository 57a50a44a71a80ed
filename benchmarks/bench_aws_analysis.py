"""Benchmark: offline AWS analysis of large authorization-details files.

Generates files with 100, 1,000, 5,000 and 20,000 roles (plus users, groups and managed
policies in proportion) with a realistic mix of AWS-managed and customer-managed policies,
unique inline policies, wildcards, NotAction, Deny statements, conditions, permissions
boundaries and trust policies. For each size it runs, in a fresh process:

* parse: ``json.load`` of the file (the floor any analyzer pays);
* end to end: import -> effective permissions -> all rules -> JSON findings report written,
  i.e. what ``nhiaudit scan aws --from-file F --format json -o out.json`` does;

and prints wall time, CPU time and peak memory (max RSS) of each, and the ratio of end-to-end
to parse wall time. End-to-end includes interpreter start-up, imports and loading the catalog.

Each step runs ``--repeat`` times (default 3) and the fastest run is reported, for parse and end
to end alike, so that other load on the machine does not decide the ratio.

Run:  python benchmarks/bench_aws_analysis.py [--sizes 100,1000,5000,20000] [--repeat 3] [--keep]
Targets (issue #2): 5,000 roles end to end < 20x parse time; 20,000 roles < 2 GB peak memory.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ACCOUNT = "123456789012"
SERVICES = [
    "s3",
    "ec2",
    "lambda",
    "dynamodb",
    "sqs",
    "sns",
    "kms",
    "logs",
    "cloudwatch",
    "ecr",
    "ecs",
    "rds",
    "secretsmanager",
    "ssm",
    "glue",
    "athena",
    "kinesis",
    "states",
    "events",
    "apigateway",
    "cloudformation",
    "elasticloadbalancing",
    "autoscaling",
    "route53",
    "sts",
    "iam",
    "codebuild",
    "codepipeline",
    "sagemaker",
]
VERBS = ["Get*", "List*", "Describe*", "Put*", "Create*", "Delete*", "Update*", "*"]
SPECIFIC = [
    "s3:GetObject",
    "s3:PutObject",
    "s3:ListBucket",
    "s3:DeleteObject",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:UpdateItem",
    "sqs:SendMessage",
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "kms:Decrypt",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "logs:CreateLogGroup",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "ecr:GetAuthorizationToken",
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
    "secretsmanager:GetSecretValue",
    "ssm:GetParameter",
    "ssm:GetParameters",
    "lambda:InvokeFunction",
    "sns:Publish",
    "states:StartExecution",
    "events:PutEvents",
    "xray:PutTraceSegments",
    "cloudwatch:PutMetricData",
    "athena:StartQueryExecution",
    "glue:GetTable",
    "kinesis:PutRecord",
]
"""Day-to-day actions of application roles."""
RISKY = [
    "iam:PassRole",
    "ec2:RunInstances",
    "lambda:CreateFunction",
    "lambda:UpdateFunctionCode",
    "iam:PutRolePolicy",
    "codebuild:StartBuild",
    "cloudformation:CreateStack",
    "iam:CreateAccessKey",
    "ssm:SendCommand",
]
"""Actions that take part in privilege-escalation paths; CI/CD and ops roles hold some."""
CONDITIONS = [
    {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}},
    {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
    {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}},
    {"Bool": {"aws:SecureTransport": "true"}},
]


def _statement(rng: random.Random) -> dict:
    kind = rng.random()
    if kind < 0.62:
        actions = rng.sample(SPECIFIC, rng.randint(1, 6))
    elif kind < 0.70:
        actions = rng.sample(SPECIFIC, rng.randint(1, 3)) + rng.sample(RISKY, rng.randint(1, 2))
    elif kind < 0.92:
        actions = [f"{rng.choice(SERVICES)}:{rng.choice(VERBS[:3])}" for _ in range(rng.randint(1, 4))]
    else:
        actions = [f"{rng.choice(SERVICES)}:{rng.choice(VERBS)}"]
    resource_ = (
        "*"
        if rng.random() < 0.4
        else [
            f"arn:aws:s3:::bucket-{rng.randint(1, 500)}/*",
            f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/t{rng.randint(1, 500)}",
        ]
    )
    st: dict = {"Effect": "Allow", "Action": actions, "Resource": resource_}
    if rng.random() < 0.15:
        st["Condition"] = rng.choice(CONDITIONS)
    return st


def _document(rng: random.Random, statements: int) -> dict:
    sts = [_statement(rng) for _ in range(statements)]
    if rng.random() < 0.1:
        sts.append({"Effect": "Deny", "Action": [f"{rng.choice(SERVICES)}:Delete*"], "Resource": "*"})
    if rng.random() < 0.03:
        sts.append({"Effect": "Allow", "NotAction": ["iam:*", "organizations:*"], "Resource": "*"})
    return {"Version": "2012-10-17", "Statement": sts}


def _trust(rng: random.Random, n: int) -> dict:
    r = rng.random()
    if r < 0.6:
        principal: dict = {
            "Service": rng.choice(["lambda.amazonaws.com", "ec2.amazonaws.com", "ecs-tasks.amazonaws.com"])
        }
        st = {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}
    elif r < 0.8:
        st = {
            "Effect": "Allow",
            "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringLike": {"token.actions.githubusercontent.com:sub": f"repo:acme/app-{n}:*"}},
        }
    else:
        st = {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{rng.randint(100000000000, 999999999999)}:root"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": f"ext-{n}"}},
        }
    return {"Version": "2012-10-17", "Statement": [st]}


def _iso(rng: random.Random, year0: int = 2019) -> str:
    day = f"{rng.randint(year0, 2026)}-{rng.randint(1, 9):02d}-{rng.randint(1, 28):02d}"
    return f"{day}T{rng.randint(0, 23):02d}:00:00+00:00"


def generate(roles: int, seed: int = 7) -> dict:
    rng = random.Random(seed + roles)
    managed = []
    aws_managed = [
        (
            "AdministratorAccess",
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]},
        ),
        (
            "PowerUserAccess",
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "NotAction": ["iam:*", "organizations:*", "account:*"], "Resource": "*"},
                    {
                        "Effect": "Allow",
                        "Action": [
                            "iam:CreateServiceLinkedRole",
                            "iam:DeleteServiceLinkedRole",
                            "iam:ListRoles",
                            "organizations:DescribeOrganization",
                            "account:ListRegions",
                        ],
                        "Resource": "*",
                    },
                ],
            },
        ),
        (
            "AmazonS3ReadOnlyAccess",
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": ["s3:Get*", "s3:List*", "s3-object-lambda:Get*", "s3-object-lambda:List*"],
                        "Resource": "*",
                    }
                ],
            },
        ),
    ]
    for name, doc in aws_managed:
        managed.append((f"arn:aws:iam::aws:policy/{name}", name, doc))
    n_customer = max(10, roles // 10)
    for i in range(n_customer):
        managed.append(
            (f"arn:aws:iam::{ACCOUNT}:policy/app-policy-{i}", f"app-policy-{i}", _document(rng, rng.randint(2, 8)))
        )
    boundaries = [
        (
            f"arn:aws:iam::{ACCOUNT}:policy/boundary-{i}",
            f"boundary-{i}",
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": [f"{s}:*" for s in rng.sample(SERVICES, 8)], "Resource": "*"}
                ],
            },
        )
        for i in range(5)
    ]
    policies = [
        {
            "PolicyName": name,
            "PolicyId": f"ANPA{i:017d}",
            "Arn": arn,
            "Path": "/",
            "DefaultVersionId": "v1",
            "AttachmentCount": 1,
            "PermissionsBoundaryUsageCount": 0,
            "IsAttachable": True,
            "CreateDate": "2020-01-01T00:00:00+00:00",
            "UpdateDate": "2020-01-01T00:00:00+00:00",
            "PolicyVersionList": [
                {
                    "Document": doc,
                    "VersionId": "v1",
                    "IsDefaultVersion": True,
                    "CreateDate": "2020-01-01T00:00:00+00:00",
                }
            ],
        }
        for i, (arn, name, doc) in enumerate(managed + boundaries)
    ]
    role_list = []
    for i in range(roles):
        attached = rng.sample(managed[3:], rng.randint(0, 3))
        if rng.random() < 0.02:
            attached.append(managed[0])
        elif rng.random() < 0.03:
            attached.append(managed[1])
        inline = [
            {"PolicyName": f"inline-{j}", "PolicyDocument": _document(rng, rng.randint(1, 5))}
            for j in range(rng.choice([0, 1, 1, 2]))
        ]
        role = {
            "Path": "/service-role/" if rng.random() < 0.2 else "/",
            "RoleName": f"role-{i}",
            "RoleId": f"AROA{i:017d}",
            "Arn": f"arn:aws:iam::{ACCOUNT}:role/role-{i}",
            "CreateDate": _iso(rng),
            "AssumeRolePolicyDocument": _trust(rng, i),
            "InstanceProfileList": [],
            "RolePolicyList": inline,
            "AttachedManagedPolicies": [{"PolicyName": n, "PolicyArn": a} for a, n, _ in attached],
            "Tags": [{"Key": "team", "Value": f"team-{i % 40}"}],
            "RoleLastUsed": {"LastUsedDate": _iso(rng, 2025), "Region": "eu-west-1"} if rng.random() < 0.7 else {},
        }
        if rng.random() < 0.1:
            role["PermissionsBoundary"] = {
                "PermissionsBoundaryType": "Policy",
                "PermissionsBoundaryArn": rng.choice(boundaries)[0],
            }
        role_list.append(role)
    groups = [
        {
            "Path": "/",
            "GroupName": f"group-{g}",
            "GroupId": f"AGPA{g:017d}",
            "Arn": f"arn:aws:iam::{ACCOUNT}:group/group-{g}",
            "CreateDate": "2020-01-01T00:00:00+00:00",
            "GroupPolicyList": [{"PolicyName": "g-inline", "PolicyDocument": _document(rng, 2)}],
            "AttachedManagedPolicies": [{"PolicyName": n, "PolicyArn": a} for a, n, _ in rng.sample(managed[3:], 2)],
        }
        for g in range(max(3, roles // 200))
    ]
    users = [
        {
            "Path": "/",
            "UserName": f"svc-{u}",
            "UserId": f"AIDA{u:017d}",
            "Arn": f"arn:aws:iam::{ACCOUNT}:user/svc-{u}",
            "CreateDate": _iso(rng),
            "UserPolicyList": [{"PolicyName": "u", "PolicyDocument": _document(rng, 2)}],
            "GroupList": [rng.choice(groups)["GroupName"]],
            "AttachedManagedPolicies": [],
            "Tags": [],
        }
        for u in range(max(5, roles // 10))
    ]
    return {"UserDetailList": users, "GroupDetailList": groups, "RoleDetailList": role_list, "Policies": policies}


def credential_report(details: dict, seed: int = 7) -> str:
    rng = random.Random(seed)
    header = (
        "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,"
        "password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,"
        "access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,"
        "access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,"
        "access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,"
        "cert_2_active,cert_2_last_rotated"
    )
    lines = [header]
    for user in details["UserDetailList"]:
        used = _iso(rng, 2025) if rng.random() < 0.8 else "N/A"
        lines.append(
            f"{user['UserName']},{user['Arn']},{user['CreateDate']},false,N/A,N/A,N/A,false,"
            f"true,{_iso(rng)},{used},eu-west-1,s3,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A"
        )
    return "\n".join(lines) + "\n"


# --- measured steps (each run in a fresh interpreter) ------------------------------------------


def _step_parse(path: str) -> None:
    with open(path, encoding="utf-8") as fh:
        json.load(fh)


def _step_end_to_end(path: str, report: str, out: str) -> None:
    from nhiaudit.analyzer import analyze
    from nhiaudit.collectors.aws_export import AwsExportCollector
    from nhiaudit.model import dump_json

    inventory = AwsExportCollector([Path(path)], Path(report)).collect()
    doc = analyze(inventory)
    Path(out).write_text(dump_json(doc))
    print(
        json.dumps(
            {
                "findings": doc.summary.total,
                "identities": len(inventory.identities),
                "policies": len(inventory.policies),
            }
        ),
        file=sys.stderr,
    )


def _child(argv: list[str]) -> None:
    step, *args = argv
    start = time.perf_counter()
    {"parse": _step_parse, "e2e": _step_end_to_end}[step](*args)
    wall = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_mb": usage.ru_maxrss / 1024}))


def _measure(*args: str, repeat: int = 1) -> tuple[dict, str]:
    """Run a step ``repeat`` times, each in a fresh process: the fastest run (the least disturbed by
    other load on the machine) and the largest peak memory."""
    runs = []
    info = ""
    for _ in range(repeat):
        proc = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=True)
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        info = proc.stderr.strip()
    best = min(runs, key=lambda r: r["wall_s"])
    return {**best, "peak_mb": max(r["peak_mb"] for r in runs)}, info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,1000,5000,20000")
    parser.add_argument("--repeat", type=int, default=3, help="runs per step; the fastest is reported (default 3)")
    parser.add_argument("--keep", action="store_true", help="keep the generated files (printed)")
    parser.add_argument("--child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child)
        return
    # warm the action-catalog cache once, as a second run of the CLI would find it
    subprocess.run(
        [sys.executable, "-c", "from nhiaudit.catalogs.aws_actions import load_catalog; load_catalog()"], check=True
    )
    workdir = Path(tempfile.mkdtemp(prefix="nhiaudit-bench-"))
    print(
        f"{'roles':>7} {'file MB':>8} {'parse s':>8} {'parse MB':>9} {'e2e s':>8} {'e2e cpu':>8} {'e2e MB':>8} "
        f"{'ratio':>6}  findings"
    )
    for size in (int(s) for s in args.sizes.split(",")):
        details = generate(size)
        path = workdir / f"authz-{size}.json"
        path.write_text(json.dumps(details, indent=2))
        report = workdir / f"report-{size}.csv"
        report.write_text(credential_report(details))
        parse, _ = _measure("parse", str(path), repeat=args.repeat)
        e2e, info = _measure("e2e", str(path), str(report), str(workdir / f"findings-{size}.json"), repeat=args.repeat)
        stats = json.loads(info.splitlines()[-1]) if info else {}
        ratio = e2e["wall_s"] / parse["wall_s"]
        print(
            f"{size:>7} {path.stat().st_size / 1e6:>8.1f} {parse['wall_s']:>8.3f} {parse['peak_mb']:>9.0f} "
            f"{e2e['wall_s']:>8.2f} {e2e['cpu_s']:>8.2f} {e2e['peak_mb']:>8.0f} {ratio:>6.1f}  {stats.get('findings')}"
        )
    if args.keep:
        print(f"files kept in {workdir}")
    else:
        for f in workdir.iterdir():
            f.unlink()
        workdir.rmdir()


if __name__ == "__main__":
    main()
