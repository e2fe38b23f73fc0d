"""Property tests: random valid fleets are sound; random single mutations fail cleanly.

Each bad-input class of issue 15 has a generator too (encodings and stray bytes, non-scalar
keys, deep nesting, durations, RE2 regexes, refused ports/hosts/replicas/prefixes, replicas 0
under live weight, a shared namespace, misspelt keys, long values).

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
import json
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
    if not any("host" in m for m in fleet_models.values()):
        # A gateway whose hosts no model is served on answers 404 to all of them (MS1009): expose one.
        first = fleet_models[names[0]]
        first["host"], first["prefix"] = shared, f"/models/{names[0]}/"
    hosts = sorted({m["host"] for m in fleet_models.values() if "host" in m})
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


# --- the bad-input classes of issue 15, one generator each ----------------------------------
# Each must end in exactly one short `error:` line (no other stderr), non-zero, output untouched.

def _assert_one_line_failure(code: int, err: str, unchanged: bool, *expected: str) -> None:
    _assert_clean_failure(code, err, unchanged)
    assert len(err.splitlines()) == 1 and len(err) < 600, err[:600]  # alone, and no 100 KB echo
    for text in expected:
        assert text in err, err


NEVER_UTF8 = [bytes([b]) for b in (0xC0, 0xC1, *range(0xF5, 0x100))] + [b"\x80", b"\xbf", b"\xe2\x82"]


@SETTINGS
@given(fleets(), st.data())
def test_text_that_is_not_utf8_fails_cleanly(data: dict[str, Any], pick) -> None:
    text = yaml.safe_dump(data, allow_unicode=True)
    how = pick.draw(st.sampled_from(["utf-16", "utf-32", "latin-1", "stray"]))
    if how == "stray":  # a byte sequence UTF-8 never contains, anywhere in the file
        at = pick.draw(st.integers(0, len(text)))
        raw = text[:at].encode() + pick.draw(st.sampled_from(NEVER_UTF8)) + text[at:].encode()
    else:
        raw = (text + "# é\n").encode(how)  # one non-ASCII character, so Latin-1 differs from UTF-8
    _assert_one_line_failure(*_synth_bytes(raw), "not UTF-8 text", "fix: save the file as UTF-8")


def _synth_bytes(raw: bytes) -> tuple[int, str, bool]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "raw.yaml"
        path.write_bytes(raw)
        return _synth_text_from(path)


def _synth_text_from(path: Path) -> tuple[int, str, bool]:
    """Like _synth_text, for a file already written (any bytes)."""
    folder = path.parent
    (folder / "serving.yaml").write_bytes(path.read_bytes())
    shutil.copytree(ROOT / "dist", folder / "dist")
    before = tree(folder)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = run(folder / "serving.yaml", folder / "dist", quiet=True)
    return code, err.getvalue(), tree(folder) == before


JSON_SCALARS = st.one_of(st.integers(-5, 5), st.booleans(), st.none(), st.text("abc", max_size=3))
NESTED = st.recursive(JSON_SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text("xyz", min_size=1, max_size=2), inner, max_size=3), max_leaves=8)


@SETTINGS
@given(fleets(), st.one_of(st.lists(NESTED, max_size=3), st.dictionaries(st.text("xyz", min_size=1, max_size=2), NESTED, max_size=3)))
def test_a_list_or_map_as_a_key_fails_cleanly(data: dict[str, Any], key: Any) -> None:
    text = yaml.safe_dump(data).replace("models:\n", f"models:\n  ? {json.dumps(key)}\n  : 1\n", 1)
    _assert_one_line_failure(*_synth_text(text), "is used as a key", "fix: use a plain name as the key")


@SETTINGS
@given(fleets(), st.integers(65, 400), st.data())
def test_nesting_beyond_the_limit_fails_cleanly(data: dict[str, Any], depth: int, pick) -> None:
    kinds = pick.draw(st.lists(st.booleans(), min_size=depth, max_size=depth))
    opened = "".join("[" if is_list else "{k: " for is_list in kinds)
    closed = "".join("]" if is_list else "}" for is_list in reversed(kinds))
    text = yaml.safe_dump(data).replace("models:\n", f"deep: {opened}1{closed}\nmodels:\n", 1)
    _assert_one_line_failure(*_synth_text(text), "nesting", "fix: flatten the document")


UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}


@SETTINGS
@given(fleets(), st.lists(st.tuples(st.integers(0, 10**13), st.sampled_from(sorted(UNITS))), min_size=1, max_size=3))
def test_a_duration_is_accepted_exactly_within_istios_bounds(data: dict[str, Any], parts: list[tuple[int, str]]) -> None:
    from model_serving.fleet.load import ConfigError, parse_fleet

    text = "".join(f"{n}{unit}" for n, unit in parts)
    seconds = sum(n * UNITS[unit] for n, unit in parts)
    model = data["models"][sorted(data["models"])[0]]
    model.update(timeout=text, retries={"attempts": 0})  # no retry budget to compare with
    if 1e-3 <= seconds <= (2**63 - 1) / 1e9:
        parse_fleet(copy.deepcopy(data))
    elif seconds < 1e-3:
        _assert_one_line_failure(*_synth_text(yaml.safe_dump(data)), ".timeout: ", "below Istio's minimum", "fix: use 1ms or more")
    else:
        try:
            parse_fleet(copy.deepcopy(data))
        except ConfigError as error:
            assert "beyond the longest duration Go can hold" in str(error)
        else:
            raise AssertionError(f"{text} ({seconds} s) was accepted")


@SETTINGS
@given(fleets(), st.one_of(st.integers(-10**6, 10**6), st.floats(allow_nan=False, allow_infinity=False)))
def test_a_number_as_a_duration_advises_a_unit(data: dict[str, Any], number: float) -> None:
    data["models"][sorted(data["models"])[0]]["timeout"] = number
    _assert_one_line_failure(*_synth_text(yaml.safe_dump(data)), "is a number, not a duration", "fix: add a unit")


REGEX_PIECES = ["a", "b", ".", "*", "+", "?", "(", ")", "[", "]", "{", "}", "|", "^", "$", "\\", "\\d", "(?=", "(?!",
                "(?<=", "(?<!", "(?P<n>", "\\1", "{2}", "{1,3}", "++", "*+", "(?i)", "-", ",", "0", "9"]


@SETTINGS
@given(fleets(), st.lists(st.sampled_from(REGEX_PIECES), min_size=1, max_size=8))
def test_a_regex_is_accepted_exactly_when_re2_compiles_it(data: dict[str, Any], pieces: list[str]) -> None:
    import re2

    from model_serving.fleet.load import parse_fleet

    regex = "".join(pieces)
    options = re2.Options()
    options.log_errors = False
    try:
        re2.compile(regex, options)
        valid = True
    except re2.error:
        valid = False
    name = sorted(data["models"])[0]
    model = data["models"][name]
    model["routes"] = [{"name": "by-regex", "match": {"headers": {"x-user": {"regex": regex}}}, "version": "v1"}]
    if valid:
        parse_fleet(copy.deepcopy(data))
    else:
        _assert_one_line_failure(*_synth_text(yaml.safe_dump(data)), "routes[0].match.headers.x-user.regex: ", "is not valid RE2")


INT32_MAX = 2**31 - 1


@st.composite
def bad_scalars(draw, name: str) -> tuple[tuple, Any, str]:
    """(path inside the model, a value Istio or Kubernetes would refuse, text the error must name)."""
    kind = draw(st.sampled_from(["port", "host", "replicas", "prefix"]))
    if kind == "port":
        return ("port",), draw(st.integers(15000, 15090)), "one the Istio sidecar uses"
    if kind == "host":
        return ("host",), draw(st.sampled_from(["*", "*.example.com", "*.com"])), "is a wildcard"
    if kind == "replicas":
        return ("versions", "v1", "replicas"), draw(st.integers(INT32_MAX + 1, 2**70)), "less than or equal to 2147483647"
    segment = draw(st.text("abcxyz0-", min_size=1, max_size=12))
    return ("prefix",), f"/models/{segment}", "does not end with '/'"


@SETTINGS
@given(fleets(), st.data())
def test_a_value_the_cluster_would_refuse_fails_cleanly(data: dict[str, Any], pick) -> None:
    name = pick.draw(st.sampled_from(sorted(data["models"])))
    path, value, expected = pick.draw(bad_scalars(name))
    model = data["models"][name]
    if path == ("prefix",):
        model["host"] = "api.example.com"
        hosts = data["environments"]["prod"]["gateway"]["hosts"]
        hosts[:] = sorted({*hosts, "api.example.com"})
    _get(model, path[:-1])[path[-1]] = value
    _assert_one_line_failure(*_synth_text(yaml.safe_dump(data)), expected, "; fix: ")


@SETTINGS
@given(fleets(), st.data())
def test_no_pods_for_a_version_with_live_weight_fails_cleanly(data: dict[str, Any], pick) -> None:
    name = pick.draw(st.sampled_from(sorted(data["models"])))
    versions = data["models"][name]["versions"]
    live = pick.draw(st.sampled_from(sorted(v for v, spec in versions.items() if spec["weight"] > 0)))
    versions[live]["replicas"] = 0
    _assert_one_line_failure(*_synth_text(yaml.safe_dump(data)), f"version {live} has replicas: 0", "fix: ")


@SETTINGS
@given(fleets(), st.sampled_from(["staging", "qa"]))
def test_two_environments_in_one_namespace_of_one_cluster_fail_cleanly(data: dict[str, Any], other: str) -> None:
    data["environments"][other] = copy.deepcopy(data["environments"]["prod"])
    _assert_one_line_failure(*_synth_text(yaml.safe_dump(data)), "is also environment", "set cluster:")


def _typos(word: str) -> st.SearchStrategy[str]:
    i = st.integers(0, len(word) - 1)
    return st.one_of(
        i.map(lambda k: word[:k] + word[k + 1:]),  # a letter dropped
        i.filter(lambda k: k < len(word) - 1).map(lambda k: word[:k] + word[k + 1] + word[k] + word[k + 2:]),  # swapped
        st.tuples(i, st.sampled_from("aeiosx")).map(lambda t: word[:t[0]] + t[1] + word[t[0]:]),  # one inserted
    ).filter(lambda typo: typo != word)


@SETTINGS
@given(fleets(), st.sampled_from(["models", "environments"]).flatmap(lambda w: st.tuples(st.just(w), _typos(w))))
def test_a_misspelt_top_level_key_is_reported_first_and_alone(data: dict[str, Any], typo: tuple[str, str]) -> None:
    word, wrong = typo
    data[wrong] = data.pop(word)
    code, err, unchanged = _synth_text(yaml.safe_dump(data))
    _assert_one_line_failure(code, err, unchanged, f": {wrong}: unknown field", f"did you mean {word}?")
    assert "(+" not in err


@SETTINGS
@given(fleets(), st.data(), st.integers(10_000, 100_000))
def test_a_long_value_is_never_echoed_whole(data: dict[str, Any], pick, size: int) -> None:
    leaves = [p for p in _paths(data) if isinstance(_get(data, p), (str, int)) and not isinstance(_get(data, p), bool)]
    path = pick.draw(st.sampled_from(leaves))
    _get(data, path[:-1])[path[-1]] = "y" * (size - 2) + " !"  # a space and '!': no name, host, image or number
    code, err, unchanged = _synth_text(yaml.safe_dump(data, width=1 << 20))
    if code == 0:  # free text (a header value to match) may be long: then it is simply accepted
        assert "error" not in err and "Traceback" not in err
    else:
        _assert_one_line_failure(code, err, unchanged)
