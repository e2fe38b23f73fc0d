"""Fixtures of the rehearsal tests: synthesized manifests, and Envoys shared per configuration.

Statistical checks use `within()`: exact binomial acceptance bounds at a two-sided false-failure
probability of 1e-6 per check (model_serving.rehearse.expectations), so a correct route fails
a check about once in a million runs; 0 % and 100 % are exact.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from model_serving.rehearse.expectations import binomial_bounds
from model_serving.rehearse.runner import Rehearsal
from model_serving.rehearse.standin import Behaviour

ROOT = Path(__file__).resolve().parents[2]


def manifests(name: str = "reference", env: str = "production") -> list[dict[str, Any]]:
    """The committed synthesized objects: `reference` is dist/, anything else examples/dist/<name>/."""
    folder = ROOT / "dist" if name == "reference" else ROOT / "examples" / "dist" / name
    return [d for d in yaml.safe_load_all((folder / f"{env}.k8s.yaml").read_text()) if d]


def variant(name: str, edit: Callable[[dict[str, Any]], None], env: str = "production") -> list[dict[str, Any]]:
    """examples/<name>.yaml changed by `edit`, synthesized in memory: a scenario the examples do not ship."""
    from helpers import load_yaml, synth_data

    data = load_yaml(ROOT / "examples" / f"{name}.yaml")
    edit(data)
    _, outputs = synth_data(data, source=f"examples/{name}.yaml (variant)")
    return next(o.objects for o in outputs if o.env == env)


def delta(before: dict[str, int], after: dict[str, int], suffix: str) -> int:
    """How much the Envoy counters ending in `suffix` grew between two `stats()` snapshots."""
    return sum(v - before.get(k, 0) for k, v in after.items() if k.endswith(suffix))


def within(count: int, n: int, percent: float) -> bool:
    """`count` of `n` is consistent with `percent` (exact binomial, 1e-6 two-sided; 0/100 exact)."""
    lo, hi = binomial_bounds(n, percent / 100.0)
    return lo <= count <= hi


def bounds(n: int, percent: float) -> tuple[int, int]:
    """The accepted counts, for assertion messages."""
    return binomial_bounds(n, percent / 100.0)


@pytest.fixture(scope="session")
def rehearse() -> Iterator[Callable[..., Rehearsal]]:
    """A started Rehearsal per (manifests, environment, time scale), shared by the whole session.
    For tests that leave no state behind in the proxy (ejections do: use `fresh_rehearsal`)."""
    cache: dict[tuple[Any, ...], Rehearsal] = {}

    def get(name: str = "reference", env: str = "production", *, time_scale: float = 1.0) -> Rehearsal:
        key = (name, env, time_scale)
        if key not in cache:
            cache[key] = Rehearsal(manifests(name, env), time_scale=time_scale)
            cache[key].start()
        return cache[key]

    try:
        yield get
    finally:
        for rehearsal in cache.values():
            rehearsal.stop()


@pytest.fixture
def fresh_rehearsal() -> Iterator[Callable[..., Rehearsal]]:
    """A Rehearsal of the test's own (stand-in behaviours, edited objects), stopped after the test."""
    started: list[Rehearsal] = []

    def get(name: str = "reference", env: str = "production", *, time_scale: float = 1.0,
            behaviours: dict[str, Behaviour] | None = None, objects: list[dict[str, Any]] | None = None) -> Rehearsal:
        rehearsal = Rehearsal(objects if objects is not None else manifests(name, env), time_scale=time_scale,
                              behaviours=behaviours)
        started.append(rehearsal)
        rehearsal.start()
        return rehearsal

    try:
        yield get
    finally:
        for rehearsal in started:
            rehearsal.stop()
