"""Which environment an identity, a scope or a trusted principal belongs to.

Sources, strongest first:

1. the ``[environments]`` section of the config file: environment name -> patterns (shell-style,
   case-insensitive) matched against identity ids and names, and against account / project /
   subscription ids and names;
2. tags and labels (``environment``, ``env``, ``stage``) on the identity, then on its scope;
3. words in names: ``prod``, ``production``, ``prd`` mean production; ``dev``, ``test``,
   ``staging``, ``qa``, ``uat``, ``sandbox``, ``nonprod``, ``preprod`` ... mean non-production.
   Identity names are the weakest evidence and only used when nothing else says anything.

An environment is production when its name (from the config or a tag value) is one of
``prod``, ``production``, ``prd``, ``live`` (or starts with ``prod-`` / ``production-``).
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass

from nhiaudit.model import Identity, Inventory, Scope
from nhiaudit.settings import Settings

ENV_TAG_KEYS = ("environment", "env", "stage", "deployment-environment", "deployment_environment")
PRODUCTION_WORDS = frozenset({"prod", "production", "prd", "live"})
NON_PRODUCTION_WORDS = frozenset(
    {
        "dev",
        "development",
        "test",
        "testing",
        "tst",
        "qa",
        "uat",
        "stage",
        "staging",
        "stg",
        "sandbox",
        "sbx",
        "nonprod",
        "non-prod",
        "preprod",
        "pre-prod",
        "nprd",
        "demo",
        "int",
        "integration",
        "perf",
        "lab",
    }
)
NAME_WORDS = PRODUCTION_WORDS - {"live"} | (NON_PRODUCTION_WORDS - {"int", "lab", "demo", "perf", "tst", "stage"})
"""Words trusted in names (short or ambiguous words such as 'int' or 'live' are not)."""
_SPLIT = re.compile(r"[^a-z0-9]+")
SUBJECT_ENV_RE = re.compile(r":environment:([^:*?]+)")


@dataclass(frozen=True)
class Environment:
    name: str
    production: bool | None
    """None for an environment the config names but that is neither production nor non-production."""
    how: str
    """Evidence in words: "config [environments] production = '111122223333'", "tag env=prod", ..."""
    strength: int = 2
    """2 = config or tag, 1 = the name of an account / project / subscription, 0 = an identity's name."""

    @property
    def label(self) -> str:
        if self.production:
            return "production"
        if self.production is False:
            return f"non-production ({self.name})"
        return self.name


def classify_name(value: str) -> bool | None:
    """True production, False non-production, None unknown, for an environment name or tag value."""
    text = value.strip().lower()
    if text in PRODUCTION_WORDS or text.startswith(("prod-", "production-", "prod_")):
        return True
    if text in NON_PRODUCTION_WORDS or text.startswith(tuple(f"{w}-" for w in ("dev", "test", "staging", "qa"))):
        return False
    return None


def words_in(name: str) -> Environment | None:
    """Environment words in a resource name: 'acme-prod-data' -> production."""
    text = name.lower()
    for phrase in ("non-prod", "pre-prod", "non_prod", "pre_prod"):
        if phrase in text:
            return Environment(phrase.replace("_", "-"), False, f"name {name!r}", 1)
    found: set[bool] = set()
    word_hit = ""
    for word in _SPLIT.split(text):
        if word in NAME_WORDS:
            kind = classify_name(word)
            if kind is not None:
                found.add(kind)
                word_hit = word
    if len(found) == 1:
        production = found.pop()
        return Environment("production" if production else word_hit, production, f"name {name!r}", 1)
    return None


