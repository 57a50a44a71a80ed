"""A fake of Microsoft Graph and Azure Resource Manager on 127.0.0.1 for the real SDK clients.

It serves ``fixtures/azure/live``: one JSON file per collection path (``graph/v1.0/...``,
``graph/beta/...``, ``arm/...``), paged ``page_size`` items at a time with absolute
``@odata.nextLink`` (Graph) and ``nextLink`` (ARM) links, and records every request so tests
can check that a scan only reads. Faults (403, 429 with Retry-After, ...) are queued per path.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from azure.core.credentials import AccessToken
from werkzeug import Request, Response

from tests.conftest import FIXTURES

LIVE = FIXTURES / "azure" / "live"
EMPTY_COLLECTIONS = re.compile(r"/(appRoleAssignments|appRoleAssignedTo|federatedIdentityCredentials|owners)$")
GRAPH_PREFIXES = ("/v1.0/", "/beta/")


class FakeCredential:
    """A duck-typed azure-core TokenCredential: the SDKs send its token as a Bearer header."""

    def __init__(self) -> None:
        self.scopes: list[tuple[str, ...]] = []
        self.tenants: list[str | None] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes.append(scopes)
        self.tenants.append(kwargs.get("tenant_id"))
        return AccessToken("fake-token", int(time.time()) + 3600)


@dataclass
class Fault:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None


class FakeAzure:
    def __init__(self, httpserver: Any, root: Path = LIVE, page_size: int = 2, latency: float = 0.0) -> None:
        self.server = httpserver
        self.root = root
        self.page_size = page_size
        self.latency = latency
        """Seconds each answer takes (the benchmark simulates Graph's round-trip time)."""
        self.requests: list[tuple[str, str]] = []
        self.authorized: list[bool] = []
        self.faults: dict[str, list[Fault]] = {}
        self.lock = threading.Lock()
        httpserver.expect_request(re.compile(r"^/")).respond_with_handler(self.handle)

    @property
    def url(self) -> str:
        return self.server.url_for("/").rstrip("/")

    def fail(self, path: str, status: int, *, times: int = 1, headers: dict[str, str] | None = None) -> None:
        """Answer the next ``times`` requests to ``path`` with ``status``."""
        self.faults.setdefault(path, []).extend(Fault(status, headers or {}) for _ in range(times))

    # --------------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        if self.latency:
            time.sleep(self.latency)
        path = request.path
        with self.lock:
            self.requests.append((request.method, path))
            self.authorized.append(request.headers.get("Authorization", "").startswith("Bearer "))
            queued = self.faults.get(path)
            fault = queued.pop(0) if queued else None
        graph = path.startswith(GRAPH_PREFIXES)
        if fault is not None:
            return self._error(fault.status, graph, fault.headers)
        if request.method != "GET":
            return self._error(405, graph)
        file = self.root / ("graph" if graph else "arm") / (path.lstrip("/") + ".json")
        if file.is_file():
            body = json.loads(file.read_text())
        elif EMPTY_COLLECTIONS.search(path):
            body = {"value": []}
        else:
            return self._error(404, graph)
        if isinstance(body.get("value"), list):
            body = self._page(body["value"], request, graph)
        return Response(json.dumps(body), status=200, content_type="application/json")

    def _page(self, items: list[Any], request: Request, graph: bool) -> dict[str, Any]:
        args = {k.lower(): v for k, v in request.args.items()}
        start = int(args.get("$skiptoken", "0"))
        page: dict[str, Any] = {"value": items[start : start + self.page_size]}
        if graph:
            page["@odata.context"] = f"{self.url}{request.path.split('/', 2)[1] and ''}/$metadata#collection"
        if start + self.page_size < len(items):
            token = start + self.page_size
            if graph:
                page["@odata.nextLink"] = f"{self.url}{request.path}?$skiptoken={token}"
            else:
                page["nextLink"] = (
                    f"{self.url}{request.path}?api-version={args.get('api-version', '')}&$skiptoken={token}"
                )
        return page

    @staticmethod
    def _error(status: int, graph: bool, headers: dict[str, str] | None = None) -> Response:
        codes = {403: "Authorization_RequestDenied", 404: "Request_ResourceNotFound", 429: "TooManyRequests"}
        messages = {
            403: "Insufficient privileges to complete the operation.",
            404: "Resource not found.",
            429: "Too many requests.",
        }
        code = codes.get(status, "UnknownError")
        message = messages.get(status, "Something went wrong.")
        if graph:
            body = {"error": {"code": code, "message": message, "innerError": {"date": "2026-11-01T00:00:00"}}}
        else:
            body = {"error": {"code": "AuthorizationFailed" if status == 403 else code, "message": message}}
        return Response(json.dumps(body), status=status, content_type="application/json", headers=headers or {})
