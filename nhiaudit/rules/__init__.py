"""The rule registry: one module per rule, named after its id (``admin_equivalent.py`` holds
``admin-equivalent``). Adding a rule is adding a file; ``all_rules()`` finds it."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from functools import cache

from nhiaudit.rules.base import AnalysisContext, Rule, RuleMeta

__all__ = ["AnalysisContext", "Rule", "RuleMeta", "all_rules", "get_rule"]

_NOT_RULES = {"base"}


@cache
def all_rules() -> tuple[Rule, ...]:
    rules: list[Rule] = []
    for info in pkgutil.iter_modules(__path__):
        if info.name in _NOT_RULES or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        classes = [
            obj
            for obj in vars(module).values()
            if inspect.isclass(obj) and issubclass(obj, Rule) and obj is not Rule and obj.__module__ == module.__name__
        ]
        if len(classes) != 1:
            raise RuntimeError(f"rule module {info.name} must define exactly one Rule subclass")
        rule = classes[0]()
        if rule.meta.id.replace("-", "_") != info.name:
            raise RuntimeError(f"rule {rule.meta.id} must live in a module named {rule.meta.id.replace('-', '_')}.py")
        rules.append(rule)
    return tuple(sorted(rules, key=lambda r: r.meta.id))


def get_rule(rule_id: str) -> Rule | None:
    return next((r for r in all_rules() if r.meta.id == rule_id), None)
