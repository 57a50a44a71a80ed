"""Credentials for the live AWS collector: the standard boto3 chain, a profile, assumed roles.

Assumed-role sessions refresh themselves (botocore ``RefreshableCredentials``), so a scan of a
large organization never fails half-way on an expired one-hour session.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nhiaudit.collectors.aws_api import ApiCallLog, ClientSettings, api_errors, classify, make_client
from nhiaudit.errors import CollectionError, NhiauditError

if TYPE_CHECKING:
    import boto3

DEFAULT_REGION = "us-east-1"
SESSION_NAME = "nhiaudit"


@dataclass(frozen=True)
class Caller:
    account: str
    arn: str

    @property
    def partition(self) -> str:
        parts = self.arn.split(":")
        return parts[1] if len(parts) > 1 and parts[1] else "aws"


def base_session(profile: str | None, region: str | None) -> boto3.Session:
    """The session of the standard credential chain (environment, profile, SSO, instance role)."""
    import boto3
    from botocore.exceptions import ProfileNotFound

    try:
        session = boto3.Session(profile_name=profile, region_name=region)
        if not session.region_name:
            session = boto3.Session(profile_name=profile, region_name=DEFAULT_REGION)
    except ProfileNotFound:
        raise NhiauditError(f"--profile {profile}: no such profile in the AWS config files") from None
    return session


def caller_identity(session: boto3.Session, log: ApiCallLog, settings: ClientSettings) -> Caller:
    """Who the scan runs as; the first call, so credential problems surface as one clear error."""
    from botocore.exceptions import NoCredentialsError

    try:
        ident = make_client(session, "sts", log, settings).get_caller_identity()
    except NoCredentialsError:
        raise CollectionError(
            "no AWS credentials found: set AWS_PROFILE or pass --profile, run 'aws sso login', or export "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (see docs/aws.md)"
        ) from None
    except api_errors() as exc:
        message = str(exc)
        if "sso" in type(exc).__name__.lower() or "sso" in message.lower():
            raise CollectionError(f"AWS SSO session problem: {message} (run 'aws sso login')") from None
        raise CollectionError(f"cannot use the AWS credentials: {classify(exc, 'sts:GetCallerIdentity')}") from None
    return Caller(account=ident["Account"], arn=ident["Arn"])


def assumed_session(
    source: boto3.Session,
    role_arn: str,
    *,
    log: ApiCallLog,
    settings: ClientSettings,
    external_id: str | None = None,
    session_name: str = SESSION_NAME,
    duration: int = 3600,
) -> boto3.Session:
    """A session that assumes ``role_arn`` now (failing fast) and again whenever its credentials
    are about to expire. Raises ``ApiFailure`` when the role cannot be assumed."""
    import boto3
    import botocore.session
    from botocore.credentials import CredentialProvider, RefreshableCredentials

    sts = make_client(source, "sts", log, settings)
    params: dict[str, Any] = {"RoleArn": role_arn, "RoleSessionName": session_name, "DurationSeconds": duration}
    if external_id:
        params["ExternalId"] = external_id

    def fetch() -> dict[str, str]:
        try:
            creds = sts.assume_role(**params)["Credentials"]
        except api_errors() as exc:
            raise classify(exc, "sts:AssumeRole") from None
        return {
            "access_key": creds["AccessKeyId"],
            "secret_key": creds["SecretAccessKey"],
            "token": creds["SessionToken"],
            "expiry_time": creds["Expiration"].isoformat(),
        }

    credentials = RefreshableCredentials.create_from_metadata(
        metadata=fetch(), refresh_using=fetch, method="nhiaudit-assume-role"
    )

    class _Assumed(CredentialProvider):
        METHOD = "nhiaudit-assume-role"
        CANONICAL_NAME = "nhiaudit-assume-role"

        def load(self) -> RefreshableCredentials:
            return credentials

    core = botocore.session.Session(profile=source.profile_name if source.profile_name != "default" else None)
    core.get_component("credential_provider").insert_before("env", _Assumed())
    return boto3.Session(botocore_session=core, region_name=source.region_name)
