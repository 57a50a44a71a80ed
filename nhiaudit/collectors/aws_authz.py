"""AWS authorization details (+ credential report) -> normalized records.

Shared by the offline import (files written by ``aws iam get-account-authorization-details``
and ``aws iam get-credential-report``) and the live collector (the same structures from boto3).
Nothing here reads a file or calls an API.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from nhiaudit.collectors.records import Records
from nhiaudit.errors import InputError, PolicyError
from nhiaudit.model import (
    Credential,
    CredentialKind,
    Grant,
    Identity,
    Policy,
    Trust,
    Usage,
)
from nhiaudit.policy.aws import content_hash, decode_document, parse_statements

ROLE_LAST_USED_WINDOW_DAYS = 400
"""AWS tracks RoleLastUsed over a trailing 400-day window."""

ACCOUNT_RE = re.compile(r"^\d{12}$")
ARN_ACCOUNT_RE = re.compile(r"^arn:aws[a-z-]*:[a-z0-9-]*::(\d{12}):")
OIDC_DOMAINS = {"cognito-identity.amazonaws.com", "accounts.google.com", "graph.facebook.com", "www.amazon.com"}

CREDENTIAL_REPORT_COLUMNS = (
    "user",
    "arn",
    "user_creation_time",
    "password_enabled",
    "password_last_used",
    "access_key_1_active",
    "access_key_1_last_rotated",
    "access_key_1_last_used_date",
    "access_key_2_active",
    "access_key_2_last_rotated",
    "access_key_2_last_used_date",
)
"""Columns the import needs; the other standard columns are read when present."""

USER_RULES = [
    "credential-not-rotated",
    "credential-never-used",
    "credential-unused",
    "multiple-active-credentials",
    "human-usable-nhi",
    "identity-unused",
    "inactive-identity-active-credentials",
]


def parse_time(value: Any, *, where: str = "") -> datetime | None:
    """AWS timestamps from the CLI (ISO text, epoch seconds) or boto3 (datetime); 'N/A'-style values are None."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)  # epoch seconds (JSON APIs, AWS CLI v1 output)
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in ("n/a", "no_information", "not_supported", "none"):
            return None
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise InputError(f"{where}: not a timestamp: {text!r}") from None
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    raise InputError(f"{where}: not a timestamp: {value!r}")


def account_of(arn: str) -> str | None:
    match = ARN_ACCOUNT_RE.match(arn)
    return match.group(1) if match else None


def _tags(raw: Any) -> dict[str, str]:
    if not raw:
        return {}
    return {str(t.get("Key")): str(t.get("Value", "")) for t in raw if isinstance(t, Mapping)}


def _require(item: Any, keys: Iterable[str], where: str) -> None:
    if not isinstance(item, Mapping):
        raise InputError(f"{where}: expected an object, got {type(item).__name__}")
    for key in keys:
        if key not in item:
            raise InputError(f"{where}: missing {key}")


@dataclass
class AuthzRecords(Records):
    """What the conversion produces; the caller wraps it into an Inventory."""

    accounts: set[str] = field(default_factory=set)


