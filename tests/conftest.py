"""Fixtures shared by the whole suite."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from helpers import ROOT, load_yaml, synth_data


@pytest.fixture(scope="session")
def reference() -> tuple:
    """The repo's serving.yaml, validated and synthesized once per test session."""
    return synth_data(load_yaml(ROOT / "serving.yaml"), source="serving.yaml")


@pytest.fixture
def base_config() -> dict:
    """A fresh, mutable copy of serving.yaml's data for tests that break it."""
    return load_yaml(ROOT / "serving.yaml")


_EXAMPLES: dict[str, tuple] = {}


@pytest.fixture
def example():
    """Synthesize examples/<name>.yaml (cached per session): returns (fleet, outputs)."""

    def get(name: str) -> tuple:
        if name not in _EXAMPLES:
            _EXAMPLES[name] = synth_data(load_yaml(ROOT / "examples" / f"{name}.yaml"), source=f"examples/{name}.yaml")
        return _EXAMPLES[name]

    return get
