"""Benchmark: trust analysis (can-become graph, admin paths, trust rules) on a large synthetic AWS account.

    python benchmarks/trust_graph.py [--roles 5000] [--users 1000]

Prints the time of each stage and the peak memory of a full analysis (measured separately,
because tracing memory slows Python down several times). The account mixes what real
estates have: admin roles trusting the account root, roles that may assume a few named roles,
a few holding sts:AssumeRole on every role, service roles (a few of the Lambda ones
administrators), CI/CD roles holding iam:PassRole on every role and iam:CreateAccessKey on every
user, GitHub OIDC roles and third-party trusts.
"""

from __future__ import annotations

import argparse
import random
import time
import tracemalloc
from datetime import UTC, datetime

from nhiaudit.analyzer import analyze
from nhiaudit.collectors.aws_authz import AuthzConverter
from nhiaudit.model import Inventory
from nhiaudit.policy.engine import evaluate_inventory
from nhiaudit.rules import get_rule
from nhiaudit.rules.base import AnalysisContext
from nhiaudit.settings import Settings
from nhiaudit.trust.context import admin_paths, graph

ACCOUNT = "123456789012"
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
CI_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["iam:PassRole", "lambda:CreateFunction", "lambda:InvokeFunction"],
            "Resource": "*",
        },
        {"Effect": "Allow", "Action": "iam:CreateAccessKey", "Resource": f"arn:aws:iam::{ACCOUNT}:user/*"},
        {"Effect": "Allow", "Action": "iam:UpdateAssumeRolePolicy", "Resource": f"arn:aws:iam::{ACCOUNT}:role/app-*"},
    ],
}
"""What CI/CD roles often hold: iam:PassRole on every role, key management for service users."""
TRUST_RULES = [
    "aws-third-party-trust-no-external-id",
    "aws-trust-any-principal",
    "aws-oidc-trust-unconstrained",
    "aws-service-trust-confused-deputy",
    "admin-equivalent",
    "environment-crossing",
]


def _arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{name}"