class AuthzConverter:
    """Turns merged authorization-details lists and credential-report rows into records.

    ``where`` names the input (file names) in error messages. ``snapshot`` is when the data
    was taken: it closes the RoleLastUsed tracking window.
    """

    def __init__(
        self,
        *,
        where: str,
        snapshot: datetime | None = None,
        org_accounts: set[str] | None = None,
        report_where: str = "credential report",
    ):
        self.where = where
        self.report_where = report_where
        self.snapshot = snapshot
        self.org_accounts = org_accounts or set()
        self.out = AuthzRecords()
        self._managed_docs: dict[str, tuple[str, Any, bool, list[Any]]] = {}
        self.roles_without_last_used = 0
        self._groups: dict[str, Mapping[str, Any]] = {}

    # --- policies --------------------------------------------------------------------------

    def add_policies(self, policies: Iterable[Any]) -> None:
        for n, pol in enumerate(policies):
            here = f"{self.where}: Policies[{n}]"
            _require(pol, ("Arn",), here)
            arn = pol["Arn"]
            name = pol.get("PolicyName") or arn.rsplit("/", 1)[-1]  # the ARN ends with the name
            versions = pol.get("PolicyVersionList")
            if not versions:
                self.out.warnings.append(f"managed policy {arn} has no PolicyVersionList in the export")
                continue
            default = next((v for v in versions if v.get("IsDefaultVersion")), None)
            if default is None:
                wanted = pol.get("DefaultVersionId")
                default = next((v for v in versions if v.get("VersionId") == wanted), versions[0])
            doc = decode_document(default.get("Document"), where=f"{here} ({arn})")
            statements = parse_statements(doc, where=f"{self.where}: managed policy {arn}")
            aws_managed = ":iam::aws:policy/" in arn
            self._managed_docs[arn] = (name, doc, aws_managed, statements)

    def _managed_grant(self, identity_id: str, attached: Any, kind: str, via: str | None, here: str) -> Grant:
        _require(attached, ("PolicyArn",), here)
        arn = attached["PolicyArn"]
        name = attached.get("PolicyName") or arn.rsplit("/", 1)[-1]
        if arn not in self.out.policies:
            found = self._managed_docs.get(arn)
            if found is not None:
                pname, doc, aws_managed, statements = found
                policy = self.out.policies[arn] = Policy.fast(
                    id=arn,
                    provider="aws",
                    kind="aws.aws_managed" if aws_managed else "aws.managed",
                    name=pname,
                    document=doc,
                )
                policy._parsed = statements
        return Grant.fast(identity_id=identity_id, policy_id=arn, policy_name=name, kind=kind, via=via)

    def _inline_grant(self, identity_id: str, item: Any, kind: str, via: str | None, here: str) -> Grant:
        _require(item, ("PolicyName", "PolicyDocument"), here)
        doc = decode_document(item["PolicyDocument"], where=f"{here} ({item['PolicyName']})")
        pid = f"aws-inline:{content_hash(doc)[:24]}"
        if pid not in self.out.policies:
            statements = parse_statements(doc, where=f"{here} inline policy {item['PolicyName']}")
            policy = self.out.policies[pid] = Policy.fast(
                id=pid, provider="aws", kind="aws.inline", name=item["PolicyName"], document=doc
            )
            policy._parsed = statements
        return Grant.fast(identity_id=identity_id, policy_id=pid, policy_name=item["PolicyName"], kind=kind, via=via)

    def _attachments(self, identity_id: str, item: Mapping[str, Any], inline_key: str, here: str) -> None:
        for n, inline in enumerate(item.get(inline_key) or []):
            self.out.grants.append(self._inline_grant(identity_id, inline, "inline", None, f"{here}.{inline_key}[{n}]"))
        for n, att in enumerate(item.get("AttachedManagedPolicies") or []):
            self.out.grants.append(
                self._managed_grant(identity_id, att, "managed", None, f"{here}.AttachedManagedPolicies[{n}]")
            )
        boundary = item.get("PermissionsBoundary")
        if boundary:
            _require(boundary, ("PermissionsBoundaryArn",), f"{here}.PermissionsBoundary")
            att = {"PolicyArn": boundary["PermissionsBoundaryArn"]}
            self.out.grants.append(
                self._managed_grant(identity_id, att, "boundary", None, f"{here}.PermissionsBoundary")
            )

    # --- groups, roles, users ----------------------------------------------------------------

    def add_groups(self, groups: Iterable[Any]) -> None:
        for n, group in enumerate(groups):
            _require(group, ("GroupName", "Arn"), f"{self.where}: GroupDetailList[{n}]")
            self._groups[group["GroupName"]] = group

    def add_roles(self, roles: Iterable[Any]) -> None:
        for n, role in enumerate(roles):
            here = f"{self.where}: RoleDetailList[{n}]"
            _require(role, ("RoleName", "Arn"), here)
            arn = role["Arn"]
            account = account_of(arn) or "unknown"
            self.out.accounts.add(account)
            path = role.get("Path") or "/"
            created = parse_time(role.get("CreateDate"), where=f"{here}.CreateDate")
            trusts = self._trusts(arn, account, role.get("AssumeRolePolicyDocument"), f"{here} ({role['RoleName']})")
            self.out.trusts.extend(trusts)
            is_nhi, provider_owned, classification = _classify_role(path, trusts)
            last_used_raw = role.get("RoleLastUsed") or {}
            last_used = parse_time(last_used_raw.get("LastUsedDate"), where=f"{here}.RoleLastUsed")
            profiles = [
                p.get("InstanceProfileName") for p in role.get("InstanceProfileList") or [] if isinstance(p, Mapping)
            ]
            identity = Identity.fast(
                id=arn,
                provider="aws",
                scope=account,
                kind="aws.role",
                name=role["RoleName"],
                created=created,
                is_nhi=is_nhi,
                classification=classification,
                provider_owned=provider_owned,
                human_signin=not is_nhi,
                tags=_tags(role.get("Tags")),
                path=path,
                description=role.get("Description"),
                last_activity=last_used,
                attributes={
                    "role_id": role.get("RoleId"),
                    "instance_profiles": profiles,
                    "last_used_region": last_used_raw.get("Region"),
                    "max_session_duration": role.get("MaxSessionDuration"),
                },
            )
            self.out.identities.append(identity)
            self._attachments(arn, role, "RolePolicyList", here)
            if "RoleLastUsed" not in role and is_nhi and not provider_owned:
                self.roles_without_last_used += 1
            if "RoleLastUsed" in role:
                end = self.snapshot
                start = end - timedelta(days=ROLE_LAST_USED_WINDOW_DAYS) if end else None
                self.out.usage.append(
                    Usage.fast(
                        identity_id=arn,
                        target_kind="identity",
                        last_used=last_used,
                        source="aws.role_last_used",
                        window_start=start,
                        window_end=end,
                        detail=f"region {last_used_raw.get('Region')}" if last_used_raw.get("Region") else None,
                    )
                )

    def add_users(self, users: Iterable[Any], report: dict[str, dict[str, str]] | None) -> None:
        seen: set[str] = set()
        for n, user in enumerate(users):
            here = f"{self.where}: UserDetailList[{n}]"
            _require(user, ("UserName", "Arn"), here)
            arn = user["Arn"]
            seen.add(arn)
            row = report.get(arn) if report is not None else None
            identity = self._user_identity(arn, user["UserName"], user, row, here)
            self.out.identities.append(identity)
            self._attachments(arn, user, "UserPolicyList", here)
            for group_name in user.get("GroupList") or []:
                group = self._groups.get(group_name)
                if group is None:
                    identity.attributes["permissions_unknown"] = True
                    self.out.warnings.append(
                        f"user {user['UserName']} is in group {group_name}, which is not in the export: "
                        "its group permissions are unknown"
                    )
                    continue
                ghere = f"{self.where}: group {group_name}"
                for k, inline in enumerate(group.get("GroupPolicyList") or []):
                    self.out.grants.append(self._inline_grant(arn, inline, "group_inline", group_name, f"{ghere}[{k}]"))
                for k, att in enumerate(group.get("AttachedManagedPolicies") or []):
                    self.out.grants.append(self._managed_grant(arn, att, "group_managed", group_name, f"{ghere}[{k}]"))
            if row is not None:
                self._user_credentials(identity, row)
        if report is not None:
            for arn, row in report.items():
                if arn in seen or row.get("user") == "<root_account>":
                    continue
                self.out.warnings.append(
                    f"user {row.get('user')} is in the credential report but not in the authorization details; "
                    "its permissions are unknown"
                )
                identity = self._user_identity(arn, row.get("user", arn), {}, row, "credential report")
                identity.attributes["permissions_unknown"] = True
                self.out.identities.append(identity)
                self._user_credentials(identity, row)

    def _user_identity(
        self, arn: str, name: str, user: Mapping[str, Any], row: dict[str, str] | None, here: str
    ) -> Identity:
        account = account_of(arn) or "unknown"
        self.out.accounts.add(account)
        created = parse_time(user.get("CreateDate"), where=f"{here}.CreateDate")
        human_signin: bool | None = None
        if row is None:
            is_nhi, classification = True, "IAM user (no credential report: console access and keys unknown)"
        else:
            created = created or parse_time(row.get("user_creation_time"), where=f"{self.report_where}: row {name}")
            password = _truthy(row.get("password_enabled"))
            keys = _truthy(row.get("access_key_1_active")) or _truthy(row.get("access_key_2_active"))
            human_signin = password
            if password and keys:
                is_nhi, classification = (
                    True,
                    "IAM user with a console password and active access keys (human-usable NHI)",
                )
            elif password:
                is_nhi, classification = False, "IAM user with a console password and no active access keys (a person)"
            elif keys:
                is_nhi, classification = True, "IAM user with active access keys and no console password"
            else:
                is_nhi, classification = True, "IAM user without a console password"
        return Identity.fast(
            id=arn,
            provider="aws",
            scope=account,
            kind="aws.user",
            name=name,
            created=created,
            is_nhi=is_nhi,
            classification=classification,
            human_signin=human_signin,
            tags=_tags(user.get("Tags")),
            path=user.get("Path"),
            attributes={"user_id": user.get("UserId"), "groups": list(user.get("GroupList") or [])},
        )

    def _user_credentials(self, identity: Identity, row: dict[str, str]) -> None:
        where = f"{self.report_where}: row {row.get('user')}"
        latest: datetime | None = None
        usage_known = False
        if _truthy(row.get("password_enabled")):
            pw_used_raw = (row.get("password_last_used") or "").strip().lower()
            pw_used = parse_time(row.get("password_last_used"), where=f"{where}.password_last_used")
            self.out.credentials.append(
                Credential.fast(
                    id=f"{identity.id}#password",
                    identity_id=identity.id,
                    kind=CredentialKind.PASSWORD,
                    name="console password",
                    status="active",
                    created=parse_time(row.get("password_last_changed"), where=f"{where}.password_last_changed"),
                    last_used=pw_used,
                    usage_known=pw_used_raw not in ("no_information", "not_supported", ""),
                    usage_source="aws.credential_report",
                )
            )
            if pw_used_raw not in ("not_supported", ""):
                usage_known = True
            latest = pw_used
        for slot in (1, 2):
            prefix = f"access_key_{slot}"
            active = _truthy(row.get(f"{prefix}_active"))
            rotated = parse_time(row.get(f"{prefix}_last_rotated"), where=f"{where}.{prefix}_last_rotated")
            if not active and rotated is None:
                continue  # the slot is empty
            used_raw = (row.get(f"{prefix}_last_used_date") or "").strip().lower()
            used = parse_time(row.get(f"{prefix}_last_used_date"), where=f"{where}.{prefix}_last_used_date")
            known = used_raw not in ("not_supported", "no_information", "")
            service = row.get(f"{prefix}_last_used_service")
            key_id = (row.get(f"{prefix}_id") or "").strip()  # live scans add the AccessKeyId (never the secret)
            self.out.credentials.append(
                Credential.fast(
                    id=key_id or f"{identity.id}#{prefix}",
                    identity_id=identity.id,
                    kind=CredentialKind.ACCESS_KEY,
                    name=f"access key {key_id or slot}",
                    status="active" if active else "inactive",
                    created=rotated,
                    last_used=used,
                    last_used_service=service if service and service.lower() not in ("n/a", "not_supported") else None,
                    usage_known=known,
                    usage_source="aws.credential_report",
                    attributes={"slot": slot},
                )
            )
            if known:
                usage_known = True
                if used and (latest is None or used > latest):
                    latest = used
        identity.last_activity = latest
        if usage_known or not any(c.identity_id == identity.id for c in self.out.credentials):
            # a user with no password and no keys cannot authenticate: "no activity" is evidence too
            self.out.usage.append(
                Usage.fast(
                    identity_id=identity.id,
                    target_kind="identity",
                    last_used=latest,
                    source="aws.credential_report",
                    window_start=None,
                    window_end=self.snapshot,
                    detail="latest console sign-in or access-key use",
                )
            )

    # --- trust -------------------------------------------------------------------------------

    def _trusts(self, role_arn: str, account: str, raw: Any, here: str) -> list[Trust]:
        if raw is None:
            return []
        try:
            doc = decode_document(raw, where=f"{here} trust policy")
            statements = parse_statements(doc, where=f"{here} trust policy", resource_policy=True)
        except PolicyError:
            raise
        trusts: list[Trust] = []
        for n, st in enumerate(statements, 1):
            if st.effect != "Allow":
                continue
            raw_st = doc["Statement"][n - 1] if isinstance(doc["Statement"], list) else doc["Statement"]
            principal = raw_st.get("Principal")
            negated = False
            if principal is None and "NotPrincipal" in raw_st:
                principal, negated = "*", True
            for kind, value in _principals(principal):
                internal = None
                if kind in ("account", "role", "user"):
                    other = value if ACCOUNT_RE.match(value) else account_of(value)
                    internal = other == account or other in self.org_accounts if other else None
                    if ACCOUNT_RE.match(value):
                        value = f"arn:aws:iam::{value}:root"
                trusts.append(
                    Trust.fast(
                        identity_id=role_arn,
                        principal_kind="any" if negated else kind,
                        principal=value,
                        actions=_trust_actions(st.actions, st.not_action),
                        conditions=st.condition,
                        condition_keys=_condition_keys(st.condition),
                        internal=internal,
                        source=st.sid or f"statement {n}",
                    )
                )
        return trusts


