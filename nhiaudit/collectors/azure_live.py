"""Live Azure collection: Entra objects through msgraph-sdk, Azure RBAC through azure-mgmt-authorization.

Read-only: only GET requests are sent (a test records every request a scan makes). The Graph
SDK is asyncio-only, so the collection runs in ``asyncio.run``; per-object Graph calls are
bounded by a semaphore and the ARM calls (synchronous SDK) run in a thread pool alongside.
Both SDKs retry throttled requests (429, honouring Retry-After) and transient 503/504s.

What is collected, and the permission each part needs (docs/azure.md):

* applications (+ owners, federated identity credentials), service principals (+ owners),
  app role assignments, oauth2 permission grants: ``Application.Read.All``;
* Entra role assignments and definitions: ``RoleManagement.Read.Directory``;
* members of groups that hold roles: ``GroupMember.Read.All``;
* sign-in activity (beta reports): ``AuditLog.Read.All`` and an Entra ID P1/P2 licence;
* role assignments and custom role definitions per subscription: the ``Reader`` role.

Parts that are denied, throttled or unavailable become coverage gaps; only a failure to list
service principals at all stops the collection.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import Counter
from collections.abc import Awaitable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlparse

from nhiaudit.catalogs.azure import is_guid, load_azure_catalog, role_guid
from nhiaudit.collectors.azure_convert import (
    PERMISSION_RULES,
    USAGE_RULES,
    AzureConverter,
    AzureData,
    tenant_scopes,
)
from nhiaudit.collectors.interface import Collector
from nhiaudit.errors import CollectionError
from nhiaudit.model import CoverageGap, Inventory, Source, utcnow

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
OWNER_FIELDS = "id,displayName,userPrincipalName,userType,accountEnabled"
EXPAND_LIMIT = 20
"""Graph returns at most 20 expanded owners per object; objects at the limit are re-read in full."""
ARM_SUBSCRIPTIONS_API = "2022-12-01"


@dataclass(frozen=True)
class AzureCloud:
    """Endpoints of one Azure cloud."""

    name: str
    graph: str
    arm: str
    authority: str


CLOUDS = {
    "public": AzureCloud(
        "public", "https://graph.microsoft.com", "https://management.azure.com", "login.microsoftonline.com"
    ),
    "usgov": AzureCloud(
        "usgov", "https://graph.microsoft.us", "https://management.usgovcloudapi.net", "login.microsoftonline.us"
    ),
    "china": AzureCloud(
        "china",
        "https://microsoftgraph.chinacloudapi.cn",
        "https://management.chinacloudapi.cn",
        "login.chinacloudapi.cn",
    ),
}


class ProgressSink(Protocol):
    """Where the collector reports progress (the CLI draws it on stderr)."""

    def start(self, key: str, description: str, total: int | None = None) -> None: ...

    def advance(self, key: str, amount: int = 1) -> None: ...

    def finish(self, key: str, description: str | None = None) -> None: ...


class NoProgress:
    def start(self, key: str, description: str, total: int | None = None) -> None:
        pass

    def advance(self, key: str, amount: int = 1) -> None:
        pass

    def finish(self, key: str, description: str | None = None) -> None:
        pass


class _TenantCredential:
    """Asks every token for one tenant (``--tenant``); DefaultAzureCredential has no tenant option."""

    def __init__(self, inner: Any, tenant: str) -> None:
        self.inner = inner
        self.tenant = tenant

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        if not kwargs.get("tenant_id"):
            kwargs["tenant_id"] = self.tenant
        return self.inner.get_token(*scopes, **kwargs)

    def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if close is not None:
            close()


def default_credential(tenant: str | None, cloud: AzureCloud) -> Any:
    """DefaultAzureCredential (environment, workload identity, managed identity, Azure CLI, ...)."""
    from azure.identity import DefaultAzureCredential

    credential = DefaultAzureCredential(authority=cloud.authority, additionally_allowed_tenants=["*"])
    return _TenantCredential(credential, tenant) if tenant else credential


@dataclass
class _Gaps:
    tenant: str = ""
    gaps: list[CoverageGap] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, source: str, status: str, detail: str, affects: list[str]) -> None:
        with self.lock:
            self.gaps.append(
                CoverageGap(
                    provider="azure",
                    scope=self.tenant or "*",
                    source=source,
                    status=status,  # type: ignore[arg-type]
                    detail=detail,
                    affects=affects,
                )
            )


def _status(code: int | None) -> str:
    if code in (401, 403):
        return "denied"
    if code == 429:
        return "throttled"
    if code in (400, 404, 501):
        return "unavailable"
    return "error"


def _graph_error(exc: BaseException) -> tuple[int | None, str]:
    """(HTTP status, one-line message) of a Graph SDK error."""
    code = getattr(exc, "response_status_code", None)
    message = None
    error = getattr(exc, "error", None)
    if error is not None:
        message = " ".join(p for p in (getattr(error, "code", None), getattr(error, "message", None)) if p)
    message = message or getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return code, message.splitlines()[0][:300]


def _count_of(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _is_connection_failure(exc: BaseException) -> bool:
    """DNS, TCP or TLS failure on the way to Graph (httpx) or ARM (azure-core)."""
    import httpx
    from azure.core.exceptions import ServiceRequestError

    return isinstance(exc, httpx.TransportError | ServiceRequestError)


def _is_auth_failure(exc: BaseException) -> bool:
    try:
        from azure.core.exceptions import ClientAuthenticationError
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, ClientAuthenticationError)


class AzureLiveCollector(Collector):
    provider = "azure"

    def __init__(
        self,
        *,
        tenant: str | None = None,
        subscriptions: list[str] | None = None,
        cloud: AzureCloud = CLOUDS["public"],
        graph_url: str | None = None,
        arm_url: str | None = None,
        max_workers: int = 8,
        credential: Any = None,
        progress: ProgressSink | None = None,
        snapshot_time: datetime | None = None,
        skip_arm: bool = False,
    ) -> None:
        if tenant is not None and not is_guid(tenant):
            raise CollectionError(f"--tenant must be a tenant id (a GUID), got {tenant!r}")
        for sub in subscriptions or []:
            if not is_guid(sub):
                raise CollectionError(f"--subscription must be a subscription id (a GUID), got {sub!r}")
        if max_workers < 1:
            raise CollectionError("--max-workers must be at least 1")
        self.tenant = tenant.lower() if tenant else None
        self.subscriptions = [s.lower() for s in subscriptions or []]
        self.cloud = cloud
        self.graph_url = (graph_url or cloud.graph).rstrip("/")
        self.arm_url = (arm_url or cloud.arm).rstrip("/")
        for name, url in (("--graph-url", self.graph_url), ("--arm-url", self.arm_url)):
            parsed = urlparse(url)
            if parsed.scheme not in ("https", "http") or not parsed.hostname:
                raise CollectionError(f"{name} must be an https URL, got {url!r}")
            if parsed.scheme == "http" and parsed.hostname not in LOOPBACK:
                raise CollectionError(f"{name} must use https (plain http is only allowed to a local test server)")
        self.max_workers = max_workers
        self.credential = credential
        self.progress: ProgressSink = progress or NoProgress()
        self.snapshot_time = snapshot_time
        self.skip_arm = skip_arm
        self.calls: Counter[str] = Counter()
        self._calls_lock = threading.Lock()
        self.gaps = _Gaps()
        self.warnings: list[str] = []

    # --- entry point ----------------------------------------------------------------------

    def collect(self) -> Inventory:
        credential = self.credential or default_credential(self.tenant, self.cloud)
        snapshot = self.snapshot_time or utcnow()
        try:
            data = asyncio.run(self._collect(credential))
        except CollectionError:
            raise
        except Exception as exc:
            if _is_auth_failure(exc):
                raise CollectionError(
                    "could not get an Azure token: sign in with 'az login' (or set AZURE_CLIENT_ID / "
                    f"AZURE_TENANT_ID / AZURE_CLIENT_SECRET, or use a managed identity): {str(exc).splitlines()[0]}"
                ) from None
            if _is_connection_failure(exc):
                raise CollectionError(
                    f"cannot reach Azure ({self.graph_url}, {self.arm_url}): {type(exc).__name__}: "
                    f"{str(exc).splitlines()[0] if str(exc) else 'connection failed'}"
                ) from None
            raise
        finally:
            if self.credential is None:
                close = getattr(credential, "close", None)
                if close is not None:
                    close()
        converted = AzureConverter(data, snapshot=snapshot).convert()
        return converted.to_inventory(
            snapshot_time=self.snapshot_time,
            sources=[
                Source(
                    provider="azure",
                    scope=data.tenant_id,
                    method="live",
                    inputs=[self.graph_url, *([] if self.skip_arm else [self.arm_url])],
                    collected_at=snapshot,
                    api_calls=dict(sorted(self.calls.items())),
                )
            ],
            coverage=[*self.gaps.gaps, *converted.coverage],
            scopes=tenant_scopes(data),
            warnings=[*self.warnings, *converted.warnings],
        )

    def _count(self, call: str, n: int = 1) -> None:
        with self._calls_lock:
            self.calls[call] += n

    async def _collect(self, credential: Any) -> AzureData:
        graph = _Graph(self, credential)
        try:
            tenant = self.tenant or await graph.tenant_id()
            self.gaps.tenant = tenant
            data = AzureData(tenant_id=tenant)
            loop = asyncio.get_running_loop()
            pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nhiaudit-arm")
            try:
                arm = None if self.skip_arm else loop.run_in_executor(pool, self._arm, credential, tenant)
                try:
                    await graph.collect(data)
                except BaseException:
                    if arm is not None:  # let the ARM thread finish and drop its outcome: the Graph error is reported
                        await asyncio.gather(arm, return_exceptions=True)
                    raise
                if arm is not None:
                    data.role_assignments, data.role_definitions = await arm
                else:
                    self.gaps.add(
                        "role_assignments", "not_supplied", "Azure RBAC was not collected (--no-rbac)", PERMISSION_RULES
                    )
            finally:
                pool.shutdown(wait=True)
            await graph.group_members(data)
            return data
        finally:
            await graph.close()

    # --- ARM (runs in a worker thread) -------------------------------------------------------

    def _arm_auth_policy(self, credential: Any) -> Any:
        from azure.mgmt.core.policies import ARMChallengeAuthenticationPolicy

        scope = f"{self.cloud.arm if self._is_loopback(self.arm_url) else self.arm_url}/.default"
        loopback = self._is_loopback(self.arm_url)

        class _Policy(ARMChallengeAuthenticationPolicy):
            def on_request(self, request: Any) -> None:
                if loopback and urlparse(request.http_request.url).hostname in LOOPBACK:
                    request.context.options["enforce_https"] = False  # only towards a local test server
                super().on_request(request)

        return _Policy(credential, scope)

    @staticmethod
    def _is_loopback(url: str) -> bool:
        return urlparse(url).hostname in LOOPBACK

    def _arm(self, credential: Any, tenant: str) -> tuple[list[dict[str, Any]] | None, list[dict[str, Any]]]:
        from azure.core.exceptions import AzureError, HttpResponseError
        from azure.mgmt.authorization import AuthorizationManagementClient

        subscriptions = self.subscriptions or self._list_subscriptions(credential, tenant)
        if subscriptions is None:
            return None, []
        self.progress.start("arm", "Azure role assignments", total=len(subscriptions))
        assignments: list[dict[str, Any]] = []
        custom: dict[str, dict[str, Any]] = {}
        lock = threading.Lock()
        collected = 0

        def client(sub: str) -> Any:
            return AuthorizationManagementClient(
                credential,
                sub,
                base_url=self.arm_url,
                authentication_policy=self._arm_auth_policy(credential),
                retry_total=4,
            )

        def one(sub: str) -> None:
            nonlocal collected
            c = client(sub)
            try:
                items = [ra.serialize(keep_readonly=True) for ra in c.role_assignments.list_for_subscription()]
                self._count("arm GET roleAssignments (per subscription)")
                roles = [
                    rd.serialize(keep_readonly=True)
                    for rd in c.role_definitions.list(scope=f"/subscriptions/{sub}", filter="type eq 'CustomRole'")
                ]
                self._count("arm GET roleDefinitions (per subscription)")
            except AzureError as exc:
                code = getattr(exc, "status_code", None)
                status = _status(code) if code else "error"
                self.gaps.add(
                    f"role_assignments:subscription:{sub}",
                    status,
                    f"role assignments of subscription {sub} could not be read ({code or type(exc).__name__}: "
                    f"{str(exc.message or exc).splitlines()[0][:200]}); the scanner needs the Reader role on it",
                    PERMISSION_RULES,
                )
                return
            finally:
                c.close()
                self.progress.advance("arm")
            with lock:
                assignments.extend(items)
                for role in roles:
                    custom[role_guid(str(role.get("id") or role.get("name")))] = role
                collected += 1

        with ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="nhiaudit-sub") as pool:
            list(pool.map(one, subscriptions))
        self.progress.finish(
            "arm", f"Azure role assignments: {len(assignments):,} in {_count_of(collected, 'subscription')}"
        )
        if not collected and subscriptions:
            return None, []
        catalog = load_azure_catalog()
        unknown = sorted(
            {
                str((a.get("properties") or {}).get("roleDefinitionId"))
                for a in assignments
                if role_guid(str((a.get("properties") or {}).get("roleDefinitionId"))) not in custom
                and catalog.builtin_role(str((a.get("properties") or {}).get("roleDefinitionId"))) is None
            }
        )
        if unknown:
            c = client(subscriptions[0])
            try:
                for role_id in unknown:
                    try:
                        role = c.role_definitions.get_by_id(role_id).serialize(keep_readonly=True)
                        self._count("arm GET roleDefinition (by id)")
                        custom[role_guid(role_id)] = role
                    except HttpResponseError as exc:
                        self.warnings.append(f"role definition {role_id} could not be read ({exc.status_code})")
            finally:
                c.close()
        return assignments, list(custom.values())

    def _list_subscriptions(self, credential: Any, tenant: str) -> list[str] | None:
        """Every subscription the credential can see in the tenant: one raw ARM GET (paged)."""
        from azure.core import PipelineClient
        from azure.core.exceptions import AzureError
        from azure.core.pipeline.policies import HeadersPolicy, RetryPolicy, UserAgentPolicy
        from azure.core.rest import HttpRequest

        pipeline = PipelineClient(
            base_url=self.arm_url,
            policies=[
                HeadersPolicy({"Accept": "application/json"}),
                UserAgentPolicy("nhiaudit"),
                RetryPolicy(retry_total=4),
                self._arm_auth_policy(credential),
            ],
        )
        url: str | None = f"{self.arm_url}/subscriptions?api-version={ARM_SUBSCRIPTIONS_API}"
        found: list[str] = []
        try:
            while url:
                response = pipeline.send_request(HttpRequest("GET", url))
                self._count("arm GET subscriptions")
                response.raise_for_status()
                body = response.json()
                for sub in body.get("value", []):
                    if str(sub.get("tenantId", tenant)).lower() == tenant and sub.get("state") != "Disabled":
                        found.append(str(sub["subscriptionId"]).lower())
                url = body.get("nextLink")
        except AzureError as exc:
            code = getattr(exc, "status_code", None)
            self.gaps.add(
                "subscriptions",
                _status(code) if code else "error",
                f"the subscriptions could not be listed ({code or type(exc).__name__}: "
                f"{str(exc.message or exc).splitlines()[0][:200]}); pass --subscription to name them",
                PERMISSION_RULES,
            )
            return None
        finally:
            pipeline.close()
        if not found:
            self.gaps.add(
                "subscriptions",
                "unavailable",
                "no enabled subscription of this tenant is visible to the scanner: Azure RBAC was not collected",
                PERMISSION_RULES,
            )
            return None
        return found


class _Graph:
    """The Graph half of the collection (one asyncio loop).

    Requests are built by the SDK's request builders (URL templates, OData query options) and
    sent through its request adapter (authentication, retries, redirects, telemetry), and the
    JSON is read as such: msgraph-sdk's typed models cost about 15 ms per directory object to
    deserialize (each ``Entity`` re-imports hundreds of model classes), which would make a
    20,000-object tenant take minutes of CPU for no gain here.
    """

    def __init__(self, owner: AzureLiveCollector, credential: Any) -> None:
        from kiota_authentication_azure.azure_identity_authentication_provider import (
            AzureIdentityAuthenticationProvider,
        )
        from msgraph import GraphRequestAdapter, GraphServiceClient
        from msgraph.graph_request_adapter import options as graph_options
        from msgraph_core import GraphClientFactory

        self.owner = owner
        host = urlparse(owner.graph_url).hostname or ""
        scope_base = owner.cloud.graph if host in LOOPBACK else owner.graph_url
        auth = AzureIdentityAuthenticationProvider(credential, scopes=[f"{scope_base}/.default"], allowed_hosts=[host])
        http = GraphClientFactory.create_with_default_middleware(options=dict(graph_options))
        self.adapter = GraphRequestAdapter(auth, client=http)
        self.adapter.base_url = f"{owner.graph_url}/v1.0"
        self.client = GraphServiceClient(request_adapter=self.adapter)
        self.http = http
        self.semaphore = asyncio.Semaphore(owner.max_workers)

    async def close(self) -> None:
        await self.http.aclose()

    # requests -----------------------------------------------------------------------------

    @staticmethod
    def request(builder: Any, **query: Any) -> Any:
        """The SDK's GET request for ``builder``, with OData options (select=, expand=, top=...)."""
        config = None
        if query:
            from kiota_abstractions.base_request_configuration import RequestConfiguration

            params = next(v for k, v in vars(type(builder)).items() if k.endswith("GetQueryParameters"))
            config = RequestConfiguration(query_parameters=params(**query))
        return builder.to_get_request_information(config)

    @staticmethod
    def follow(url: str) -> Any:
        """A GET of an absolute URL (an @odata.nextLink, or a beta report)."""
        from kiota_abstractions.method import Method
        from kiota_abstractions.request_information import RequestInformation

        info = RequestInformation()
        info.http_method = Method.GET
        info.url = url
        info.headers.try_add("Accept", "application/json")
        return info

    async def send(self, call: str, info: Any) -> dict[str, Any]:
        from msgraph.generated.models.o_data_errors.o_data_error import ODataError

        raw = await self.adapter.send_primitive_async(info, "bytes", {"XXX": ODataError})
        self.owner._count(call)
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            raise CollectionError(f"Microsoft Graph {call}: the response is not JSON") from None
        if not isinstance(body, dict):
            raise CollectionError(f"Microsoft Graph {call}: the response is not a JSON object")
        return body

    async def pages(self, call: str, first: Any) -> list[dict[str, Any]]:
        """Every object of a paged collection, following @odata.nextLink."""
        items: list[dict[str, Any]] = []
        info = first
        while True:
            body = await self.send(call, info)
            items.extend(v for v in body.get("value") or [] if isinstance(v, dict))
            link = body.get("@odata.nextLink")
            if not link:
                return items
            info = self.follow(link)

    async def optional(self, source: str, affects: list[str], what: str, coro: Awaitable[Any]) -> Any:
        """Run a Graph call whose failure is a coverage gap, not the end of the scan."""
        try:
            return await coro
        except Exception as exc:
            if _is_auth_failure(exc) or not hasattr(exc, "response_status_code"):
                raise
            code, message = _graph_error(exc)
            self.owner.gaps.add(source, _status(code), f"{what} could not be read ({code}: {message})", affects)
            return None

    async def bounded(self, coro: Awaitable[Any]) -> Any:
        async with self.semaphore:
            return await coro

    # collection ---------------------------------------------------------------------------

    async def tenant_id(self) -> str:
        try:
            body = await self.send("graph GET /organization", self.request(self.client.organization, select=["id"]))
        except Exception as exc:
            if not hasattr(exc, "response_status_code"):
                raise
            code, message = _graph_error(exc)
            raise CollectionError(
                f"cannot tell the tenant: GET /organization failed ({code}: {message}); pass --tenant TENANT_ID"
            ) from None
        orgs = [o for o in body.get("value") or [] if isinstance(o, dict) and is_guid(o.get("id"))]
        if len(orgs) != 1:
            raise CollectionError("cannot tell the tenant from GET /organization; pass --tenant TENANT_ID")
        return str(orgs[0]["id"]).lower()

    async def collect(self, data: AzureData) -> None:
        progress = self.owner.progress
        progress.start("graph", "Entra applications and service principals")
        data.service_principals = await self.service_principals()
        data.applications = await self.applications()
        progress.finish(
            "graph",
            f"Entra: {_count_of(len(data.applications), 'application')}, "
            f"{_count_of(len(data.service_principals), 'service principal')}",
        )
        await asyncio.gather(self.per_object(data), self.tenant_wide(data), self.sign_in(data))

    async def listing(self, kind: str, builder: Any, select: list[str] | None) -> list[dict[str, Any]]:
        """Applications or service principals with owners expanded (falls back to no expansion)."""
        expand = [f"owners($select={OWNER_FIELDS})"]
        try:
            return await self.pages(f"graph GET /{kind}", self.request(builder, select=select, expand=expand, top=100))
        except Exception as exc:
            code, message = _graph_error(exc)
            if code != 400:
                raise
            self.owner.gaps.add(
                "owners",
                "unavailable",
                f"owners could not be expanded on /{kind} ({message}); ownership is unknown",
                ["orphaned-identity"],
            )
            return await self.pages(f"graph GET /{kind}", self.request(builder, select=select, top=999))

    async def service_principals(self) -> list[dict[str, Any]]:
        try:
            items = await self.listing("servicePrincipals", self.client.service_principals, None)
        except Exception as exc:
            if _is_auth_failure(exc) or not hasattr(exc, "response_status_code"):
                raise
            code, message = _graph_error(exc)
            hint = " (the scanner needs the Application.Read.All permission, see docs/azure.md)" if code == 403 else ""
            raise CollectionError(f"Microsoft Graph GET /servicePrincipals failed ({code}: {message}){hint}") from None
        await self.full_owners("servicePrincipals", items)
        return items

    async def applications(self) -> list[dict[str, Any]]:
        select = [
            "id",
            "appId",
            "displayName",
            "createdDateTime",
            "signInAudience",
            "publisherDomain",
            "description",
            "notes",
            "tags",
            "passwordCredentials",
            "keyCredentials",
            "verifiedPublisher",
        ]
        items = await self.optional(
            "applications",
            ["credential-not-rotated", "credential-long-lived", "client-secret-authentication", *USAGE_RULES],
            "app registrations (GET /applications)",
            self.listing("applications", self.client.applications, select),
        )
        if items is None:
            return []
        await self.full_owners("applications", items)
        return items

    async def full_owners(self, kind: str, items: list[dict[str, Any]]) -> None:
        """Objects whose expanded owners hit Graph's limit get their full owner list."""
        crowded = [i for i in items if len(i.get("owners") or []) >= EXPAND_LIMIT]

        async def one(item: dict[str, Any]) -> None:
            if kind == "applications":
                builder = self.client.applications.by_application_id(item["id"]).owners
            else:
                builder = self.client.service_principals.by_service_principal_id(item["id"]).owners
            call = f"graph GET /{kind}/{{id}}/owners"
            owners = await self.optional(
                "owners",
                ["orphaned-identity"],
                f"owners of {item.get('displayName')}",
                self.bounded(self.pages(call, self.request(builder, select=OWNER_FIELDS.split(","), top=999))),
            )
            if owners is not None:
                item["owners"] = owners
            else:
                item.pop("owners", None)

        await asyncio.gather(*(one(i) for i in crowded))

    async def per_object(self, data: AzureData) -> None:
        """Federated credentials per application, and app role assignments per resource API.

        App role assignments are read from the resource side (``appRoleAssignedTo`` of every service
        principal that offers application permissions: Microsoft Graph, Exchange, SharePoint, the
        tenant's own APIs), which takes a few requests instead of one per service principal; every
        assignment of an application permission has such a resource.
        """
        progress = self.owner.progress
        resources = [
            sp
            for sp in data.service_principals
            if any("Application" in (r.get("allowedMemberTypes") or []) for r in sp.get("appRoles") or [])
        ]
        total = len(data.applications) + len(resources)
        progress.start("objects", "Federated credentials and app permissions", total=total)
        errors: dict[str, tuple[int | None, str]] = {}
        failed: list[str] = []
        assignments: list[dict[str, Any]] = []

        async def fics(app: dict[str, Any]) -> None:
            builder = self.client.applications.by_application_id(app["id"]).federated_identity_credentials
            try:
                data.federated_credentials[app["id"].lower()] = await self.bounded(
                    self.pages("graph GET /applications/{id}/federatedIdentityCredentials", self.request(builder))
                )
            except Exception as exc:
                if not hasattr(exc, "response_status_code"):
                    raise
                errors["federated_credentials"] = _graph_error(exc)
            finally:
                progress.advance("objects")

        async def assigned_to(resource: dict[str, Any]) -> None:
            builder = self.client.service_principals.by_service_principal_id(resource["id"]).app_role_assigned_to
            try:
                rows = await self.bounded(
                    self.pages("graph GET /servicePrincipals/{id}/appRoleAssignedTo", self.request(builder, top=999))
                )
                assignments.extend(r for r in rows if r.get("principalType") in (None, "ServicePrincipal"))
            except Exception as exc:
                if not hasattr(exc, "response_status_code"):
                    raise
                failed.append(resource.get("displayName") or resource["id"])
                errors["app_role_assignments"] = _graph_error(exc)
            finally:
                progress.advance("objects")

        await asyncio.gather(*(fics(a) for a in data.applications), *(assigned_to(r) for r in resources))
        progress.finish(
            "objects",
            f"Federated credentials of {_count_of(len(data.applications), 'application')}, "
            f"app permissions on {_count_of(len(resources), 'API')}",
        )
        data.app_role_assignments = assignments
        if "federated_credentials" in errors:
            code, message = errors["federated_credentials"]
            self.owner.gaps.add(
                "federated_credentials",
                _status(code),
                f"federated identity credentials of some applications could not be read ({code}: {message})",
                ["client-secret-authentication"],
            )
        if failed:
            code, message = errors["app_role_assignments"]
            self.owner.gaps.add(
                "app_role_assignments",
                _status(code),
                f"the application permissions granted on {len(failed)} API(s) could not be read ({code}: "
                f"{message}): {', '.join(failed[:5])}",
                PERMISSION_RULES,
            )
            if len(failed) == len(resources):
                data.app_role_assignments = None

    async def tenant_wide(self, data: AzureData) -> None:
        data.oauth2_grants = await self.optional(
            "oauth2_permission_grants",
            ["third-party-privileged-app"],
            "delegated permission grants (GET /oauth2PermissionGrants)",
            self.pages("graph GET /oauth2PermissionGrants", self.request(self.client.oauth2_permission_grants)),
        )
        directory = self.client.role_management.directory
        data.directory_role_assignments = await self.optional(
            "directory_role_assignments",
            PERMISSION_RULES,
            "Entra role assignments (GET /roleManagement/directory/roleAssignments; "
            "needs RoleManagement.Read.Directory)",
            self.pages(
                "graph GET /roleManagement/directory/roleAssignments",
                self.request(directory.role_assignments, expand=["principal($select=id)"]),
            ),
        )
        if data.directory_role_assignments is not None:
            definitions = await self.optional(
                "directory_role_definitions",
                [],
                "Entra role definitions (GET /roleManagement/directory/roleDefinitions)",
                self.pages(
                    "graph GET /roleManagement/directory/roleDefinitions", self.request(directory.role_definitions)
                ),
            )
            data.directory_role_definitions = definitions or []

    async def sign_in(self, data: AzureData) -> None:
        progress = self.owner.progress
        progress.start("signin", "Sign-in activity reports")
        why = "needs AuditLog.Read.All and an Entra ID P1/P2 licence; beta, global cloud only"
        beta = f"{self.owner.graph_url}/beta/reports"
        data.sp_sign_in = await self.optional(
            "sp_signin_activity",
            USAGE_RULES,
            f"service principal sign-in activity (beta /reports/servicePrincipalSignInActivities; {why})",
            self.pages(
                "graph GET /beta/reports/servicePrincipalSignInActivities",
                self.follow(f"{beta}/servicePrincipalSignInActivities"),
            ),
        )
        data.app_credential_sign_in = await self.optional(
            "app_credential_signin_activity",
            ["credential-never-used", "credential-unused"],
            f"app credential sign-in activity (beta /reports/appCredentialSignInActivities; {why})",
            self.pages(
                "graph GET /beta/reports/appCredentialSignInActivities",
                self.follow(f"{beta}/appCredentialSignInActivities"),
            ),
        )
        seen = [
            f"{len(rows):,} {what}"
            for rows, what in ((data.sp_sign_in, "service principals"), (data.app_credential_sign_in, "credentials"))
            if rows is not None
        ]
        progress.finish("signin", "Sign-in activity: " + (", ".join(seen) if seen else "not available"))

    async def group_members(self, data: AzureData) -> None:
        """Members of the groups that hold Azure or Entra roles (service principals only)."""
        groups: set[str] = set()
        for raw in data.role_assignments or []:
            props = raw.get("properties") or raw
            if props.get("principalType") == "Group" and props.get("principalId"):
                groups.add(str(props["principalId"]).lower())
        sp_ids = {str(s["id"]).lower() for s in data.service_principals}
        for ra in data.directory_role_assignments or []:
            principal = str(ra.get("principalId") or "").lower()
            odata = str((ra.get("principal") or {}).get("@odata.type", ""))
            if principal and principal not in sp_ids and odata in ("", "#microsoft.graph.group"):
                groups.add(principal)  # a role-assignable group (or, unexpanded, possibly a user: 404, ignored)
        if not groups:
            return
        progress = self.owner.progress
        progress.start("groups", "Members of groups holding roles", total=len(groups))
        failed: list[tuple[str, int | None, str]] = []

        async def one(group_id: str) -> None:
            builder = self.client.groups.by_group_id(group_id)
            try:
                members = await self.bounded(
                    self.pages(
                        "graph GET /groups/{id}/transitiveMembers/microsoft.graph.servicePrincipal",
                        self.request(builder.transitive_members.graph_service_principal),
                    )
                )
                data.group_members[group_id] = members
                group = await self.bounded(
                    self.send("graph GET /groups/{id}", self.request(builder, select=["id", "displayName"]))
                )
                if group.get("displayName"):
                    data.group_names[group_id] = str(group["displayName"])
            except Exception as exc:
                if not hasattr(exc, "response_status_code"):
                    raise
                code, message = _graph_error(exc)
                if code != 404:  # 404: the principal is a user, not a group
                    failed.append((group_id, code, message))
            finally:
                progress.advance("groups")

        await asyncio.gather(*(one(g) for g in sorted(groups)))
        progress.finish("groups", f"Members of {_count_of(len(groups), 'group')} holding roles")
        if failed:
            group_id, code, message = failed[0]
            self.owner.gaps.add(
                "group_members",
                _status(code),
                f"members of {len(failed)} group(s) holding roles could not be read ({code}: {message}), e.g. "
                f"{group_id}; service principals holding roles through them are not seen (needs GroupMember.Read.All)",
                PERMISSION_RULES,
            )
