"""``AwsAccess.allows_each`` tests many permission groups at once over a compact renumbering of
their bits; it must agree with testing each group on its own."""

from __future__ import annotations

import random

from nhiaudit.catalogs.aws_actions import load_catalog
from nhiaudit.catalogs.privesc import required_groups
from nhiaudit.policy.aws import AwsAccess


def test_allows_each_agrees_with_allows_all() -> None:
    catalog = load_catalog()
    groups = (*required_groups("aws"), ("iam:PassRole", "notaservice:NotAnAction"))
    names = sorted({p for g in groups for p in g if catalog.index_of(p) is not None})
    rnd = random.Random(5)
    for n in range(200):
        held = rnd.sample(names, rnd.randint(0, len(names))) if n else names
        noise = rnd.getrandbits(catalog.size)  # other actions must not matter
        mask = catalog.mask_of_all(tuple(held))[0] | (noise & ~catalog.masks_of_groups(groups)[0])
        access = AwsAccess(provider="aws", identity_id=f"id-{n}", catalog=catalog, effective_any=mask)
        assert access.allows_each(groups) == [access.allows_all(g) for g in groups]
    everything = AwsAccess(provider="aws", identity_id="all", catalog=catalog, effective_any=catalog.all_mask)
    assert all(everything.allows_each(required_groups("aws")))
    nothing = AwsAccess(provider="aws", identity_id="none", catalog=catalog, effective_any=0)
    assert not any(nothing.allows_each(required_groups("aws")))


def test_dense_groups_renumber_the_union() -> None:
    catalog = load_catalog()
    groups = (("iam:PassRole", "lambda:CreateFunction"), ("iam:CreateAccessKey",))
    dense = catalog.dense_groups(groups)
    order = sorted(["iam:PassRole", "lambda:CreateFunction", "iam:CreateAccessKey"], key=catalog.index_of)
    flag = {name: 1 << n for n, name in enumerate(order)}  # compact bits follow catalog order
    assert dense.masks == [flag["iam:PassRole"] | flag["lambda:CreateFunction"], flag["iam:CreateAccessKey"]]
    assert dense.compact(catalog.mask_of_all(("iam:CreateAccessKey", "s3:GetObject"))[0]) == flag["iam:CreateAccessKey"]
    assert dense.compact(0) == 0 and catalog.dense_groups(groups) is dense
