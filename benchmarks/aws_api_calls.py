"""API calls per identity of a live AWS scan, measured against moto (in-process).

Plants N roles and M users (each with an inline policy; every user with one access key), serves
IAM Access Advisor through the test suite's moto patch, scans, and prints the API calls from the
inventory's scan metadata: total, per identity and per operation, plus the wall time.

    python benchmarks/aws_api_calls.py --roles 200 --users 50
    python benchmarks/aws_api_calls.py --roles 200 --users 50 --in-progress-polls 2   # slower jobs

Access Advisor jobs complete at the first poll here (unless --in-progress-polls): on AWS a job
usually needs one to three polls, which adds that many GetServiceLastAccessedDetails calls per
identity.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--roles", type=int, default=200)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--in-progress-polls", type=int, default=0)
    parser.add_argument("--no-usage", action="store_true")
    args = parser.parse_args()

    for name in [n for n in os.environ if n.startswith("AWS_")]:
        del os.environ[name]
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE="/nonexistent",
        AWS_SHARED_CREDENTIALS_FILE="/nonexistent",
    )
    import boto3
    import pytest
    from moto import mock_aws

    from nhiaudit.collectors.aws_api import PollPolicy
    from nhiaudit.collectors.aws_live import AwsLiveCollector, AwsLiveOptions
    from tests.aws_fakes import AdvisorFake, allow, days_ago, service, trust

    with mock_aws(), pytest.MonkeyPatch.context() as monkeypatch:
        advisor = AdvisorFake(polls_in_progress=args.in_progress_polls).install(monkeypatch)
        iam = boto3.client("iam", region_name="us-east-1")
        for n in range(args.roles):
            name = f"role-{n:04d}"
            iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust())
            iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=allow("s3:GetObject", "sqs:SendMessage"))
            advisor.data[f"arn:aws:iam::123456789012:role/{name}"] = [service("s3", days_ago(1)), service("sqs")]
        for n in range(args.users):
            name = f"svc-{n:04d}"
            iam.create_user(UserName=name)
            iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=allow("s3:PutObject"))
            iam.create_access_key(UserName=name)
            advisor.data[f"arn:aws:iam::123456789012:user/{name}"] = [service("s3", days_ago(2))]
        options = AwsLiveOptions(poll=PollPolicy(first=0.001, longest=0.01), usage=not args.no_usage)
        started = time.perf_counter()
        inventory = AwsLiveCollector(options).collect()
        elapsed = time.perf_counter() - started

    calls = {k: v for s in inventory.sources for k, v in s.api_calls.items()}
    total = sum(calls.values())
    identities = len(inventory.identities)
    print(f"identities: {identities} ({args.roles} roles, {args.users} users)")
    print(f"API calls:  {total}  ->  {total / identities:.2f} per identity")
    print(f"wall time:  {elapsed:.1f} s (moto in-process; AWS latency not included)")
    print(json.dumps(dict(sorted(calls.items())), indent=2))


if __name__ == "__main__":
    main()