def build(roles: int, users: int, seed: int = 7) -> Inventory:
    rnd = random.Random(seed)
    names = [f"role-{n:05d}" for n in range(roles)]
    role_list = []
    for n, name in enumerate(names):
        kind = n % 10
        attached, inline = [], []
        if kind == 0:  # admin role assumable from the account
            trust = {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": "sts:AssumeRole",
            }
            attached = [{"PolicyName": "AdministratorAccess", "PolicyArn": ADMIN}]
        elif kind in (1, 2, 3):  # workload that may assume a few named roles
            trust = {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
            targets = [_arn(rnd.choice(names)) for _ in range(3)]
            inline = [
                {
                    "PolicyName": "assume",
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": targets}],
                    },
                }
            ]
        elif kind == 4:  # trusted by name from another workload role
            trust = {"Effect": "Allow", "Principal": {"AWS": _arn(rnd.choice(names))}, "Action": "sts:AssumeRole"}
            inline = [
                {
                    "PolicyName": "work",
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {"Effect": "Allow", "Action": ["s3:GetObject", "sqs:SendMessage"], "Resource": "*"}
                        ],
                    },
                }
            ]
        elif kind == 5:  # GitHub Actions
            sub = rnd.choice(["repo:acme/*", "repo:acme/app:ref:refs/heads/main", "repo:acme/app:*"])
            trust = {
                "Effect": "Allow",
                "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringLike": {"token.actions.githubusercontent.com:sub": sub},
                    "StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"},
                },
            }
        elif kind == 6:  # third party
            trust = {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{rnd.randint(10**11, 10**12 - 1)}:root"},
                "Action": "sts:AssumeRole",
            }
            if rnd.random() < 0.5:
                trust["Condition"] = {"StringEquals": {"sts:ExternalId": f"ext-{n}"}}
        elif kind == 7:  # broad assumer
            trust = {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
            if rnd.random() < 0.05:
                inline = [
                    {
                        "PolicyName": "assume-all",
                        "PolicyDocument": {
                            "Version": "2012-10-17",
                            "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}],
                        },
                    }
                ]
            if n % 70 == 7:  # a function role that is an administrator
                attached = [{"PolicyName": "AdministratorAccess", "PolicyArn": ADMIN}]
        else:  # service roles
            service = rnd.choice(
                ["states.amazonaws.com", "codebuild.amazonaws.com", "ecs-tasks.amazonaws.com", "glue.amazonaws.com"]
            )
            trust = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
            if n % 50 == 9:  # CI/CD deployer: passes any role to Lambda, manages users' keys
                trust["Principal"] = {"Service": "codebuild.amazonaws.com"}
                inline = [{"PolicyName": "deployer", "PolicyDocument": CI_POLICY}]
        role_list.append(
            {
                "RoleName": name,
                "Arn": _arn(name),
                "Path": "/",
                "CreateDate": "2025-01-01T00:00:00Z",
                "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [trust]},
                "RolePolicyList": inline,
                "AttachedManagedPolicies": attached,
                "Tags": [{"Key": "env", "Value": rnd.choice(["prod", "dev"])}],
            }
        )
    user_list = [
        {
            "UserName": f"svc-{n:05d}",
            "Arn": f"arn:aws:iam::{ACCOUNT}:user/svc-{n:05d}",
            "CreateDate": "2025-01-01T00:00:00Z",
            "UserPolicyList": [
                {
                    "PolicyName": "assume",
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": _arn(rnd.choice(names))}
                        ],
                    },
                }
            ]
            if n % 4 == 0
            else [],
            "AttachedManagedPolicies": [],
            "GroupList": [],
        }
        for n in range(users)
    ]
    policies = [
        {
            "PolicyName": "AdministratorAccess",
            "Arn": ADMIN,
            "DefaultVersionId": "v1",
            "PolicyVersionList": [
                {
                    "VersionId": "v1",
                    "IsDefaultVersion": True,
                    "Document": {
                        "Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
                    },
                }
            ],
        }
    ]
    converter = AuthzConverter(where="benchmark", snapshot=datetime(2026, 11, 1, tzinfo=UTC))
    converter.add_policies(policies)
    converter.add_roles(role_list)
    converter.add_users(user_list, None)
    out = converter.out
    return Inventory(
        identities=out.identities, policies=out.policies, grants=out.grants, trusts=out.trusts, usage=out.usage
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--roles", type=int, default=5000)
    parser.add_argument("--users", type=int, default=1000)
    args = parser.parse_args()
    clock = time.perf_counter()
    inventory = build(args.roles, args.users)
    print(
        f"inventory: {len(inventory.identities):,} identities, {len(inventory.trusts):,} trust records "
        f"({time.perf_counter() - clock:.2f} s to build)"
    )
    clock = time.perf_counter()
    access, _ = evaluate_inventory(inventory)
    evaluated = time.perf_counter() - clock
    ctx = AnalysisContext(
        inventory=inventory, settings=Settings(), as_of=datetime(2026, 11, 1, tzinfo=UTC), access=access
    )
    clock = time.perf_counter()
    g = graph(ctx)
    built = time.perf_counter() - clock
    clock = time.perf_counter()
    paths = admin_paths(ctx)
    searched = time.perf_counter() - clock
    timings = {}
    counts = {}
    for rule_id in TRUST_RULES:
        clock = time.perf_counter()
        counts[rule_id] = len(list(get_rule(rule_id).check(ctx)))
        timings[rule_id] = time.perf_counter() - clock
    print(f"policy evaluation: {evaluated:.2f} s")
    print(
        f"can-become graph: {g.explicit:,} explicit edges + {g.groups:,} edge groups "
        f"(standing for {g.pairs():,} edges) in {built:.2f} s"
    )
    print(f"admin paths: {len(paths):,} identities reach an admin, found in {searched * 1000:.0f} ms")
    for rule_id in TRUST_RULES:
        print(f"  {rule_id:40} {counts[rule_id]:6,} findings  {timings[rule_id] * 1000:8.0f} ms")
    clock = time.perf_counter()
    doc = analyze(inventory)
    print(f"full analysis (every rule): {doc.summary.total:,} findings in {time.perf_counter() - clock:.2f} s")
    tracemalloc.start()
    analyze(inventory)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"peak memory of a full analysis (tracemalloc): {peak / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
