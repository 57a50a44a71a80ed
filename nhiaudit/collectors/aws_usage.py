"""IAM Access Advisor and IAM Access Analyzer data -> ``Usage`` records.

Shared by the offline import (files of ``aws iam get-service-last-accessed-details`` and
``aws accessanalyzer get-finding-v2`` output) and the live collector (the same structures from
boto3, with datetimes instead of strings). Nothing here reads a file or calls an API.

What each source can say:

* **Access Advisor** lists every service the principal's *current* policies allow, with the last
  authenticated access in the trailing 400 days (none = not accessed in that window), and for
  services with action-level tracking the tracked actions. A listed service or tracked action is
  evidence; a granted service it does not list is unknown. It never sees ``iam:PassRole`` (an
  authorization check, not an API call), so an unused ``iam`` service never makes PassRole unused.
* **Access Analyzer** (unused-access analyzer) reports only what is unused for longer than its
  ``unusedAccessAge``: a role, an access key, a console password, or services / actions. The
  absence of a finding is not evidence of use, so only findings become records.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from nhiaudit.collectors.aws_authz import parse_time
from nhiaudit.errors import InputError
from nhiaudit.model import CoverageGap, Grant, Identity, Usage

ADVISOR_SOURCE = "aws.access_advisor"
ANALYZER_SOURCE = "aws.access_analyzer"
ADVISOR_WINDOW_DAYS = 400
"""Access Advisor reports activity over (at least) the trailing 400 days."""
ANALYZER_DEFAULT_AGE_DAYS = 90
"""The unused-access analyzer's default tracking period (``unusedAccessAge``)."""

UNOBSERVABLE: dict[str, tuple[str, ...]] = {"iam": ("iam:PassRole",)}
"""Service namespace -> permissions Access Advisor cannot observe (authorization-only actions)."""

ANALYZER_FINDING_TYPES = ("UnusedIAMRole", "UnusedIAMUserAccessKey", "UnusedIAMUserPassword", "UnusedPermission")


