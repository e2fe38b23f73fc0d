"""Helpers for construct unit tests: a fresh test chart and its synthesized objects."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cdk8s
import pytest

from constructs import Construct


@pytest.fixture
def synth() -> Callable[[Callable[[Construct], Any]], list[dict]]:
    """Build constructs in a fresh Testing.chart() and return its manifests, in order."""

    def run(build: Callable[[Construct], Any]) -> list[dict]:
        chart = cdk8s.Testing.chart()
        build(chart)
        return [dict(o) for o in cdk8s.Testing.synth(chart)]

    return run


def kinds(objects: list[dict]) -> list[str]:
    """The kinds of the objects, in order."""
    return [o["kind"] for o in objects]


def one(objects: list[dict], kind: str, name: str | None = None) -> dict:
    """The only object of `kind` (named `name`)."""
    found = [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(found) == 1, (kind, name, [o["metadata"]["name"] for o in found])
    return found[0]
