"""Running every registered check over a set of manifest objects."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .checks import CHECKS
from .findings import Finding
from .index import Index


def analyze(objects: Iterable[dict[str, Any]], *, default_namespace: str = "default") -> list[Finding]:
    """Findings for `objects`, sorted by severity, resource, then code (no namespace means `default_namespace`)."""
    index = Index(objects, default_namespace=default_namespace)
    # A set: two routes of one VirtualService can hit the very same problem.
    findings = {finding for check in CHECKS for finding in check(index)}
    return sorted(findings, key=Finding.sort_key)