class EnvironmentResolver:
    """Resolves environments once per analysis (results are cached)."""

    def __init__(self, inventory: Inventory, settings: Settings) -> None:
        self.patterns: list[tuple[str, str, bool | None]] = []
        for env, patterns in settings.environments.items():
            kind = classify_name(env)
            for pattern in patterns:
                self.patterns.append((env, pattern, kind))
        self.scopes: dict[tuple[str, str], Scope] = {}
        for scope in inventory.scopes:
            self.scopes.setdefault((scope.provider, scope.id), scope)
        # labels of an identity's scope carried on the identity (GCP: attributes.project_labels)
        self.scope_tags: dict[tuple[str, str], dict[str, str]] = {}
        for identity in inventory.identities:
            labels = identity.attributes.get("scope_tags") or identity.attributes.get("project_labels")
            if isinstance(labels, dict) and labels:
                self.scope_tags.setdefault(
                    (identity.provider, identity.scope), {str(k): str(v) for k, v in labels.items()}
                )
        self._scope_cache: dict[tuple[str, str], Environment | None] = {}
        self._identity_cache: dict[str, Environment | None] = {}

    @property
    def configured(self) -> bool:
        return bool(self.patterns)

    def _config(self, *candidates: str | None) -> Environment | None:
        for env, pattern, kind in self.patterns:
            for candidate in candidates:
                if candidate and fnmatch.fnmatchcase(candidate.lower(), pattern.lower()):
                    return Environment(env, kind, f"config [environments] {env} = {pattern!r}")
        return None

    @staticmethod
    def _tags(tags: dict[str, str], where: str) -> Environment | None:
        lowered = {k.lower(): (k, v) for k, v in tags.items()}
        for wanted in ENV_TAG_KEYS:
            key, value = lowered.get(wanted, (wanted, ""))
            if value:
                kind = classify_name(value)
                if kind is not None:
                    return Environment(value.lower(), kind, f"{where} tag {key}={value}")
        return None

    def of_scope(self, provider: str, scope_id: str | None) -> Environment | None:
        if scope_id is None:
            return None
        key = (provider, scope_id)
        if key in self._scope_cache:
            return self._scope_cache[key]
        scope = self.scopes.get(key)
        name = scope.name if scope else None
        found = self._config(scope_id, name)
        if found is None and scope is not None:
            found = self._tags(scope.tags, f"{_scope_label(scope)}")
        if found is None and key in self.scope_tags:
            found = self._tags(self.scope_tags[key], f"{_scope_word(provider)} {scope_id}")
        if found is None:
            for text in (name, scope_id):
                if text:
                    found = words_in(text)
                    if found:
                        found = Environment(found.name, found.production, f"{_scope_word(provider)} {found.how}", 1)
                        break
        self._scope_cache[key] = found
        return found

    def scope_label(self, provider: str, scope_id: str) -> str:
        """'account acme-prod (111122223333)', 'project acme-dev-tools', 'subscription acme-prod (5f1b...)'."""
        scope = self.scopes.get((provider, scope_id))
        word = scope.kind.split(".")[-1].replace("_", " ") if scope else _scope_word(provider)
        if scope and scope.name and scope.name != scope_id:
            return f"{word} {scope.name} ({scope_id})"
        return f"{word} {scope_id}"

    def of_identity(self, identity: Identity) -> Environment | None:
        """The identity's own environment: config, its tags, its scope, then its name."""
        if identity.id in self._identity_cache:
            return self._identity_cache[identity.id]
        found = self._resolve_identity(identity)
        self._identity_cache[identity.id] = found
        return found

    def _resolve_identity(self, identity: Identity) -> Environment | None:
        found = self._config(identity.id, identity.name)
        if found is None:
            found = self._tags(identity.tags, "identity")
        if found is None:
            found = self.of_scope(identity.provider, identity.scope)
        if found is None:
            words = words_in(identity.name)
            if words:
                found = Environment(words.name, words.production, f"identity {words.how}", 0)
        return found

    def of_subject(self, subject: str) -> Environment | None:
        """A GitHub Actions deployment environment in an OIDC subject (``...:environment:staging``)."""
        match = SUBJECT_ENV_RE.search(subject)
        if not match:
            return None
        kind = classify_name(match.group(1))
        if kind is None:
            return None
        return Environment(match.group(1).lower(), kind, f"deployment environment in subject {subject!r}")

    def of_principal(
        self, provider: str, principal_id: str, name: str | None, scope_id: str | None
    ) -> Environment | None:
        """A principal that is not (or not only) an inventory identity: an ARN, a member, an account."""
        found = self._config(principal_id, name)
        if found is None:
            found = self.of_scope(provider, scope_id)
        if found is None and name:
            words = words_in(name)
            if words:
                found = Environment(words.name, words.production, f"principal {words.how}", 0)
        return found


def _scope_word(provider: str) -> str:
    return {"aws": "account", "gcp": "project", "azure": "subscription"}.get(provider, "scope")


def _scope_label(scope: Scope) -> str:
    return f"{scope.kind.split('.')[-1]} {scope.name or scope.id}"
