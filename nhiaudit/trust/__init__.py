"""Trust analysis: who can become, assume, impersonate or federate into each identity.

Collectors record trust as ``Trust`` records (see docs/architecture.md for the per-provider
conventions); this package interprets them for the rules:

* ``aws_conditions`` -- AWS condition blocks: which keys a trust statement really pins, with
  the operator semantics (Like wildcards, negation, IfExists, ForAllValues);
* ``oidc`` -- how many workloads an OIDC subject (or subject pattern) admits: GitHub, GitLab,
  Terraform Cloud, EKS service accounts and generic issuers;
* ``principals`` -- parsing principals (ARNs, GCP members) and deciding whether they are inside
  the organization;
* ``environments`` -- which environment (production or not) an identity, scope or principal is in;
* ``graph`` -- the "can become" graph and the paths from an identity to an admin-equivalent one,
  with one edge builder per provider (``aws_edges``, ``gcp``, ``azure``) in ``graph.EDGE_BUILDERS``;
* ``context`` -- the shared, per-analysis instances of the above for rules.

Nothing here calls a cloud API or reads a file other than its own package data.
"""
