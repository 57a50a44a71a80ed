"""Live GCP collection through the Google Cloud client libraries (read-only).

What is called, per project (every call is a List, Get, Search or Query; a test records each
one a full scan makes and fails on anything else):

* IAM Admin (``google.cloud.iam_admin_v1``, gRPC): ``ListServiceAccounts``,
  ``ListServiceAccountKeys`` and ``GetIamPolicy`` per service account, ``ListRoles`` (custom
  roles, FULL view) for the project and its organization, ``GetRole`` for predefined roles the
  packaged catalog does not know;
* Resource Manager v3 (REST): ``GetProject``, ``GetIamPolicy`` (policy version 3, so that
  conditional bindings come back), ``ListProjects`` / ``ListFolders`` for ``--folder`` and
  ``--organization``, ``GetFolder`` / ``GetOrganization`` and their ``GetIamPolicy`` for the
  ancestry;
* Recommender v1 (REST): ``google.iam.policy.Recommender`` recommendations and the
  ``google.iam.policy.Insight`` / ``google.iam.serviceAccount.Insight`` insights;
* Policy Analyzer v1 ``activities:query`` (no client library exists: REST through google-auth's
  ``AuthorizedSession``) for ``serviceAccountLastAuthentication`` and
  ``serviceAccountKeyLastAuthentication``;
* IAM v1 REST: workload identity pools and their providers.

Every call is retried with exponential backoff on throttling and transient errors
(``google.api_core.retry``). A denied call, a disabled API or exhausted retries become a
``CoverageGap``; only a scan where nothing at all could be collected fails (exit code 2).

Endpoints can be overridden for Private Service Connect, sovereign clouds (``universe_domain``)
or local emulators: an ``http://host:port`` endpoint means plain text (gRPC insecure channel,
REST over http), which is also how the tests reach their fakes on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import threading
import warnings
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from nhiaudit.catalogs.gcp_roles import load_catalog
from nhiaudit.collectors.gcp_normalize import (
    ACTIVITY_RULES,
    PERMISSION_RULES,
    PROVIDER,
    ContainerData,
    GcpRawData,
    ProjectData,
    normalize,
)
from nhiaudit.collectors.interface import Collector
from nhiaudit.errors import CollectionError, NhiauditError
from nhiaudit.model import CoverageGap, Inventory, Source, utcnow

T = TypeVar("T")

CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
ENDPOINT_SERVICES = ("iam", "iam-rest", "resourcemanager", "recommender", "policyanalyzer", "iamcredentials")
"""Names accepted by --endpoint NAME=URL (and NHIAUDIT_GCP_ENDPOINTS)."""
DEFAULT_HOSTS = {
    "iam": "iam",
    "iam-rest": "iam",
    "resourcemanager": "cloudresourcemanager",
    "recommender": "recommender",
    "policyanalyzer": "policyanalyzer",
    "iamcredentials": "iamcredentials",
}
IAM_POLICY_RECOMMENDER = "google.iam.policy.Recommender"
POLICY_INSIGHT = "google.iam.policy.Insight"
SA_INSIGHT = "google.iam.serviceAccount.Insight"
ACTIVITY_TYPES = {"sa": "serviceAccountLastAuthentication", "key": "serviceAccountKeyLastAuthentication"}
DROPPED_KEY_FIELDS = ("privateKeyData", "publicKeyData", "privateKeyType")
"""Never kept, even if an API or proxy returned them: the scanner stores identifiers only."""


# --- endpoints ------------------------------------------------------------------------------------


@dataclass
class GcpEndpoints:
    overrides: dict[str, str] = field(default_factory=dict)
    universe_domain: str = "googleapis.com"

    @classmethod
    def from_options(cls, specs: Iterable[str] = (), universe_domain: str | None = None) -> GcpEndpoints:
        """``--endpoint NAME=URL`` options win over ``NHIAUDIT_GCP_ENDPOINTS`` (comma-separated)."""
        overrides: dict[str, str] = {}
        env = os.environ.get("NHIAUDIT_GCP_ENDPOINTS", "")
        items = [("NHIAUDIT_GCP_ENDPOINTS", s) for s in env.split(",") if s.strip()]
        items += [("--endpoint", s) for s in specs]
        for origin, spec in items:
            name, sep, url = spec.strip().partition("=")
            name = name.strip().lower()
            if not sep or not url.strip():
                raise NhiauditError(f"{origin}: expected NAME=URL, got {spec!r}")
            if name not in ENDPOINT_SERVICES:
                raise NhiauditError(f"{origin}: unknown endpoint {name!r}; known: {', '.join(ENDPOINT_SERVICES)}")
            url = url.strip().rstrip("/")
            if "://" in url and not url.startswith(("http://", "https://")):
                raise NhiauditError(f"{origin}: {name} endpoint must be http://, https:// or host[:port]: {url!r}")
            overrides[name] = url
        if "iam" in overrides and "iam-rest" not in overrides:
            overrides["iam-rest"] = overrides["iam"]
        domain = universe_domain or os.environ.get("NHIAUDIT_GCP_UNIVERSE_DOMAIN") or "googleapis.com"
        return cls(overrides, domain.strip())

    def rest_base(self, service: str) -> str:
        url = self.overrides.get(service)
        if url is None:
            return f"https://{DEFAULT_HOSTS[service]}.{self.universe_domain}"
        return url if "://" in url else f"https://{url}"

    def plaintext(self, service: str) -> bool:
        return self.overrides.get(service, "").startswith("http://")

    def all_plaintext(self) -> bool:
        """Every API the scan reads goes to a plain-text override (a local emulator or fake)."""
        return all(self.plaintext(s) for s in ENDPOINT_SERVICES if s != "iamcredentials")

    def client_options(self, service: str) -> dict[str, Any]:
        url = self.overrides.get(service)
        if url is not None:
            return {"api_endpoint": url}
        if self.universe_domain != "googleapis.com":
            return {"universe_domain": self.universe_domain}
        return {}


# --- progress ----------------------------------------------------------------------------------------


class ProgressSink(Protocol):
    def start(self, total_projects: int) -> None: ...

    def project_done(self, project_id: str, service_accounts: int) -> None: ...


@dataclass
class RetrySettings:
    initial: float = 1.0
    maximum: float = 30.0
    multiplier: float = 2.0
    deadline: float = 60.0
    """Give up retrying one call after this many seconds (it becomes a coverage gap)."""
    timeout: float = 60.0
    """Per-request timeout in seconds."""


class _ProjectFailed(Exception):
    """Internal: a required call of one project failed; the gap is already recorded."""


# --- the collector ---------------------------------------------------------------------------------


class GcpLiveCollector(Collector):
    provider = PROVIDER

    def __init__(
        self,
        *,
        projects: Iterable[str] = (),
        folders: Iterable[str] = (),
        organizations: Iterable[str] = (),
        impersonate_service_account: str | None = None,
        endpoints: GcpEndpoints | None = None,
        max_workers: int = 8,
        credentials: Any = None,
        retry: RetrySettings | None = None,
        progress: ProgressSink | None = None,
        collect_usage: bool = True,
    ) -> None:
        self.project_ids = list(dict.fromkeys(p.strip() for p in projects if p.strip()))
        self.folders = [_container("folders", f) for f in folders]
        self.organizations = [_container("organizations", o) for o in organizations]
        if not (self.project_ids or self.folders or self.organizations):
            raise NhiauditError("name what to scan: --project, --folder or --organization")
        if max_workers < 1:
            raise NhiauditError("--max-workers must be at least 1")
        self.impersonate = impersonate_service_account
        self.endpoints = endpoints or GcpEndpoints.from_options()
        self.max_workers = max_workers
        self._credentials = credentials
        self.retry_settings = retry or RetrySettings()
        self.progress = progress
        self.collect_usage = collect_usage
        self._lock = threading.Lock()
        self._container_locks: dict[str, threading.Lock] = {}
        self._global_calls: Counter[str] = Counter()
        self.raw = GcpRawData(method="live")

    # --- set-up ----------------------------------------------------------------------------------

    def _setup(self) -> None:
        from google.api_core import exceptions as gexc
        from google.api_core import retry as gretry

        self._exc = gexc
        s = self.retry_settings
        self._retry = gretry.Retry(
            predicate=gretry.if_exception_type(
                gexc.TooManyRequests,
                gexc.ResourceExhausted,
                gexc.ServiceUnavailable,
                gexc.InternalServerError,
                gexc.BadGateway,
                gexc.GatewayTimeout,
                gexc.DeadlineExceeded,
            ),
            initial=s.initial,
            maximum=s.maximum,
            multiplier=s.multiplier,
            timeout=s.deadline,
        )
        creds = self._credentials if self._credentials is not None else self._default_credentials()
        self.credentials = creds
        self._iam = self._iam_client(creds)
        from google.cloud import recommender_v1, resourcemanager_v3

        rm_opts = self.endpoints.client_options("resourcemanager")
        self._projects = resourcemanager_v3.ProjectsClient(transport="rest", credentials=creds, client_options=rm_opts)
        self._folders = resourcemanager_v3.FoldersClient(transport="rest", credentials=creds, client_options=rm_opts)
        self._orgs = resourcemanager_v3.OrganizationsClient(transport="rest", credentials=creds, client_options=rm_opts)
        self._recommender = recommender_v1.RecommenderClient(
            transport="rest", credentials=creds, client_options=self.endpoints.client_options("recommender")
        )
        from google.auth.transport.requests import AuthorizedSession

        self._session = AuthorizedSession(creds)

    def _default_credentials(self) -> Any:
        import google.auth
        from google.auth import exceptions as auth_exc

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "end user credentials without a quota project" noise
            try:
                creds, _ = google.auth.default(scopes=[CLOUD_PLATFORM])
            except auth_exc.DefaultCredentialsError as exc:
                if self.endpoints.all_plaintext() and not self.impersonate:
                    from google.auth.credentials import AnonymousCredentials

                    self.raw.warnings.append(
                        "no Google credentials found: calling the plain-text (http://) endpoints anonymously, "
                        "as for a local emulator"
                    )
                    return AnonymousCredentials()
                raise CollectionError(
                    "no Google credentials found: run 'gcloud auth application-default login', set "
                    f"GOOGLE_APPLICATION_CREDENTIALS, or run on a Google Cloud workload ({exc})"
                ) from None
        if self.impersonate:
            from google.auth import impersonated_credentials

            override = None
            if "iamcredentials" in self.endpoints.overrides or self.endpoints.universe_domain != "googleapis.com":
                base = self.endpoints.rest_base("iamcredentials")
                override = f"{base}/v1/projects/-/serviceAccounts/{self.impersonate}:generateAccessToken"
            creds = impersonated_credentials.Credentials(
                source_credentials=creds,
                target_principal=self.impersonate,
                target_scopes=[CLOUD_PLATFORM],
                lifetime=3600,
                iam_endpoint_override=override,
            )
        return creds

    def _iam_client(self, creds: Any) -> Any:
        from google.cloud import iam_admin_v1

        if self.endpoints.plaintext("iam"):
            import grpc
            from google.cloud.iam_admin_v1.services.iam.transports import IAMGrpcTransport

            target = self.endpoints.overrides["iam"].split("://", 1)[1]
            return iam_admin_v1.IAMClient(transport=IAMGrpcTransport(channel=grpc.insecure_channel(target)))
        opts = self.endpoints.client_options("iam")
        if "api_endpoint" in opts:
            opts["api_endpoint"] = opts["api_endpoint"].split("://", 1)[-1]
        return iam_admin_v1.IAMClient(credentials=creds, client_options=opts)

    # --- calling ---------------------------------------------------------------------------------

    def _count(self, counter: dict[str, int] | None, op: str, n: int = 1) -> None:
        with self._lock:
            if counter is None:
                self._global_calls[op] += n
            else:
                counter[op] = counter.get(op, 0) + n

    def _list(self, counter: dict[str, int] | None, op: str, pager: Any, field_name: str) -> list[Any]:
        """Every item of a GAPIC pager, counting one call per page."""
        items: list[Any] = []
        for page in pager.pages:
            self._count(counter, op)
            items.extend(getattr(page, field_name))
        return items

    def _rest_pages(
        self, counter: dict[str, int] | None, op: str, url: str, key: str, params: dict[str, Any] | None = None
    ) -> list[dict]:
        """GET a REST list through the AuthorizedSession, following nextPageToken, with retries."""
        exc = self._exc
        items: list[dict] = []
        token: str | None = None
        while True:
            query = dict(params or {})
            if token:
                query["pageToken"] = token

            def once(q: dict[str, Any] = query) -> dict:
                response = self._session.get(url, params=q, timeout=self.retry_settings.timeout)
                if response.status_code >= 400:
                    raise exc.from_http_response(response)
                try:
                    return response.json()
                except ValueError:
                    raise exc.InternalServerError(f"{url}: response is not JSON") from None

            data = self._retry(once)()
            self._count(counter, op)
            page = data.get(key, [])
            if not isinstance(page, list):
                raise exc.InternalServerError(f"{url}: '{key}' is not a list")
            items.extend(page)
            token = data.get("nextPageToken") or None
            if not token:
                return items

    def _guard(
        self,
        gaps: list[CoverageGap],
        scope: str,
        source: str,
        what: str,
        affects: list[str],
        fn: Callable[[], T],
    ) -> T | None:
        """Run one collection step; a failure becomes a coverage gap (auth failures stop the scan)."""
        try:
            return fn()
        except NhiauditError:
            raise
        except Exception as error:
            status, detail = self._classify(error, what)
            gaps.append(
                CoverageGap(
                    provider=PROVIDER, scope=scope, source=source, status=status, detail=detail, affects=affects
                )  # type: ignore[arg-type]
            )
            return None

    def _classify(self, error: Exception, what: str) -> tuple[str, str]:
        exc = self._exc
        from google.auth import exceptions as auth_exc

        if isinstance(error, auth_exc.RefreshError | auth_exc.DefaultCredentialsError):
            raise CollectionError(f"could not obtain a Google access token: {error}") from None
        if isinstance(error, exc.Unauthenticated | exc.Unauthorized):
            raise CollectionError(f"the credentials were rejected (401 Unauthenticated) while reading {what}") from None
        message = _one_line(getattr(error, "message", None) or str(error))
        if isinstance(error, exc.RetryError):
            cause = error.cause
            if isinstance(cause, exc.TooManyRequests | exc.ResourceExhausted):
                return "throttled", f"{what}: still throttled after retries ({_one_line(str(cause))})"
            return "error", f"{what}: gave up after retries ({_one_line(str(cause or error))})"
        if isinstance(error, exc.TooManyRequests | exc.ResourceExhausted):
            return "throttled", f"{what}: throttled ({message})"
        if isinstance(error, exc.PermissionDenied | exc.Forbidden):
            reason = getattr(error, "reason", None) or ""
            if (
                reason in ("SERVICE_DISABLED", "API_DISABLED")
                or "has not been used" in message
                or "is disabled" in message
            ):
                return "unavailable", f"{what}: the API is not enabled ({message})"
            return "denied", f"{what}: permission denied ({message})"
        if isinstance(error, exc.NotFound | exc.FailedPrecondition):
            return "unavailable", f"{what}: not available ({message})"
        if isinstance(error, exc.GoogleAPICallError):
            return "error", f"{what}: {type(error).__name__} ({message})"
        return "error", f"{what}: {type(error).__name__}: {_one_line(str(error))}"

    # --- scope -----------------------------------------------------------------------------------------

    def _discover(self) -> list[dict]:
        """Projects to scan (v3 Project dicts), from --project, --folder and --organization."""
        found: dict[str, dict] = {}
        for pid in self.project_ids:
            project = self._guard(
                self.raw.gaps,
                pid,
                "project",
                f"project {pid}",
                [],
                lambda pid=pid: self._get_project(pid),
            )
            found[pid] = project or {"projectId": pid}
        for parent in [*self.folders, *self.organizations]:
            projects = self._walk(parent)
            if not projects:
                raise CollectionError(
                    f"no active projects found under {parent} (or no permission to list them: the scanner needs "
                    "resourcemanager.projects.list and resourcemanager.folders.list there)"
                )
            for project in projects:
                found.setdefault(project["projectId"], project)
        return list(found.values())

    def _get_project(self, pid: str) -> dict:
        self._count(None, "resourcemanager.GetProject")
        return _to_dict(
            self._projects.get_project(name=f"projects/{pid}", retry=self._retry, timeout=self.retry_settings.timeout)
        )

    def _walk(self, parent: str) -> list[dict]:
        projects: list[dict] = []
        pending = [parent]
        seen: set[str] = set()
        while pending:
            node = pending.pop()
            if node in seen:
                continue
            seen.add(node)
            try:
                pager = self._projects.list_projects(
                    parent=node, retry=self._retry, timeout=self.retry_settings.timeout
                )
                for project in self._list(None, "resourcemanager.ListProjects", pager, "projects"):
                    data = _to_dict(project)
                    if data.get("state", "ACTIVE") == "ACTIVE":
                        projects.append(data)
                    else:
                        self.raw.warnings.append(f"project {data.get('projectId')} is {data.get('state')}: skipped")
                pager = self._folders.list_folders(parent=node, retry=self._retry, timeout=self.retry_settings.timeout)
                for folder in self._list(None, "resourcemanager.ListFolders", pager, "folders"):
                    data = _to_dict(folder)
                    if data.get("state", "ACTIVE") == "ACTIVE":
                        pending.append(data["name"])
            except Exception as error:  # reported: the scope itself fails the scan, a sub-folder is a gap
                status, detail = self._classify(error, f"listing projects under {node}")
                if node == parent:
                    raise CollectionError(detail) from None
                self.raw.gaps.append(
                    CoverageGap(provider=PROVIDER, scope=node, source="project_listing", status=status, detail=detail)  # type: ignore[arg-type]
                )
        return projects

    # --- ancestry ----------------------------------------------------------------------------------------

    def _ancestry(self, project: ProjectData, parent: str | None) -> None:
        chain: list[str] = []
        node = parent
        while node and node.startswith(("folders/", "organizations/")):
            chain.append(node)
            container = self._container(node)
            node = container.parent if container is not None else None
        project.ancestors = chain

    def _container(self, name: str) -> ContainerData | None:
        """A folder or organization, fetched once however many projects share it."""
        with self._lock:
            lock = self._container_locks.setdefault(name, threading.Lock())
        with lock:
            if name not in self.raw.containers:
                self.raw.containers[name] = self._fetch_container(name)
            return self.raw.containers[name]

    def _fetch_container(self, name: str) -> ContainerData:
        container = ContainerData(name=name, where=name)
        gaps = self.raw.gaps
        timeout = self.retry_settings.timeout
        if name.startswith("folders/"):
            client, kind, operation = self._folders, "folder", "GetFolder"
            get = client.get_folder
        else:
            client, kind, operation = self._orgs, "organization", "GetOrganization"
            get = client.get_organization
        self._count(None, f"resourcemanager.{operation}")
        meta = self._guard(
            gaps, name, kind, f"{kind} {name}", [], lambda: _to_dict(get(name=name, retry=self._retry, timeout=timeout))
        )
        self._count(None, "resourcemanager.GetIamPolicy")
        policy = self._guard(
            gaps,
            name,
            "iam_policy",
            f"IAM policy of {name}",
            PERMISSION_RULES,
            lambda: _policy_dict(
                client.get_iam_policy(request=_policy_request(name), retry=self._retry, timeout=timeout)
            ),
        )
        if kind == "organization":
            container.custom_roles = self._guard(
                gaps,
                name,
                "custom_roles",
                f"custom roles of {name}",
                PERMISSION_RULES,
                lambda: self._roles(None, name),
            )
        if meta:
            container.display_name = meta.get("displayName")
            container.parent = meta.get("parent") or None
        container.iam_policy = policy
        return container

    # --- per project -----------------------------------------------------------------------------------

    def _roles(self, counter: dict[str, int] | None, parent: str) -> list[dict]:
        from google.cloud.iam_admin_v1 import types

        request = types.ListRolesRequest(parent=parent, view=types.RoleView.FULL, show_deleted=True, page_size=300)
        pager = self._iam.list_roles(request=request, retry=self._retry, timeout=self.retry_settings.timeout)
        return [_to_dict(r) for r in self._list(counter, "iam.ListRoles", pager, "roles")]

    def _collect_project(self, meta: dict, sa_pool: ThreadPoolExecutor) -> ProjectData:
        pid = meta["projectId"]
        p = ProjectData(project_id=pid, where=f"project {pid}")
        p.number = str(meta["name"].split("/", 1)[1]) if str(meta.get("name", "")).startswith("projects/") else None
        p.display_name = meta.get("displayName")
        p.labels = dict(meta.get("labels") or {})
        p.parent = meta.get("parent") or None
        p.inputs = ["live"]
        calls = p.api_calls
        timeout = self.retry_settings.timeout
        if "name" in meta:  # GetProject answered: the parent is known (None would mean no parent at all)
            self._ancestry(p, p.parent)

        def guard(source: str, what: str, affects: list[str], fn: Callable[[], T]) -> T | None:
            return self._guard(p.gaps, pid, source, what, affects, fn)

        def project_policy() -> dict:
            self._count(calls, "resourcemanager.GetIamPolicy")
            return _policy_dict(
                self._projects.get_iam_policy(
                    request=_policy_request(f"projects/{pid}"), retry=self._retry, timeout=timeout
                )
            )

        p.iam_policy = guard("iam_policy", f"IAM policy of project {pid}", PERMISSION_RULES, project_policy)

        def list_accounts() -> list[dict]:
            pager = self._iam.list_service_accounts(
                request={"name": f"projects/{pid}", "page_size": 100}, retry=self._retry, timeout=timeout
            )
            return [_to_dict(a) for a in self._list(calls, "iam.ListServiceAccounts", pager, "accounts")]

        p.service_accounts = guard(
            "service_accounts",
            f"service accounts of project {pid}",
            ["identity-unused", "gcp-user-managed-key", *PERMISSION_RULES],
            list_accounts,
        )
        accounts = p.service_accounts or []
        key_gaps: list[CoverageGap] = []
        policy_gaps: list[CoverageGap] = []

        def per_account(sa: dict) -> tuple[str, list[dict] | None, dict | None]:
            email = str(sa["email"]).lower()
            resource = sa.get("name") or f"projects/{pid}/serviceAccounts/{email}"

            def keys() -> list[dict]:
                self._count(calls, "iam.ListServiceAccountKeys")
                response = self._iam.list_service_account_keys(
                    request={"name": resource}, retry=self._retry, timeout=timeout
                )
                return [_key_dict(k) for k in response.keys]

            def policy() -> dict:
                self._count(calls, "iam.GetIamPolicy")
                return _policy_dict(
                    self._iam.get_iam_policy(request=_policy_request(resource), retry=self._retry, timeout=timeout)
                )

            k = self._guard(
                key_gaps,
                pid,
                f"service_account_keys:{email}",
                f"keys of {email}",
                ["credential-not-rotated", "gcp-user-managed-key", "credential-never-used"],
                keys,
            )
            pol = self._guard(
                policy_gaps,
                pid,
                f"service_account_iam_policy:{email}",
                f"IAM policy of {email}",
                ["gcp-project-level-impersonation", "privilege-escalation"],
                policy,
            )
            return email, k, pol

        for email, keys, policy in sa_pool.map(per_account, accounts):
            if keys is not None:
                p.keys[email] = keys
            if policy is not None:
                p.sa_policies[email] = policy
        p.gaps.extend(_summarize(key_gaps, pid, "service_account_keys", len(accounts)))
        p.gaps.extend(_summarize(policy_gaps, pid, "service_account_iam_policies", len(accounts)))

        p.custom_roles = guard(
            "custom_roles",
            f"custom roles of project {pid}",
            PERMISSION_RULES,
            lambda: self._roles(calls, f"projects/{pid}"),
        )
        if self.collect_usage:
            self._usage(p)
        else:
            p.gaps.append(
                CoverageGap(
                    provider=PROVIDER,
                    scope=pid,
                    source="usage",
                    status="not_supplied",
                    detail="usage evidence was not collected (--no-usage)",
                    affects=[*ACTIVITY_RULES, "gcp-role-recommendation"],
                )
            )
        self._wif(p)
        return p

    def _usage(self, p: ProjectData) -> None:
        pid, calls, timeout = p.project_id, p.api_calls, self.retry_settings.timeout
        parent = f"projects/{pid}/locations/global"

        def recommendations() -> list[dict]:
            pager = self._recommender.list_recommendations(
                parent=f"{parent}/recommenders/{IAM_POLICY_RECOMMENDER}", retry=self._retry, timeout=timeout
            )
            return [_to_dict(r) for r in self._list(calls, "recommender.ListRecommendations", pager, "recommendations")]

        def insights(kind: str) -> Callable[[], list[dict]]:
            def run() -> list[dict]:
                pager = self._recommender.list_insights(
                    parent=f"{parent}/insightTypes/{kind}", retry=self._retry, timeout=timeout
                )
                return [_to_dict(i) for i in self._list(calls, "recommender.ListInsights", pager, "insights")]

            return run

        rec_affects = ["gcp-role-recommendation"]
        p.recommendations = self._guard(
            p.gaps, pid, "iam_recommender", f"IAM recommendations of {pid}", rec_affects, recommendations
        )
        p.policy_insights = self._guard(
            p.gaps, pid, "policy_insights", f"IAM policy insights of {pid}", rec_affects, insights(POLICY_INSIGHT)
        )
        p.sa_insights = self._guard(
            p.gaps,
            pid,
            "service_account_insights",
            f"service-account insights of {pid}",
            ["identity-unused"],
            insights(SA_INSIGHT),
        )
        base = self.endpoints.rest_base("policyanalyzer")
        for kind, activity in ACTIVITY_TYPES.items():
            url = f"{base}/v1/{parent}/activityTypes/{activity}/activities:query"
            result = self._guard(
                p.gaps,
                pid,
                f"activity_analyzer:{activity}",
                f"Activity Analyzer {activity} for {pid}",
                ["identity-unused"] if kind == "sa" else ["credential-never-used", "credential-unused"],
                lambda url=url: self._rest_pages(
                    calls, "policyanalyzer.QueryActivity", url, "activities", {"pageSize": 1000}
                ),
            )
            if kind == "sa":
                p.sa_activity = result
            else:
                p.key_activity = result

    def _wif(self, p: ProjectData) -> None:
        pid, calls = p.project_id, p.api_calls
        base = self.endpoints.rest_base("iam-rest")
        pools = self._guard(
            p.gaps,
            pid,
            "workload_identity_pools",
            f"workload identity pools of {pid}",
            ["gcp-project-level-impersonation"],
            lambda: self._rest_pages(
                calls,
                "iam.ListWorkloadIdentityPools",
                f"{base}/v1/projects/{pid}/locations/global/workloadIdentityPools",
                "workloadIdentityPools",
                {"pageSize": 100},
            ),
        )
        p.wif_pools = pools
        for pool in pools or []:
            name = str(pool.get("name", ""))
            if not name or pool.get("state", "ACTIVE") != "ACTIVE":
                continue
            providers = self._guard(
                p.gaps,
                pid,
                f"wif_providers:{name.rsplit('/', 1)[-1]}",
                f"providers of {name}",
                [],
                lambda name=name: self._rest_pages(
                    calls,
                    "iam.ListWorkloadIdentityPoolProviders",
                    f"{base}/v1/{name}/providers",
                    "workloadIdentityPoolProviders",
                    {"pageSize": 100},
                ),
            )
            if providers is not None:
                p.wif_providers[name] = providers

    def _unknown_roles(self) -> None:
        """GetRole for predefined roles bound somewhere that the packaged catalog does not know."""
        catalog = load_catalog()
        wanted: set[str] = set()
        policies = [p.iam_policy for p in self.raw.projects.values()]
        policies += [c.iam_policy for c in self.raw.containers.values()]
        policies += [pol for p in self.raw.projects.values() for pol in p.sa_policies.values()]
        for policy in policies:
            for b in (policy or {}).get("bindings", []):
                role = b.get("role", "")
                if role.startswith("roles/") and catalog.role(role) is None:
                    wanted.add(role)
        for role in sorted(wanted):

            def get(role: str = role) -> dict:
                self._count(None, "iam.GetRole")
                return _to_dict(
                    self._iam.get_role(request={"name": role}, retry=self._retry, timeout=self.retry_settings.timeout)
                )

            found = self._guard(self.raw.gaps, "*", f"role:{role}", f"predefined role {role}", PERMISSION_RULES, get)
            if found is not None:
                self.raw.extra_roles.append(found)

    # --- the whole scan ----------------------------------------------------------------------------------

    def collect(self) -> Inventory:
        self._setup()
        started = utcnow()
        self.raw.snapshot = started
        metas = self._discover()
        if self.progress is not None:
            self.progress.start(len(metas))
        with (
            ThreadPoolExecutor(self.max_workers, thread_name_prefix="gcp-project") as projects_pool,
            ThreadPoolExecutor(self.max_workers, thread_name_prefix="gcp-sa") as sa_pool,
        ):
            futures = [projects_pool.submit(self._collect_project, meta, sa_pool) for meta in metas]
            for future in futures:
                project = future.result()
                self.raw.projects[project.project_id] = project
                if self.progress is not None:
                    self.progress.project_done(project.project_id, len(project.service_accounts or []))
        self._unknown_roles()
        if not any(p.service_accounts is not None or p.iam_policy is not None for p in self.raw.projects.values()):
            first = next((g.detail for p in self.raw.projects.values() for g in p.gaps), None)
            first = first or next((g.detail for g in self.raw.gaps), "no project could be read")
            raise CollectionError(f"nothing could be collected from GCP: {first}")
        inventory = normalize(self.raw)
        if self._global_calls:
            # project discovery, folders, organizations and role look-ups serve every project
            inventory.sources.append(
                Source(
                    provider=PROVIDER,
                    scope="resource-hierarchy",
                    method="live",
                    inputs=sorted(self.raw.containers) or ["project discovery"],
                    collected_at=started,
                    api_calls=dict(sorted(self._global_calls.items())),
                )
            )
        return inventory


# --- helpers ------------------------------------------------------------------------------------------


def _container(kind: str, value: str) -> str:
    value = value.strip()
    if value.startswith(f"{kind}/"):
        value = value.split("/", 1)[1]
    if not value.isdigit():
        raise NhiauditError(f"--{kind[:-1]} takes a numeric {kind[:-1]} id, got {value!r}")
    return f"{kind}/{value}"


def _policy_request(resource: str) -> dict:
    return {"resource": resource, "options": {"requested_policy_version": 3}}


def _to_dict(message: Any) -> dict:
    """A proto-plus message as its REST JSON shape (camelCase keys, enum names)."""
    cls = type(message)
    return json.loads(cls.to_json(message, use_integers_for_enums=False, indent=0))


def _policy_dict(policy: Any) -> dict:
    from google.protobuf.json_format import MessageToDict

    return MessageToDict(policy)


def _key_dict(key: Any) -> dict:
    data = _to_dict(key)
    for name in DROPPED_KEY_FIELDS:
        data.pop(name, None)
    return data


def _summarize(gaps: list[CoverageGap], scope: str, source: str, total: int) -> list[CoverageGap]:
    """One gap per kind of failure instead of one per service account."""
    if not gaps:
        return []
    by_status: dict[str, list[CoverageGap]] = {}
    for gap in gaps:
        by_status.setdefault(gap.status, []).append(gap)
    out = []
    for status, items in by_status.items():
        accounts = ", ".join(g.source.split(":", 1)[1] for g in items[:3]) + (" ..." if len(items) > 3 else "")
        out.append(
            CoverageGap(
                provider=PROVIDER,
                scope=scope,
                source=source,
                status=status,  # type: ignore[arg-type]
                detail=f"{len(items)} of {total} service accounts ({accounts}): {items[0].detail}",
                affects=items[0].affects,
            )
        )
    return out


def _one_line(text: str) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= 300 else line[:297] + "..."