STS_TRUST_ACTIONS = (
    "sts:AssumeRole",
    "sts:AssumeRoleWithWebIdentity",
    "sts:AssumeRoleWithSAML",
    "sts:TagSession",
    "sts:SetSourceIdentity",
    "sts:SetContext",
)


def _condition_keys(condition: dict[str, Any]) -> list[str]:
    """Condition keys without their operator (``token.actions.githubusercontent.com:sub``)."""
    keys = (k for block in condition.values() if isinstance(block, Mapping) for k in block)
    return list(dict.fromkeys(keys))


def _trust_actions(actions: tuple[str, ...], not_action: bool) -> list[str]:
    """The sts actions a trust statement allows; NotAction allows every one it does not list."""
    if not not_action:
        return list(actions)
    patterns = [re.compile(re.escape(a.lower()).replace(r"\*", ".*").replace(r"\?", ".")) for a in actions]
    return [a for a in STS_TRUST_ACTIONS if not any(p.fullmatch(a.lower()) for p in patterns)]


def _principals(principal: Any) -> list[tuple[str, str]]:
    if principal == "*":
        return [("any", "*")]
    if not isinstance(principal, Mapping):
        return [("unknown", str(principal))]
    out: list[tuple[str, str]] = []
    for key, values in principal.items():
        for value in [values] if isinstance(values, str) else list(values or []):
            if key == "AWS":
                if value == "*":
                    out.append(("any", "*"))
                elif ACCOUNT_RE.match(value) or value.endswith(":root"):
                    out.append(("account", value))
                elif ":role/" in value or ":assumed-role/" in value:
                    out.append(("role", value))
                elif ":user/" in value:
                    out.append(("user", value))
                else:
                    out.append(("unknown", value))
            elif key == "Service":
                out.append(("service", value))
            elif key == "Federated":
                if ":saml-provider/" in value:
                    out.append(("saml", value))
                elif ":oidc-provider/" in value or value in OIDC_DOMAINS:
                    out.append(("oidc", value))
                else:
                    out.append(("unknown", value))
            elif key == "CanonicalUser":
                out.append(("account", value))
            else:
                out.append(("unknown", f"{key}:{value}"))
    return out


def _classify_role(path: str, trusts: list[Trust]) -> tuple[bool, bool, str]:
    """(is_nhi, provider_owned, why)."""
    if path.startswith("/aws-service-role/"):
        return True, True, "service-linked role (created and managed by an AWS service)"
    if path.startswith("/aws-reserved/sso.amazonaws.com/"):
        return False, False, "IAM Identity Center permission-set role (assumed by people)"
    if trusts and all(t.principal_kind == "saml" for t in trusts):
        return False, False, "role assumed through SAML federation (assumed by people)"
    return True, False, "IAM role"


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() == "true"
