"""The built-in demo environment: realistic provider exports shipped as package data.

The demo runs the same importers as real exports (nothing is pre-digested), and is analyzed
as of its snapshot time so that its output is the same every day. ``manifest.json`` lists the
sources; ``LOADERS`` maps a source type to the function that imports it.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from contextlib import ExitStack
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from nhiaudit.model import Inventory

LOADERS: dict[str, str] = {
    "aws-export": "nhiaudit.demo:_load_aws_export",
    "azure-export": "nhiaudit.demo:_load_azure_export",
    "gcp-export": "nhiaudit.demo:_load_gcp_export",
}
"""source type -> 'module:function(source, root, snapshot) -> Inventory'."""


def _load_aws_export(source: dict[str, Any], root: Path, snapshot: datetime) -> Inventory:
    from nhiaudit.collectors.aws_export import AwsExportCollector

    report = source.get("credential_report")
    accounts = source.get("organization_accounts")
    return AwsExportCollector(
        [root / p for p in source["authorization_details"]],
        root / report if report else None,
        snapshot_time=snapshot,
        method="demo",
        access_advisor=[root / p for p in source.get("access_advisor", [])],
        access_analyzer=[root / p for p in source.get("access_analyzer", [])],
        organization_accounts=root / accounts if accounts else None,
    ).collect()


def _load_azure_export(source: dict[str, Any], root: Path, snapshot: datetime) -> Inventory:
    from nhiaudit.collectors.azure_export import AzureExportCollector

    return AzureExportCollector(
        root / source["directory"], tenant=source.get("tenant"), snapshot_time=snapshot, method="demo"
    ).collect()


def _load_gcp_export(source: dict[str, Any], root: Path, snapshot: datetime) -> Inventory:
    from nhiaudit.collectors.gcp_export import GcpExportCollector

    return GcpExportCollector([root / source["directory"]], snapshot_time=snapshot, method="demo").collect()


def load_demo() -> Inventory:
    with ExitStack() as stack:
        root = stack.enter_context(resources.as_file(resources.files("nhiaudit.demo")))
        manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
        snapshot = datetime.fromisoformat(manifest["snapshot_time"].replace("Z", "+00:00"))
        inventory: Inventory | None = None
        for source in manifest["sources"]:
            module, func = LOADERS[source["type"]].split(":")
            loader: Callable[..., Inventory] = getattr(importlib.import_module(module), func)
            part = loader(source, root, snapshot)
            inventory = part if inventory is None else inventory.merge(part)
    assert inventory is not None
    inventory.snapshot_time = snapshot
    return inventory
