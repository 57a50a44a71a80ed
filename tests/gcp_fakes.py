"""Local fakes of the Google Cloud APIs the GCP collector calls, serving fixtures/gcp/live.

* IAM Admin (``google.iam.admin.v1.IAM``) is gRPC-only: an in-process insecure gRPC server on
  127.0.0.1, so the real GAPIC client, pager and proto (de)serialization run.
* Resource Manager v3, Recommender v1, Policy Analyzer v1, IAM v1 REST (workload identity) and
  the IAM Credentials ``generateAccessToken`` call: one pytest-httpserver on 127.0.0.1.

Every call is recorded (``calls``) for the read-only allowlist test; pages are capped at two
items so that paging is exercised; faults (status codes served before the normal answer) can be
planted per operation and resource.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections import defaultdict
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
from google.cloud.iam_admin_v1 import types as iam_types
from google.iam.v1 import iam_policy_pb2, policy_pb2
from google.protobuf import json_format
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

logging.getLogger("werkzeug").setLevel(logging.ERROR)

PAGE = 2
USER_TOKEN = "fake-user-token"
IMPERSONATED_TOKEN = "fake-impersonated-token"

REST_ERRORS = {
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


def rest_error(status: int, message: str, reason: str | None = None) -> Response:
    error: dict[str, Any] = {"code": status, "message": message, "status": REST_ERRORS.get(status, "UNKNOWN")}
    if reason:
        error["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": reason,
                "domain": "googleapis.com",
                "metadata": {"service": "policyanalyzer.googleapis.com"},
            }
        ]
    return Response(json.dumps({"error": error}), status=status, content_type="application/json")


class FakeGcp:
    def __init__(self, fixtures: Path) -> None:
        self.fixtures = fixtures
        self._lock = threading.Lock()
        self.grpc_server: grpc.Server | None = None
        self.http: HTTPServer | None = None
        self.reset()

    def reset(self) -> None:
        """Fresh fixture data, no faults, no recorded calls (the servers keep running between tests)."""
        fixtures = self.fixtures

        def load(*parts: str) -> Any:
            return json.loads(fixtures.joinpath(*parts).read_text())

        self.organizations = {o["name"]: o for o in load("resourcemanager", "organizations.json")}
        self.folders = {f["name"]: f for f in load("resourcemanager", "folders.json")}
        self.projects = load("resourcemanager", "projects.json")
        self.policies: dict[str, dict] = load("resourcemanager", "iam-policies.json")
        self.accounts: dict[str, list[dict]] = load("iam", "service-accounts.json")
        self.keys: dict[str, list[dict]] = load("iam", "keys.json")
        self.sa_policies: dict[str, dict] = load("iam", "sa-iam-policies.json")
        self.roles: dict[str, Any] = load("iam", "roles.json")
        self.pools: dict[str, list[dict]] = load("iam", "workload-identity-pools.json")
        self.providers: dict[str, list[dict]] = load("iam", "workload-identity-pool-providers.json")
        self.recommendations: dict[str, list[dict]] = load("recommender", "recommendations.json")
        self.insights: dict[str, dict[str, list[dict]]] = load("recommender", "insights.json")
        self.activities: dict[str, dict[str, list[dict]]] = load("policyanalyzer", "activities.json")
        self.calls: list[tuple[str, str]] = []
        self.policy_versions: list[int] = []
        self.faults: dict[tuple[str, str], list[Any]] = defaultdict(list)
        self.expected_token = USER_TOKEN
        self.unauthorized: list[str] = []

    # --- fault injection ---------------------------------------------------------------------------

    def fail(self, op: str, resource: str, *statuses: Any) -> None:
        """Serve these statuses (gRPC StatusCode or (HTTP code, reason)) before the normal answers."""
        self.faults[(op, resource)].extend(statuses)

    def _fault(self, op: str, resource: str) -> Any:
        with self._lock:
            pending = self.faults.get((op, resource))
            if pending:
                return pending.pop(0)
        return None

    def _record(self, kind: str, what: str) -> None:
        with self._lock:
            self.calls.append((kind, what))

    # --- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        server = grpc.server(futures.ThreadPoolExecutor(8))

        def handler(fn: Any, request_type: Any, response_type: Any, *, raw: bool = False) -> Any:
            if raw:
                return grpc.unary_unary_rpc_method_handler(
                    fn,
                    request_deserializer=request_type.FromString,
                    response_serializer=response_type.SerializeToString,
                )
            return grpc.unary_unary_rpc_method_handler(
                fn, request_deserializer=request_type.deserialize, response_serializer=response_type.serialize
            )

        methods = {
            "ListServiceAccounts": handler(
                self._list_accounts, iam_types.ListServiceAccountsRequest, iam_types.ListServiceAccountsResponse
            ),
            "ListServiceAccountKeys": handler(
                self._list_keys, iam_types.ListServiceAccountKeysRequest, iam_types.ListServiceAccountKeysResponse
            ),
            "GetIamPolicy": handler(
                self._get_sa_policy, iam_policy_pb2.GetIamPolicyRequest, policy_pb2.Policy, raw=True
            ),
            "ListRoles": handler(self._list_roles, iam_types.ListRolesRequest, iam_types.ListRolesResponse),
            "GetRole": handler(self._get_role, iam_types.GetRoleRequest, iam_types.Role),
        }
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("google.iam.admin.v1.IAM", methods),))
        self.grpc_port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        self.grpc_server = server
        self.http = HTTPServer(host="127.0.0.1", port=0)
        self.http.expect_request(re.compile(".*")).respond_with_handler(self._rest)
        self.http.start()

    def stop(self) -> None:
        if self.grpc_server is not None:
            self.grpc_server.stop(0)
        if self.http is not None:
            self.http.clear()
            if self.http.is_running():
                self.http.stop()

    @property
    def base_url(self) -> str:
        assert self.http is not None
        return f"http://127.0.0.1:{self.http.port}"

    def endpoint_options(self) -> list[str]:
        base = self.base_url
        return [
            f"iam=http://127.0.0.1:{self.grpc_port}",
            f"iam-rest={base}",
            f"resourcemanager={base}",
            f"recommender={base}",
            f"policyanalyzer={base}",
            f"iamcredentials={base}",
        ]

    # --- gRPC: IAM Admin --------------------------------------------------------------------------

    def _grpc_fault(self, op: str, resource: str, context: grpc.ServicerContext) -> None:
        self._record("grpc", f"{op} {resource}")
        fault = self._fault(op, resource)
        if fault is not None:
            context.abort(fault, f"fake {fault.name.lower()} for {resource}")

    @staticmethod
    def _page(items: list[Any], token: str, size: int) -> tuple[list[Any], str]:
        start = int(token or 0)
        size = min(size or PAGE, PAGE)
        end = start + size
        return items[start:end], (str(end) if end < len(items) else "")

    def _list_accounts(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._grpc_fault("ListServiceAccounts", request.name, context)
        project = request.name.split("/", 1)[1]
        if project not in self.accounts:
            context.abort(grpc.StatusCode.NOT_FOUND, f"project {project} not found")
        page, token = self._page(self.accounts[project], request.page_token, request.page_size)
        return iam_types.ListServiceAccountsResponse(
            accounts=[iam_types.ServiceAccount.from_json(json.dumps(a), ignore_unknown_fields=True) for a in page],
            next_page_token=token,
        )

    def _list_keys(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._grpc_fault("ListServiceAccountKeys", request.name, context)
        email = request.name.rsplit("/", 1)[1]
        keys = self.keys.get(email)
        if keys is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"service account {email} not found")
        wanted = {iam_types.ListServiceAccountKeysRequest.KeyType(t).name for t in request.key_types}
        selected = [k for k in keys if not wanted or k["keyType"] in wanted]
        return iam_types.ListServiceAccountKeysResponse(
            keys=[iam_types.ServiceAccountKey.from_json(json.dumps(k), ignore_unknown_fields=True) for k in selected]
        )

    def _get_sa_policy(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._grpc_fault("GetIamPolicy", request.resource, context)
        self.policy_versions.append(request.options.requested_policy_version)
        email = request.resource.rsplit("/", 1)[1]
        if email not in self.sa_policies:
            context.abort(grpc.StatusCode.NOT_FOUND, f"service account {email} not found")
        return json_format.ParseDict(self.sa_policies[email], policy_pb2.Policy())

    def _list_roles(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._grpc_fault("ListRoles", request.parent, context)
        roles = [dict(r) for r in self.roles.get(request.parent, [])]
        if request.view != iam_types.RoleView.FULL:
            for role in roles:
                role.pop("includedPermissions", None)  # the real API returns permissions only in the FULL view
        page, token = self._page(roles, request.page_token, request.page_size)
        return iam_types.ListRolesResponse(
            roles=[iam_types.Role.from_json(json.dumps(r), ignore_unknown_fields=True) for r in page],
            next_page_token=token,
        )

    def _get_role(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._grpc_fault("GetRole", request.name, context)
        role = self.roles.get(request.name)
        if not isinstance(role, dict):
            context.abort(grpc.StatusCode.NOT_FOUND, f"role {request.name} not found")
        return iam_types.Role.from_json(json.dumps(role), ignore_unknown_fields=True)

    # --- REST ---------------------------------------------------------------------------------------

    def _rest(self, request: Request) -> Response:
        path = request.path
        self._record(request.method, path)
        if request.method == "POST" and path.endswith(":generateAccessToken"):
            if request.headers.get("Authorization") != f"Bearer {USER_TOKEN}":
                return rest_error(401, "the source credentials were not presented")
            return Response(
                json.dumps({"accessToken": IMPERSONATED_TOKEN, "expireTime": "2099-01-01T00:00:00Z"}),
                content_type="application/json",
            )
        expected = f"Bearer {self.expected_token}" if self.expected_token else None
        if request.headers.get("Authorization") != expected:
            self.unauthorized.append(path)
            return rest_error(401, "Request had invalid authentication credentials.")
        fault = self._fault(request.method, path)
        if fault is not None:
            status, reason = fault
            return rest_error(status, f"fake error {status} for {path}", reason)
        for pattern, method, fn in self._routes():
            match = re.fullmatch(pattern, path)
            if match and request.method == method:
                body = fn(request, *match.groups())
                if isinstance(body, Response):
                    return body
                return Response(json.dumps(body), content_type="application/json")
        return rest_error(404, f"no fake for {request.method} {path}")

    def _routes(self) -> list[tuple[str, str, Any]]:
        return [
            (r"/v3/projects/([^/:]+):getIamPolicy", "POST", self._rm_policy("projects")),
            (r"/v3/folders/([^/:]+):getIamPolicy", "POST", self._rm_policy("folders")),
            (r"/v3/organizations/([^/:]+):getIamPolicy", "POST", self._rm_policy("organizations")),
            (r"/v3/projects/([^/:]+)", "GET", self._get_project),
            (r"/v3/projects", "GET", self._list_projects),
            (r"/v3/folders/([^/:]+)", "GET", lambda r, f: self.folders.get(f"folders/{f}") or rest_error(404, "no")),
            (r"/v3/folders", "GET", self._list_folders),
            (
                r"/v3/organizations/([^/:]+)",
                "GET",
                lambda r, o: self.organizations.get(f"organizations/{o}") or rest_error(404, "no"),
            ),
            (
                r"/v1/projects/([^/]+)/locations/global/recommenders/google\.iam\.policy\.Recommender/recommendations",
                "GET",
                lambda r, p: self._paged(r, "recommendations", self.recommendations.get(p, [])),
            ),
            (
                r"/v1/projects/([^/]+)/locations/global/insightTypes/([^/]+)/insights",
                "GET",
                lambda r, p, t: self._paged(r, "insights", self.insights.get(p, {}).get(t, [])),
            ),
            (
                r"/v1/projects/([^/]+)/locations/global/activityTypes/([^/]+)/activities:query",
                "GET",
                lambda r, p, t: self._paged(r, "activities", self.activities.get(p, {}).get(t, [])),
            ),
            (
                r"/v1/projects/([^/]+)/locations/global/workloadIdentityPools",
                "GET",
                lambda r, p: self._paged(r, "workloadIdentityPools", self.pools.get(p, [])),
            ),
            (
                r"/v1/(projects/[^/]+/locations/global/workloadIdentityPools/[^/]+)/providers",
                "GET",
                lambda r, pool: self._paged(r, "workloadIdentityPoolProviders", self.providers.get(pool, [])),
            ),
        ]

    @staticmethod
    def _paged(request: Request, key: str, items: list[dict]) -> dict:
        start = int(request.args.get("pageToken") or 0)
        end = start + PAGE
        out: dict[str, Any] = {key: items[start:end]}
        if end < len(items):
            out["nextPageToken"] = str(end)
        return out

    def _find_project(self, ref: str) -> dict | None:
        return next((p for p in self.projects if ref in (p["projectId"], p["name"].split("/")[1])), None)

    def _get_project(self, request: Request, ref: str) -> Any:
        return self._find_project(ref) or rest_error(403, f"permission denied on project {ref} (or it does not exist)")

    def _list_projects(self, request: Request) -> Any:
        parent = request.args.get("parent", "")
        return self._paged(request, "projects", [p for p in self.projects if p["parent"] == parent])

    def _list_folders(self, request: Request) -> Any:
        parent = request.args.get("parent", "")
        return self._paged(request, "folders", [f for f in self.folders.values() if f["parent"] == parent])

    def _rm_policy(self, kind: str) -> Any:
        def serve(request: Request, ref: str) -> Any:
            body = json.loads(request.get_data() or b"{}")
            self.policy_versions.append(int(body.get("options", {}).get("requestedPolicyVersion", 0)))
            if kind == "projects":
                project = self._find_project(ref)
                ref = project["projectId"] if project else ref
            policy = self.policies.get(f"{kind}/{ref}")
            return policy if policy is not None else rest_error(404, f"{kind}/{ref} not found")

        return serve


def write_adc(path: Path) -> Path:
    """Application Default Credentials as 'gcloud auth application-default login' writes them, with a
    cached access token so that nothing needs the real token endpoint."""
    path.write_text(
        json.dumps(
            {
                "type": "authorized_user",
                "client_id": "fake-client-id.apps.googleusercontent.com",
                "client_secret": "fake-client-secret",
                "refresh_token": "fake-refresh-token",
                "token": USER_TOKEN,
                "expiry": "2099-01-01T00:00:00Z",
            }
        )
    )
    return path
