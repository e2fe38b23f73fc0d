"""Property tests: random valid fleets are sound; random single mutations fail cleanly.

Valid fleets must synthesize with the invariants kept and no analyzer finding. A mutation of a
valid config (a deleted field, a changed type, a broken reference, a duplicated name) must end
in one `error:` line with no traceback and the output folder untouched; the only mutations
allowed to succeed are deletions of fields that have defaults.
"""
from __future__ import annotations

import contextlib
import copy
import io
import itertools
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import (
    ROOT,
    assert_apply_order,
    assert_invariants,
    objects_of,
    synth_data,
    tree,
)
from model_serving.checks.analyze import analyze
from model_serving.commands.synth import run

MODEL_NAMES = ["alpha", "beta", "gamma", "delta"]
IMAGE = "registry.example.com/ml/{model}:{version}@sha256:" + "ab" * 32
# PROPERTY_EXAMPLES=300 for a deeper search than the suite's default.
SETTINGS = settings(
    max_examples=int(os.environ.get("PROPERTY_EXAMPLES", "25")), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@st.composite
def weights(draw, count: int) -> list[int]:
    cuts = sorted(draw(st.lists(st.integers(0, 100), min_size=count - 1, max_size=count - 1)))
    bounds = [0, *cuts, 100]
    return [b - a for a, b in itertools.pairwise(bounds)]


@st.composite
def models(draw, name: str, shared_host: str) -> dict[str, Any]:
    count = draw(st.integers(1, 4))
    names = [f"v{i + 1}" for i in range(count)]
    split = draw(weights(count))
    model: dict[str, Any] = {
        "versions": {
            v: {"image": IMAGE.format(model=name, version=v), "weight": w, "replicas": draw(st.integers(1, 3))}
            for v, w in zip(names, split, strict=False)
        }
    }
    exposure = draw(st.sampled_from(["none", "host", "prefix"]))
    if exposure == "host":
        model["host"] = f"{name}.example.com"
    elif exposure == "prefix":
        model["host"], model["prefix"] = shared_host, f"/models/{name}/"
    rules = draw(st.lists(st.sampled_from(names), max_size=2))
    model["routes"] = [
        {"name": f"rule-{i}", "match": {"headers": {f"x-test-{i}": {"exact": target}}}, "version": target}
        for i, target in enumerate(rules)
    ]
    if draw(st.booleans()):
        model["sticky"] = True
    if count > 1 and draw(st.booleans()):
        model["mirror"] = {"version": draw(st.sampled_from(names)), "percent": draw(st.integers(0, 100))}
    if draw(st.booleans()):
        model["timeout"], model["retries"] = "30s", {"attempts": 1, "perTryTimeout": "10s"}
    return model


@st.composite
def fleets(draw) -> dict[str, Any]:
    names = draw(st.lists(st.sampled_from(MODEL_NAMES), min_size=1, max_size=3, unique=True))
    shared = "api.example.com"
    fleet_models = {name: draw(models(name, shared)) for name in names}
    hosts = sorted({m["host"] for m in fleet_models.values() if "host" in m} | {shared})
    gateway: dict[str, Any] = {"hosts": hosts}
    if draw(st.booleans()):
        gateway["tls"] = {"credentialName": "fleet-tls"}
    else:
        gateway["plainHttp"] = True
    return {"environments": {"prod": {"namespace": "fleet", "gateway": gateway}}, "models": fleet_models}


@SETTINGS
@given(fleets())
def test_random_valid_fleets_synthesize_soundly(data: dict[str, Any]) -> None:
    _, outputs = synth_data(data)
    objects = objects_of(outputs)
    assert_invariants(objects)
    assert_apply_order(objects)
    assert [str(f) for f in analyze(objects)] == []


# --- mutations ------------------------------------------------------------------------------

def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value in a YAML tree."""
    out = []
    if isinstance(node, dict):
        for key, value in node.items():
            out.append(prefix + (key,))
            out.extend(_paths(value, prefix + (key,)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out.append(prefix + (i,))
            out.extend(_paths(value, prefix + (i,)))
    return out


def _get(node: Any, path: tuple) -> Any:
    for key in path:
        node = node[key]
    return node


def _wrong_type(value: Any) -> Any:
    if isinstance(value, bool):
        return "maybe"
    if isinstance(value, (int, float)):
        return "a lot"
    if isinstance(value, str):
        return [value, value]
    if isinstance(value, list):
        return "not a list"
    return 42


REQUIRED = [("environments",), ("models",), ("environments", "prod", "namespace"), ("environments", "prod", "gateway")]


def _synth_text(text: str) -> tuple[int, str, bool]:
    """Run the real synth on a temp project; (exit code, stderr, whether dist/ is unchanged)."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "serving.yaml").write_text(text)
        shutil.copytree(ROOT / "dist", folder / "dist")
        before = tree(folder / "dist")
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            code = run(folder / "serving.yaml", folder / "dist", quiet=True)
        after = tree(folder / "dist")
        return code, err.getvalue(), before == after


def _assert_clean_failure(code: int, err: str, unchanged: bool) -> None:
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert code != 0, err
    assert len(errors) == 1 and errors[0].count("\n") == 0, err
    assert "fix:" in errors[0] or "left unchanged" in errors[0], err
    assert "Traceback" not in err
    assert unchanged


@SETTINGS
@given(fleets(), st.data())
def test_a_changed_type_always_fails_cleanly(data: dict[str, Any], pick) -> None:
    path = pick.draw(st.sampled_from(_paths(data)))
    mutated = copy.deepcopy(data)
    parent, key = _get(mutated, path[:-1]), path[-1]
    parent[key] = _wrong_type(parent[key])
    _assert_clean_failure(*_synth_text(yaml.safe_dump(mutated)))


@SETTINGS
@given(fleets(), st.data())
def test_a_broken_reference_always_fails_cleanly(data: dict[str, Any], pick) -> None:
    mutated = copy.deepcopy(data)
    name = pick.draw(st.sampled_from(sorted(mutated["models"])))
    model = mutated["models"][name]
    kind = pick.draw(st.sampled_from(["route", "mirror", "rollout", "host", "override"]))
    if kind == "route":
        model["routes"] = [{"name": "broken", "match": {"headers": {"x": "y"}}, "version": "v99"}]
    elif kind == "mirror":
        model["mirror"] = {"version": "v99", "percent": 5}
    elif kind == "rollout":
        model["rollout"] = {"stable": "v99"}
    elif kind == "host":
        model["host"] = "nowhere.example.org"
    else:
        mutated["environments"]["prod"]["models"] = {"no-such-model": {"replicas": 1}}
    _assert_clean_failure(*_synth_text(yaml.safe_dump(mutated)))


@SETTINGS
@given(fleets(), st.data())
def test_a_deleted_required_field_always_fails_cleanly(data: dict[str, Any], pick) -> None:
    mutated = copy.deepcopy(data)
    name = pick.draw(st.sampled_from(sorted(mutated["models"])))
    choices = REQUIRED + [("models", name, "versions")] + [
        ("models", name, "versions", v, "image") for v in mutated["models"][name]["versions"]
    ]
    path = pick.draw(st.sampled_from(choices))
    del _get(mutated, path[:-1])[path[-1]]
    _assert_clean_failure(*_synth_text(yaml.safe_dump(mutated)))


@SETTINGS
@given(fleets(), st.data())
def test_a_duplicated_name_always_fails_cleanly(data: dict[str, Any], pick) -> None:
    text = yaml.safe_dump(data, sort_keys=False)
    lines = text.splitlines(keepends=True)
    # Any mapping key line that opens a block (a model, a version, an environment...).
    candidates = [i for i, line in enumerate(lines) if line.rstrip().endswith(":") and not line.lstrip().startswith("-")]
    i = pick.draw(st.sampled_from(candidates))
    def depth(line: str) -> int:
        return len(line) - len(line.lstrip())

    indent = depth(lines[i])
    end = i + 1
    # The key's block: deeper lines, and list items at its own depth (PyYAML's block style).
    while end < len(lines) and (
        depth(lines[end]) > indent or (depth(lines[end]) == indent and lines[end].lstrip().startswith("- "))
    ):
        end += 1
    block = lines[i:end]
    _assert_clean_failure(*_synth_text("".join(lines[:end] + block + lines[end:])))


@SETTINGS
@given(fleets(), st.data())
def test_any_deleted_field_fails_cleanly_or_still_synthesizes(data: dict[str, Any], pick) -> None:
    path = pick.draw(st.sampled_from(_paths(data)))
    mutated = copy.deepcopy(data)
    del _get(mutated, path[:-1])[path[-1]]
    code, err, unchanged = _synth_text(yaml.safe_dump(mutated))
    if code == 0:
        assert "error" not in err and "Traceback" not in err
    else:
        _assert_clean_failure(code, err, unchanged)
