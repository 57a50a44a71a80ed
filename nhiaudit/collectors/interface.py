"""The collector interface: a source of provider data that produces an Inventory.

One module per source: ``aws_export`` (offline files), ``demo`` (package data), and the live
collectors. Collectors import model and catalogs only, and their provider SDK lazily.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from nhiaudit.model import Inventory


class Collector(ABC):
    provider: str

    @abstractmethod
    def collect(self) -> Inventory:
        """Gather identities, credentials, grants, usage and trust into an Inventory.

        Raise ``nhiaudit.errors.InputError`` (bad files) or ``CollectionError`` (nothing could
        be collected). Partial failures are ``CoverageGap`` entries in the inventory.
        """
