"""Every reference example synthesizes, keeps the invariants, analyzes clean and is committed."""
from __future__ import annotations

import pytest

from helpers import ROOT, assert_apply_order, assert_invariants, objects_of
from model_serving.checks.analyze import analyze
from model_serving.commands.synth import render_files

EXAMPLES = sorted(p.stem for p in (ROOT / "examples").glob("*.yaml"))


def test_examples_cover_every_strategy() -> None:
    assert {"canary", "ab-test", "sticky-canary", "shadow", "blue-green", "staged-rollout", "edge-routing",
            "environments", "fleet"} <= set(EXAMPLES)


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_keeps_invariants_and_apply_order(name: str, example) -> None:
    _, outputs = example(name)
    for out in outputs:
        assert_invariants(out.objects)
        assert_apply_order(out.objects)


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_has_no_analyzer_findings(name: str, example) -> None:
    _, outputs = example(name)
    assert [str(f) for f in analyze(objects_of(outputs))] == []


@pytest.mark.parametrize("name", EXAMPLES)
def test_committed_example_output_equals_a_fresh_synth(name: str, example) -> None:
    fleet, outputs = example(name)
    folder = ROOT / "examples" / "dist" / name
    committed = {p.name: p.read_text() for p in sorted(folder.iterdir())} if folder.is_dir() else {}
    assert committed == render_files(fleet, outputs), "run `make synth` and commit examples/dist/"
