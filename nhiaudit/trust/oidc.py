"""How many workloads an OIDC subject, or a subject pattern, admits.

The subject (``sub``) claim names the workload a token was minted for. Its format depends on
the issuer:

* GitHub Actions: ``repo:ORG/REPO:ref:refs/heads/BRANCH``, ``repo:ORG/REPO:environment:NAME``,
  ``repo:ORG/REPO:pull_request``, ``repo:ORG/REPO:ref:refs/tags/TAG``; organizations can
  customize the template (``repository_owner:ORG``, ``...:job_workflow_ref:ORG/REPO/.github/
  workflows/deploy.yml@refs/heads/main``);
* GitLab: ``project_path:GROUP/PROJECT:ref_type:branch:ref:main``;
* Terraform Cloud: ``organization:ORG:project:PROJ:workspace:WS:run_phase:apply``;
* EKS / Kubernetes: ``system:serviceaccount:NAMESPACE:NAME``.

``analyze_subject`` returns a ``SubjectScope``: the breadth (from "anyone on the platform" to
"one pinned workload"), in words a finding can use. Patterns use AWS ``StringLike`` semantics
(``*`` spans any characters, separators included), so ``repo:acme*`` also admits the
organization ``acme-attacker``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import IntEnum

from nhiaudit.model import Severity
from nhiaudit.trust.aws_conditions import has_wildcard


class Breadth(IntEnum):
    """Ordered from the narrowest to the broadest."""

    PINNED = 0
    """One workload: a repository and branch / environment / workflow, one workspace, one service account."""
    REF_PATTERN = 1
    """One repository, several branches or environments matching a name pattern."""
    ANY_REF = 2
    """One repository (project), any branch, tag, environment, pull request or workflow."""
    REPOSITORY_SET = 3
    """Several repositories / workspaces / service accounts of one owner matching a pattern."""
    OWNER = 4
    """Every repository (project, workspace, namespace) of one organization or group."""
    OTHER_OWNERS = 5
    """Owners other than the intended one (``repo:acme*`` admits ``acme-evil``)."""
    ANY = 6
    """Any subject of the issuer."""


BREADTH_SEVERITY = {
    Breadth.ANY: Severity.CRITICAL,
    Breadth.OTHER_OWNERS: Severity.CRITICAL,
    Breadth.OWNER: Severity.HIGH,
    Breadth.REPOSITORY_SET: Severity.MEDIUM,
    Breadth.ANY_REF: Severity.MEDIUM,
}
"""Severity of a federation trust by how many workloads its subject admits (narrower ones are not findings)."""


BREADTH_TEXT = {
    Breadth.PINNED: "one pinned workload",
    Breadth.REF_PATTERN: "branches or environments matching a pattern in one repository",
    Breadth.ANY_REF: "any branch, tag, environment, pull request or workflow of one repository",
    Breadth.REPOSITORY_SET: "several repositories or workspaces matching a pattern",
    Breadth.OWNER: "every repository or workspace of one organization",
    Breadth.OTHER_OWNERS: "repositories of other organizations too",
    Breadth.ANY: "any workload the issuer signs tokens for",
}

GITHUB_ISSUER = "token.actions.githubusercontent.com"
MULTI_TENANT_ISSUERS = {
    GITHUB_ISSUER: "github",
    "gitlab.com": "gitlab",
    "app.terraform.io": "terraform",
    "cognito-identity.amazonaws.com": "cognito",
    "accounts.google.com": "google",
    "agent.buildkite.com": "buildkite",
}
"""Issuers that sign tokens for anyone who signs up: a missing subject condition admits strangers."""


@dataclass(frozen=True)
class Issuer:
    host: str
    """Issuer URL without scheme, e.g. ``token.actions.githubusercontent.com/acme-enterprise``."""
    platform: str
    """github | gitlab | terraform | eks | cognito | google | buildkite | kubernetes | generic"""
    multi_tenant: bool
    """Anyone can obtain tokens from it (github.com, gitlab.com, app.terraform.io, ...)."""

    @property
    def label(self) -> str:
        names = {
            "github": "GitHub Actions",
            "gitlab": "GitLab CI",
            "terraform": "Terraform Cloud",
            "eks": "EKS cluster",
            "cognito": "Cognito identity pools",
            "google": "Google accounts",
            "buildkite": "Buildkite",
            "kubernetes": "Kubernetes cluster",
        }
        return f"{names.get(self.platform, 'OIDC issuer')} ({self.host})"


def issuer_of(value: str) -> Issuer:
    """Classify an issuer from its URL, host or AWS OIDC provider ARN."""
    text = value.strip()
    if ":oidc-provider/" in text:
        text = text.split(":oidc-provider/", 1)[1]
    for scheme in ("https://", "http://"):
        if text.startswith(scheme):
            text = text[len(scheme) :]
    host = text.rstrip("/")
    base = host.split("/", 1)[0].lower()
    if base == GITHUB_ISSUER:
        # token.actions.githubusercontent.com/<enterprise> is one enterprise's own issuer
        return Issuer(host, "github", multi_tenant="/" not in host)
    if base in MULTI_TENANT_ISSUERS:
        return Issuer(host, MULTI_TENANT_ISSUERS[base], multi_tenant=True)
    if base.startswith("token.actions.") or base.startswith("githubusercontent."):
        return Issuer(host, "github", multi_tenant=False)  # GitHub Enterprise Server
    if base.startswith("oidc.eks.") and base.endswith(".amazonaws.com"):
        return Issuer(host, "eks", multi_tenant=False)
    if "gitlab" in base:
        return Issuer(host, "gitlab", multi_tenant=False)  # self-managed GitLab
    if base.endswith(".oic.prod-aks.azure.com") or "container.googleapis.com" in host:
        return Issuer(host, "kubernetes", multi_tenant=False)
    return Issuer(host, "generic", multi_tenant=False)


@dataclass(frozen=True)
class SubjectScope:
    breadth: Breadth
    explanation: str
    owner: str | None = None
    repository: str | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def text(self) -> str:
        return BREADTH_TEXT[self.breadth]


def analyze_subject(issuer: Issuer, subject: str | None, *, wildcard: bool) -> SubjectScope:
    """Breadth of one subject value (``wildcard`` = ``*`` and ``?`` are wildcards, as in StringLike)."""
    if subject is None:
        everyone = issuer.multi_tenant
        who = {
            "github": "any workflow of any repository" + (" on GitHub" if everyone else " of the enterprise"),
            "gitlab": "any pipeline of any project" + (" on gitlab.com" if everyone else " of the instance"),
            "terraform": "any run of any Terraform Cloud workspace, in any organization",
            "eks": "any Kubernetes service account of the cluster",
            "kubernetes": "any Kubernetes service account of the cluster",
        }.get(issuer.platform, "any subject the issuer signs tokens for")
        return SubjectScope(Breadth.ANY, f"no subject condition: {who} can use it")
    value = subject.strip()
    if not wildcard and has_wildcard(value):
        return SubjectScope(
            Breadth.PINNED,
            f"subject {value!r} is compared literally (StringEquals): the '*' is not a wildcard, so no real "
            "token matches it (the trust is unusable rather than broad)",
        )
    wc = wildcard and has_wildcard(value)
    if wc and set(value) <= {"*", "?"}:
        return SubjectScope(Breadth.ANY, f"subject pattern {value!r} matches every subject")
    if issuer.platform == "github":
        return _github(value, wc)
    if issuer.platform == "gitlab":
        return _gitlab(value, wc)
    if issuer.platform == "terraform":
        return _terraform(value, wc)
    if issuer.platform in ("eks", "kubernetes"):
        return _kubernetes(value, wc)
    if wc:
        return SubjectScope(Breadth.REPOSITORY_SET, f"subject pattern {value!r} admits every subject it matches")
    return SubjectScope(Breadth.PINNED, f"subject {value!r}")


def _field_any(value: str | None, wc: bool) -> bool:
    return value is None or (wc and set(value) <= {"*"})


def _pairs(tokens: list[str], singles: frozenset[str] = frozenset()) -> tuple[dict[str, str | None], bool]:
    """``key:value:key:value`` -> dict; the bool says a wildcard key made the rest unknown."""
    claims: dict[str, str | None] = {}
    n = 0
    while n < len(tokens):
        key = tokens[n]
        if has_wildcard(key):
            return claims, True
        if key in singles:
            claims[key] = key
            n += 1
            continue
        claims[key] = tokens[n + 1] if n + 1 < len(tokens) else None
        n += 2
    return claims, False


def _github(value: str, wc: bool) -> SubjectScope:
    claims, open_rest = _pairs(value.split(":"), frozenset({"pull_request"}))
    repo = claims.get("repo")
    if repo is None:
        owner = claims.get("repository_owner") or claims.get("repository_owner_id")
        if owner is not None:
            if wc and has_wildcard(owner):
                return SubjectScope(Breadth.OTHER_OWNERS, f"{value!r}: the owner itself is a pattern")
            return SubjectScope(
                Breadth.OWNER,
                f"{value!r} names only the repository owner: every repository of {owner}",
                owner=owner,
            )
        workflow = claims.get("job_workflow_ref")
        if workflow and not (wc and has_wildcard(workflow)):
            return SubjectScope(
                Breadth.REPOSITORY_SET,
                f"{value!r} pins a reusable workflow but not the repository: every repository that calls it",
            )
        if wc or open_rest or not claims:
            return SubjectScope(Breadth.ANY, f"subject pattern {value!r} does not pin a repository")
        return SubjectScope(Breadth.PINNED, f"subject {value!r} (custom claim template)")
    owner, slash, name = repo.partition("/")
    if wc and has_wildcard(owner):
        if set(owner) <= {"*"}:
            return SubjectScope(Breadth.ANY, f"{value!r}: any organization and repository")
        return SubjectScope(
            Breadth.OTHER_OWNERS,
            f"{value!r}: the organization part {owner!r} is a pattern, so organizations whose name "
            "merely starts the same way match too",
            owner=owner,
        )
    if not slash:
        return SubjectScope(Breadth.OWNER, f"{value!r} names no repository", owner=owner)
    if wc and has_wildcard(name):
        breadth = Breadth.OWNER if set(name) <= {"*"} else Breadth.REPOSITORY_SET
        what = "any repository" if breadth == Breadth.OWNER else f"every repository matching {name!r}"
        return SubjectScope(breadth, f"{value!r}: {what} of {owner}", owner=owner)
    repository = f"{owner}/{name}"
    if open_rest:
        return SubjectScope(
            Breadth.ANY_REF, f"{value!r}: any branch, environment or event of {repository}", owner, repository
        )
    if "pull_request" in claims:
        return SubjectScope(Breadth.ANY_REF, f"{value!r}: any pull request of {repository}", owner, repository)
    for key, what in (("ref", "ref"), ("environment", "environment"), ("job_workflow_ref", "workflow")):
        if key in claims:
            ref = claims[key]
            if _field_any(ref, wc) or (wc and ref in ("refs/heads/*", "refs/tags/*", "refs/*")):
                if ref == "refs/heads/*":
                    what = "branch"
                elif ref == "refs/tags/*":
                    what = "tag"
                return SubjectScope(Breadth.ANY_REF, f"{value!r}: any {what} of {repository}", owner, repository)
            if wc and ref is not None and has_wildcard(ref):
                return SubjectScope(
                    Breadth.REF_PATTERN, f"{value!r}: {what}s matching {ref!r} of {repository}", owner, repository
                )
            return SubjectScope(Breadth.PINNED, f"{value!r}: {what} {ref} of {repository}", owner, repository)
    return SubjectScope(
        Breadth.ANY_REF,
        f"{value!r} names the repository {repository} but no branch, environment or workflow "
        "(with a customized subject template this admits every workflow run of the repository)",
        owner,
        repository,
    )


def _gitlab(value: str, wc: bool) -> SubjectScope:
    claims, open_rest = _pairs(value.split(":"))
    path = claims.get("project_path")
    if path is None:
        group = claims.get("namespace_path")
        if group is not None and not (wc and has_wildcard(group)):
            return SubjectScope(Breadth.OWNER, f"{value!r}: every project of group {group}", owner=group)
        return SubjectScope(Breadth.ANY, f"subject pattern {value!r} does not pin a project")
    segments = path.split("/")
    if wc and has_wildcard(segments[0]):
        breadth = Breadth.ANY if set(segments[0]) <= {"*"} else Breadth.OTHER_OWNERS
        return SubjectScope(breadth, f"{value!r}: the top-level group is a pattern", owner=segments[0])
    group = segments[0]
    for n, seg in enumerate(segments[1:], 1):
        if wc and has_wildcard(seg):
            where = "/".join(segments[:n])
            if set(seg) <= {"*"}:
                return SubjectScope(Breadth.OWNER, f"{value!r}: every project under {where}", owner=group)
            return SubjectScope(
                Breadth.REPOSITORY_SET, f"{value!r}: every project under {where} matching {seg!r}", owner=group
            )
    if len(segments) < 2:
        return SubjectScope(Breadth.OWNER, f"{value!r} names a group, not a project", owner=group)
    project = path
    ref = claims.get("ref")
    if open_rest or _field_any(ref, wc):
        return SubjectScope(Breadth.ANY_REF, f"{value!r}: any branch or tag of {project}", group, project)
    if wc and ref is not None and has_wildcard(ref):
        return SubjectScope(Breadth.REF_PATTERN, f"{value!r}: refs matching {ref!r} of {project}", group, project)
    return SubjectScope(Breadth.PINNED, f"{value!r}: ref {ref} of {project}", group, project)


def _terraform(value: str, wc: bool) -> SubjectScope:
    claims, _ = _pairs(value.split(":"))
    org = claims.get("organization")
    if org is None or (wc and has_wildcard(org)):
        breadth = Breadth.ANY if org is None or set(org) <= {"*"} else Breadth.OTHER_OWNERS
        return SubjectScope(breadth, f"subject pattern {value!r} does not pin the Terraform organization")
    workspace = claims.get("workspace")
    if workspace is not None and not (wc and has_wildcard(workspace)):
        # workspace names are unique within an organization: the project part does not matter
        return SubjectScope(Breadth.PINNED, f"{value!r}: workspace {workspace} of {org}", org, workspace)
    project = claims.get("project")
    if project is None or (wc and has_wildcard(project)):
        return SubjectScope(Breadth.OWNER, f"{value!r}: every workspace of organization {org}", owner=org)
    return SubjectScope(Breadth.REPOSITORY_SET, f"{value!r}: every workspace of project {project} in {org}", org)


def _kubernetes(value: str, wc: bool) -> SubjectScope:
    parts = value.split(":")
    if len(parts) < 3 or parts[0] != "system" or parts[1] != "serviceaccount":
        if wc:
            return SubjectScope(Breadth.ANY, f"subject pattern {value!r} does not pin a service account")
        return SubjectScope(Breadth.PINNED, f"subject {value!r}")
    namespace = parts[2]
    name = parts[3] if len(parts) > 3 else None
    if wc and has_wildcard(namespace):
        return SubjectScope(Breadth.OWNER, f"{value!r}: service accounts of any namespace")
    if name is None or (wc and has_wildcard(name)):
        return SubjectScope(Breadth.REPOSITORY_SET, f"{value!r}: every service account of namespace {namespace}")
    return SubjectScope(Breadth.PINNED, f"service account {namespace}/{name}")


# --- attribute conditions (GCP workload identity federation, CEL) ----------------------------

OWNER_ATTRIBUTES = {
    "github": ("repository_owner", "repository_owner_id", "enterprise", "enterprise_id"),
    "gitlab": ("namespace_path", "namespace_id"),
    "terraform": ("terraform_organization_name", "terraform_organization_id"),
}
WORKLOAD_ATTRIBUTES = {
    "github": ("repository", "repository_id", "job_workflow_ref", "workflow_ref"),
    "gitlab": ("project_path", "project_id"),
    "terraform": ("terraform_workspace_id", "terraform_workspace_name", "terraform_full_workspace"),
    "eks": (),
    "kubernetes": (),
}
_EQ = re.compile(r"\b(assertion|attribute)\.([A-Za-z_][A-Za-z0-9_]*)\s*==\s*(['\"])(.*?)\3")
_EQ_REVERSED = re.compile(r"(['\"])(.*?)\1\s*==\s*(assertion|attribute)\.([A-Za-z_][A-Za-z0-9_]*)")
_STARTS = re.compile(r"\b(assertion|attribute)\.([A-Za-z_][A-Za-z0-9_]*)\.startsWith\(\s*(['\"])(.*?)\3\s*\)")
_IN = re.compile(r"\b(assertion|attribute)\.([A-Za-z_][A-Za-z0-9_]*)\s+in\s+\[([^\]]*)\]")
_LITERAL = re.compile(r"(['\"])(.*?)\1")


def analyze_attribute_condition(expression: str | None, issuer: Issuer) -> SubjectScope:
    """Breadth of a workload identity provider's attribute condition (a CEL expression).

    Comparisons with ``==``, ``in [...]`` and ``.startsWith(...)`` on identity attributes are
    read (``assertion.repository_owner == 'acme'``, ``assertion.sub.startsWith('repo:acme/')``).
    Comparisons joined by ``&&`` narrow each other; with ``||`` the broadest one counts.
    """
    text = (expression or "").strip()
    if not text:
        return SubjectScope(Breadth.ANY, "no attribute condition: every identity the issuer signs tokens for")
    found: list[SubjectScope] = []
    for attr, value, prefix in _comparisons(text):
        scope = _attribute_scope(issuer, attr, value, prefix)
        if scope is not None:
            found.append(scope)
    if not found:
        return SubjectScope(
            Breadth.ANY,
            f"attribute condition {text!r} does not restrict the repository, project or organization",
        )
    if "||" in text:
        worst = max(found, key=lambda s: s.breadth)
        return SubjectScope(worst.breadth, worst.explanation, worst.owner, worst.repository, ("alternatives (||)",))
    return min(found, key=lambda s: s.breadth)


def _comparisons(text: str) -> Iterator[tuple[str, str, bool]]:
    """(attribute, value, is_prefix) for each positive comparison."""
    for match in _EQ.finditer(text):
        yield match.group(2), match.group(4), False
    for match in _EQ_REVERSED.finditer(text):
        yield match.group(4), match.group(2), False
    for match in _STARTS.finditer(text):
        yield match.group(2), match.group(4), True
    for match in _IN.finditer(text):
        for literal in _LITERAL.finditer(match.group(3)):
            yield match.group(2), literal.group(2), False


def _attribute_scope(issuer: Issuer, attr: str, value: str, prefix: bool) -> SubjectScope | None:
    return claim_scope(issuer, attr, value + ("*" if prefix else ""), wildcard=prefix)


def claim_scope(issuer: Issuer, claim: str, pattern: str, *, wildcard: bool) -> SubjectScope | None:
    """Breadth admitted by one claim test (``repository_owner == 'acme'``, ``repository like 'acme/*'``);
    None when the claim does not say which repository, project or organization the token is for."""
    claim = claim.lower()
    wc = wildcard and has_wildcard(pattern)
    if wc and set(pattern) <= {"*", "?"}:
        return None
    if claim in ("sub", "subject"):
        return analyze_subject(issuer, pattern, wildcard=wildcard)
    if claim in OWNER_ATTRIBUTES.get(issuer.platform, ()):
        if wc:
            return SubjectScope(Breadth.OTHER_OWNERS, f"{claim} only has to match {pattern!r}", owner=pattern)
        return SubjectScope(Breadth.OWNER, f"{claim} = {pattern!r}: every repository of {pattern}", owner=pattern)
    if claim not in WORKLOAD_ATTRIBUTES.get(issuer.platform, ()):
        return None
    owner, slash, rest = pattern.partition("/")
    if wc and has_wildcard(owner):
        return SubjectScope(Breadth.OTHER_OWNERS, f"{claim} only has to match {pattern!r}", owner=owner)
    if not slash:
        return SubjectScope(Breadth.OWNER, f"{claim} = {pattern!r} names no repository", owner=owner)
    if claim == "job_workflow_ref":
        return SubjectScope(
            Breadth.REPOSITORY_SET,
            f"{claim} = {pattern!r} pins a reusable workflow, not the repository that calls it",
            owner=owner,
        )
    if wc:
        name = rest.split("/", 1)[0].split("@", 1)[0]
        if has_wildcard(name):
            breadth = Breadth.OWNER if set(name) <= {"*"} else Breadth.REPOSITORY_SET
            return SubjectScope(breadth, f"{claim} matches {pattern!r}", owner=owner)
    if claim == "workflow_ref" and not wc:
        return SubjectScope(Breadth.PINNED, f"{claim} = {pattern!r}", owner=owner)
    repository = f"{owner}/{rest.split('/', 1)[0].split('@', 1)[0]}"
    return SubjectScope(Breadth.ANY_REF, f"{claim} = {pattern!r}", owner=owner, repository=repository)
