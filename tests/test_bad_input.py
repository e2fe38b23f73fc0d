"""Bad input never crashes synth: each class of issue 15 through the real entry points.

Both ways a user synthesizes are run as subprocesses: the `model-serving synth` console script
and `python main.py` (what `make synth` runs). The contract: exactly one `error:` line on stderr
naming the file, the field and a fix, nothing else on stderr, a non-zero exit, no traceback, and
`serving.yaml` and `dist/` byte-identical afterwards.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ROOT, load_yaml, tree
from model_serving.fleet.load import parse_fleet

BASE = (ROOT / "serving.yaml").read_text()
SCRIPT = Path(sys.executable).with_name("model-serving")
# The line of the inserted key: where `  ai-model:` is in serving.yaml.
KEY_LINE = BASE.splitlines().index("  ai-model:") + 1
ENTRY_POINTS = {"model-serving synth": [str(SCRIPT), "synth"], "python main.py": [sys.executable, str(ROOT / "main.py")]}


def _edit(old: str, new: str, text: str = BASE) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def _after_port(extra: str) -> str:
    return _edit("    port: 8080\n", f"    port: 8080\n{extra}")


def _route(regex: str) -> str:
    return _after_port(f"    routes:\n      - name: beta\n        match: {{headers: {{x-user: {{regex: '{regex}'}}}}}}\n        version: v2\n")


def _second_env(cluster: str = "") -> str:
    env = f"  staging:\n    namespace: ai-services\n{cluster}    gateway:\n      hosts: [ai-model.example.com]\n      tls: {{credentialName: t}}\n"
    return _edit("\nmodels:\n", f"{env}\nmodels:\n")


LONG = "x" * 100_000
# name -> (file content, text the error line must contain: the field and the fix)
CASES: dict[str, tuple[str | bytes, list[str]]] = {
    "latin-1": (BASE.replace("ai-services", "ai-servicés").encode("latin-1"), ["is not UTF-8 text", "fix: save the file as UTF-8"]),
    "utf-16": (BASE.encode("utf-16"), ["byte 0 is not UTF-8 text", "fix: save the file as UTF-8"]),
    "stray bytes": (BASE.encode() + b"# \xff\xfe\n", ["is not UTF-8 text", "fix: save the file as UTF-8"]),
    "list as key": (_edit("  ai-model:\n", "  ? [a, b]\n  : 1\n  ai-model:\n"), [f"line {KEY_LINE}: a sequence is used as a key", "fix: use a plain name"]),
    "map as key": (_edit("  ai-model:\n", "  ? {a: b}\n  : 1\n  ai-model:\n"), [f"line {KEY_LINE}: a mapping is used as a key", "fix: use a plain name"]),
    "250 deep (block)": (
        "models:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 250)) + "  " * 250 + "x: 1\n",
        ["nesting", "fix: flatten the document"],
    ),
    "250 deep (flow)": ("models: " + "[" * 250 + "]" * 250 + "\n", ["nesting deeper than 64 levels", "fix: flatten the document"]),
    "duration below 1ms": (_after_port("    timeout: 500us\n"), ["models.ai-model.timeout: '500us' is below Istio's minimum", "fix: use 1ms or more"]),
    "duration beyond Go": (_after_port("    timeout: 9999999999h\n"), ["models.ai-model.timeout: '9999999999h' is beyond", "fix: use a shorter one"]),
    "duration as a number": (_after_port("    timeout: 30\n"), ["models.ai-model.timeout: 30 is a number, not a duration", "fix: add a unit, e.g. 30s"]),
    "regex unclosed": (_route("(unclosed"), ["routes[0].match.headers.x-user.regex: regex '(unclosed' is not valid RE2", "fix: "]),
    "regex possessive": (_route("a++"), ["regex: regex 'a++' is not valid RE2", "fix: "]),
    "regex look-ahead": (_route("(?=x)"), ["regex: regex '(?=x)' is not valid RE2", "fix: drop look-arounds"]),
    "regex look-behind": (_route("(?<=x)y"), ["is not valid RE2", "fix: drop look-arounds"]),
    "sidecar port 15000": (_edit("port: 8080", "port: 15000"), ["models.ai-model.port: port 15000 is one the Istio sidecar uses", "fix: "]),
    "sidecar port 15090": (_edit("port: 8080", "port: 15090"), ["models.ai-model.port: port 15090", "fix: serve on another port"]),
    "host *": (_edit("    host: ai-model.example.com\n", "    host: '*'\n"), ["models.ai-model.host: '*' is a wildcard", "fix: give the model one exact host"]),
    "replicas beyond int32": (_edit("replicas: 2", "replicas: 2147483648"), ["versions.v1.replicas: ", "2147483647", "fix: use a smaller number"]),
    "prefix without slash": (_after_port("    prefix: /models/ai\n"), ["models.ai-model.prefix: '/models/ai' does not end with '/'", "fix: write it as /models/ai/"]),
    "replicas 0 with weight": (
        _edit("        weight: 10\n        replicas: 2", "        weight: 10\n        replicas: 0"),
        ["models.ai-model: version v2 has replicas: 0 but takes 10% of live traffic", "fix: give versions.v2 replicas: 1 or more"],
    ),
    "replicas 0 as a route target": (
        _after_port("    routes:\n      - name: beta\n        match: {headers: {x-beta: 'on'}}\n        version: v2\n").replace(
            "weight: 90", "weight: 100").replace("        weight: 10\n        replicas: 2", "        weight: 0\n        replicas: 0"),
        ["version v2 has replicas: 0 but gets every request of route 'beta'", "fix: "],
    ),
    "shared namespace": (_second_env(), ["environments.staging.namespace: ai-services is also environment production's namespace",
                                         "fix: give each environment its own namespace, or set cluster:"]),
    "misspelt top-level key": (BASE.replace("models:", "modles:"), ["serving.yaml: modles: unknown field; fix: did you mean models?"]),
    "100 KB value": (_after_port(f"    protocol: {LONG}\n"), ["models.ai-model.protocol: ", "fix: use one of the allowed values"]),
    "openai host off the gateway": (
        _edit("\nmodels:\n", "    openai: {host: llm.example.com}\n\nmodels:\n"),
        ["environments.production.openai.host: llm.example.com is not among gateway.hosts", "fix: add it to "],
    ),
    "model on the openai host": (
        _edit("\nmodels:\n", "    openai: {host: ai-model.example.com}\n\nmodels:\n"),
        ["models.ai-model.host: ai-model.example.com is the OpenAI host", "fix: give the model another host"],
    ),
    "100 KB host": (_edit("    host: ai-model.example.com\n", f"    host: {LONG}\n"), ["models.ai-model.host: 'xxx", "fix: "]),
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "dist", tmp_path / "dist")
    return tmp_path


def synth_in(folder: Path, content: str | bytes, entry: str) -> tuple[subprocess.CompletedProcess[str], bool]:
    """Run one entry point in `folder` on `content` as serving.yaml: (result, whether nothing changed)."""
    data = content if isinstance(content, bytes) else content.encode()
    (folder / "serving.yaml").write_bytes(data)
    before = tree(folder)
    done = subprocess.run(ENTRY_POINTS[entry], cwd=folder, capture_output=True, text=True, timeout=120, check=False)
    return done, tree(folder) == before


def assert_one_error_line(done: subprocess.CompletedProcess[str], *expected: str) -> str:
    """Exactly one line on stderr, `error: serving.yaml: ...; fix: ...`, short, non-zero exit."""
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr[-2000:]
    line = lines[0]
    assert line.startswith("error: serving.yaml: ") and "; fix: " in line, line[:500]
    assert len(line) < 400, line[:500]  # a 100 KB value is never echoed whole
    for text in expected:
        assert text in line, line
    return line


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_one_line_and_changes_nothing(project: Path, case: str, entry: str) -> None:
    content, expected = CASES[case]
    done, unchanged = synth_in(project, content, entry)
    assert_one_error_line(done, *expected)
    assert unchanged


def test_a_misspelt_key_is_not_hidden_behind_more(project: Path) -> None:
    done, _ = synth_in(project, BASE.replace("models:", "modles:"), "model-serving synth")
    assert "(+" not in assert_one_error_line(done)


MERGED = (
    _edit("      v1:\n", "      v1: &version\n")
    .replace("      v2:\n", "      v2:\n        <<: *version\n")
    .replace("        weight: 10\n        replicas: 2\n", "        weight: 10\n")
)


def _synth_ok(folder: Path, text: str, entry: str = "model-serving synth") -> None:
    (folder / "serving.yaml").write_text(text)
    done = subprocess.run(ENTRY_POINTS[entry], cwd=folder, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert "error" not in done.stderr


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_merge_keys_are_accepted_and_merged(project: Path, entry: str) -> None:
    # v2 takes replicas: 2 from v1 through `<<: *version`; its own image and weight win.
    assert MERGED.count("replicas: 2") == 1
    _synth_ok(project, MERGED, entry)
    assert tree(project / "dist") == tree(ROOT / "dist")  # the same fleet as serving.yaml


def test_replicas_0_is_allowed_without_live_traffic(project: Path) -> None:
    # Weight 0, no route to it, a mirror target: shadow responses are discarded, so no user waits on it.
    text = _edit("weight: 90", "weight: 100").replace("        weight: 10\n        replicas: 2", "        weight: 0\n        replicas: 0")
    _synth_ok(project, _edit("    port: 8080\n", "    port: 8080\n    mirror: {version: v2, percent: 5}\n", text))
    assert "replicas: 0" in (project / "dist" / "production.k8s.yaml").read_text()


def test_replicas_0_with_autoscaling_is_allowed() -> None:
    data = load_yaml(ROOT / "serving.yaml")
    data["models"]["ai-model"]["versions"]["v2"]["replicas"] = 0
    data["models"]["ai-model"]["autoscaling"] = {"maxReplicas": 4, "cpuUtilization": 70}
    assert parse_fleet(data).environments["production"].models["ai-model"].versions["v2"].replicas == 0


def test_environments_may_share_a_namespace_on_different_clusters(project: Path) -> None:
    _synth_ok(project, _second_env("    cluster: staging-cluster\n"))
    assert sorted(p.name for p in (project / "dist").iterdir()) == ["TRAFFIC.md", "production.k8s.yaml", "staging.k8s.yaml"]