def _text(item: Mapping[str, Any], key: str, where: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value:
        raise InputError(f"{where}: missing {key}")
    return value


def advisor_usage(identity_id: str, details: Any, *, where: str, fallback_end: datetime | None) -> list[Usage]:
    """Usage records from one ``GetServiceLastAccessedDetails`` result (all pages merged).

    Emits one ``service`` record per listed service, ``action`` records for the tracked actions of
    services that were accessed (for a service never accessed, the service record already says every
    action is unused), and one ``identity`` record: the latest access to any granted service.
    """
    if not isinstance(details, Mapping):
        raise InputError(f"{where}: expected the JSON object of get-service-last-accessed-details")
    status = details.get("JobStatus")
    if status not in (None, "COMPLETED"):
        raise InputError(f"{where}: the Access Advisor job is {status}, not COMPLETED (no data)")
    services = details.get("ServicesLastAccessed")
    if not isinstance(services, list):
        raise InputError(f"{where}: missing ServicesLastAccessed")
    end = parse_time(details.get("JobCompletionDate"), where=f"{where}.JobCompletionDate") or fallback_end
    start = end - timedelta(days=ADVISOR_WINDOW_DAYS) if end else None
    records: list[Usage] = []
    latest: datetime | None = None
    for n, svc in enumerate(services):
        here = f"{where}.ServicesLastAccessed[{n}]"
        if not isinstance(svc, Mapping):
            raise InputError(f"{here}: expected an object")
        namespace = _text(svc, "ServiceNamespace", here).lower()
        last = parse_time(svc.get("LastAuthenticated"), where=f"{here}.LastAuthenticated")
        if last is not None and (latest is None or last > latest):
            latest = last
        region = svc.get("LastAuthenticatedRegion")
        records.append(
            Usage(
                identity_id=identity_id,
                target_kind="service",
                target=namespace,
                last_used=last,
                source=ADVISOR_SOURCE,
                window_start=start,
                window_end=end,
                detail=f"last authenticated in {region}" if last is not None and region else None,
                unobservable=list(UNOBSERVABLE.get(namespace, ())),
            )
        )
        if last is None:
            continue
        for k, action in enumerate(svc.get("TrackedActionsLastAccessed") or []):
            ahere = f"{here}.TrackedActionsLastAccessed[{k}]"
            if not isinstance(action, Mapping):
                raise InputError(f"{ahere}: expected an object")
            name = _text(action, "ActionName", ahere)
            records.append(
                Usage(
                    identity_id=identity_id,
                    target_kind="action",
                    target=f"{namespace}:{name}",
                    last_used=parse_time(action.get("LastAccessedTime"), where=f"{ahere}.LastAccessedTime"),
                    source=ADVISOR_SOURCE,
                    window_start=start,
                    window_end=end,
                )
            )
    if services:
        records.insert(
            0,
            Usage(
                identity_id=identity_id,
                target_kind="identity",
                last_used=latest,
                source=ADVISOR_SOURCE,
                window_start=start,
                window_end=end,
                detail=f"latest authenticated access to any of {len(services)} granted services",
            ),
        )
    return records


def analyzer_usage(finding: Any, *, age_days: int, where: str) -> list[Usage]:
    """Usage records from one unused-access finding (``GetFindingV2``, all detail pages merged).

    Findings other than the four unused-access types, and findings that are not ACTIVE (archived,
    resolved), give no records.
    """
    if not isinstance(finding, Mapping):
        raise InputError(f"{where}: expected the JSON object of get-finding-v2")
    finding_type = finding.get("findingType")
    if finding_type not in ANALYZER_FINDING_TYPES or finding.get("status", "ACTIVE") != "ACTIVE":
        return []
    resource = _text(finding, "resource", where)
    analyzed = parse_time(finding.get("analyzedAt") or finding.get("updatedAt"), where=f"{where}.analyzedAt")
    if analyzed is None:
        raise InputError(f"{where}: missing analyzedAt")
    start = analyzed - timedelta(days=age_days)
    ident = finding.get("id")
    detail = f"{finding_type} finding {ident}" if ident else f"{finding_type} finding"
    details = finding.get("findingDetails")
    if not isinstance(details, list):
        raise InputError(f"{where}: missing findingDetails")

    def usage(**fields: Any) -> Usage:
        return Usage(
            identity_id=resource,
            source=ANALYZER_SOURCE,
            window_start=start,
            window_end=analyzed,
            detail=detail,
            **fields,
        )

    records: list[Usage] = []
    for n, item in enumerate(details):
        here = f"{where}.findingDetails[{n}]"
        if not isinstance(item, Mapping):
            raise InputError(f"{here}: expected an object")
        if (role := item.get("unusedIamRoleDetails")) is not None:
            records.append(usage(target_kind="identity", last_used=_last(role, here)))
        elif (password := item.get("unusedIamUserPasswordDetails")) is not None:
            records.append(
                usage(target_kind="credential", credential_id=f"{resource}#password", last_used=_last(password, here))
            )
        elif (key := item.get("unusedIamUserAccessKeyDetails")) is not None:
            key_id = _text(key, "accessKeyId", f"{here}.unusedIamUserAccessKeyDetails")
            records.append(usage(target_kind="credential", credential_id=key_id, last_used=_last(key, here)))
        elif (perm := item.get("unusedPermissionDetails")) is not None:
            phere = f"{here}.unusedPermissionDetails"
            namespace = _text(perm, "serviceNamespace", phere).lower()
            actions = perm.get("actions") or []
            if not actions:
                records.append(
                    usage(
                        target_kind="service",
                        target=namespace,
                        last_used=_last(perm, phere),
                        unobservable=list(UNOBSERVABLE.get(namespace, ())),
                    )
                )
            for k, action in enumerate(actions):
                ahere = f"{phere}.actions[{k}]"
                name = _text(action, "action", ahere) if isinstance(action, Mapping) else None
                if name is None:
                    raise InputError(f"{ahere}: expected an object")
                target = name if ":" in name else f"{namespace}:{name}"
                records.append(usage(target_kind="action", target=target, last_used=_last(action, ahere)))
    return records


def _last(item: Any, where: str) -> datetime | None:
    if not isinstance(item, Mapping):
        raise InputError(f"{where}: expected an object")
    return parse_time(item.get("lastAccessed"), where=f"{where}.lastAccessed")


def advisor_targets(identities: Iterable[Identity], grants: Iterable[Grant]) -> list[Identity]:
    """Identities worth an Access Advisor report: NHIs with permissions, not provider-owned.

    People (SSO and SAML roles, console-only users) and service-linked roles are never analyzed,
    and an identity without any policy has nothing to measure.
    """
    granted = {g.identity_id for g in grants if g.kind != "boundary"}
    return [i for i in identities if i.is_nhi and not i.provider_owned and i.id in granted]


def missing_advisor_gap(scope: str, missing: list[Identity], total: int, *, why: str) -> CoverageGap:
    names = ", ".join(i.name for i in missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
    return CoverageGap(
        provider="aws",
        scope=scope,
        source="access_advisor",
        status="partial",
        detail=f"no Access Advisor data for {len(missing)} of {total} identities ({names}): {why}",
        affects=["excess-privilege"],
    )
