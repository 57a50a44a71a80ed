"""A stand-in for the az CLI that answers the read-only commands of scripts/azure-export.sh from the
live-API fixtures (``FAKE_AZ_DATA``, laid out like fixtures/azure/live), so that the script and the
importer can be tested together.

``az rest`` pages collections two items at a time with ``@odata.nextLink``, as Graph does with
larger pages. Every invocation is appended to ``FAKE_AZ_LOG``. Unknown commands and missing data
fail like az does (exit 1, ERROR on stderr).
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

GRAPH = "https://graph.microsoft.com"
EMPTY = re.compile(r"/(appRoleAssignedTo|appRoleAssignments|federatedIdentityCredentials)$")
PAGE = 2


def option(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args else None


def fail(message: str) -> None:
    print(f"ERROR: {message}", file=sys.stderr)
    sys.exit(1)


def context(path: str) -> str:
    """'/v1.0/applications/<id>/federatedIdentityCredentials' -> "applications('<id>')/federatedIdentityCredentials"."""
    version, *parts = path.strip("/").split("/")
    if version not in ("v1.0", "beta"):
        fail(f"unknown Graph version {version}")
    out: list[str] = []
    for part in parts:
        if re.fullmatch(r"[0-9a-f-]{36}", part) and out:
            out[-1] += f"('{part}')"
        else:
            out.append(part)
    return f"{GRAPH}/{version}/$metadata#" + "/".join(out)


def rest(args: list[str], data: Path) -> object:
    if (option(args, "--method") or "get").lower() != "get":
        fail("only GET is expected from the export script")
    url = urlsplit(option(args, "--url") or "")
    # Graph accepts a type cast as microsoft.graph.X or graph.X; the fixtures use the SDK's graph.X
    file = data / "graph" / (url.path.lstrip("/").replace("/microsoft.graph.", "/graph.") + ".json")
    if file.is_file():
        body = json.loads(file.read_text())
    elif EMPTY.search(url.path):
        body = {"value": []}
    else:
        fail(f"Not Found({url.path})")
    if not isinstance(body.get("value"), list):
        return {"@odata.context": context(url.path) + "/$entity", **body}
    start = int((parse_qs(url.query).get("$skiptoken") or ["0"])[0])
    page = {"@odata.context": context(url.path), "value": body["value"][start : start + PAGE]}
    if start + PAGE < len(body["value"]):
        page["@odata.nextLink"] = f"{GRAPH}{url.path}?$skiptoken={start + PAGE}"
    return page


def flat(item: dict) -> dict:
    """An ARM resource as az prints it: properties lifted to the top level."""
    return {"id": item["id"], "name": item["name"], "type": item.get("type"), **item["properties"]}


def main() -> None:
    args = sys.argv[1:]
    data = Path(os.environ["FAKE_AZ_DATA"])
    with open(os.environ["FAKE_AZ_LOG"], "a") as log:
        log.write(" ".join(args) + "\n")
    words = [a for a in args if not a.startswith("-")]
    subscriptions = json.loads((data / "arm" / "subscriptions.json").read_text())["value"]
    sub = option(args, "--subscription")
    arm = data / "arm" / "subscriptions" / (sub or "") / "providers" / "Microsoft.Authorization"
    match words[:3]:
        case ["account", "show", *_]:
            first = subscriptions[0]
            out = {
                "id": first["subscriptionId"],
                "name": first["displayName"],
                "tenantId": first["tenantId"],
                "state": first["state"],
                "isDefault": True,
            }
        case ["account", "list", *_]:
            out = [
                {"id": s["subscriptionId"], "name": s["displayName"], "tenantId": s["tenantId"], "state": s["state"]}
                for s in subscriptions
            ]
        case ["rest", *_]:
            out = rest(args, data)
        case ["role", "assignment", "list"]:
            out = [flat(a) for a in json.loads((arm / "roleAssignments.json").read_text())["value"]]
        case ["role", "definition", "list"]:
            out = [
                {**flat(r), "roleType": r["properties"]["type"], "type": "Microsoft.Authorization/roleDefinitions"}
                for r in json.loads((arm / "roleDefinitions.json").read_text())["value"]
            ]
        case _:
            fail(f"unexpected command: az {' '.join(args)}")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
