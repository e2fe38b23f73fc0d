"""`model-serving rehearse` as users run it: the issue's done-when checks, declared expectations
(passing, and failing by name), and bad input as one `error:` line with exit 2."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import ROOT, bounds, manifests, within
from model_serving.commands.cli import main

DECLARING = sorted(p.relative_to(ROOT).as_posix() for p in [ROOT / "serving.yaml", *(ROOT / "examples").glob("*.yaml")]
                   if "\nrehearse:" in p.read_text())


def rehearse(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run the command in this process (the cdk8s runtime is shared): exit code, stdout, stderr."""
    try:
        code = main(["rehearse", *args])
    except SystemExit as exit_:  # argparse's own usage errors
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_done_when_the_reference_splits_90_10_with_only_200s_and_names_envoy(capsys: pytest.CaptureFixture[str],
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    code, out, _ = rehearse(capsys, "--model", "ai-model", "--requests", "2000", "--output", "json")
    assert code == 0
    report = json.loads(out)
    assert report["envoy"].startswith("1.40.")
    (run,) = report["runs"]
    assert run["requests"] == 2000 and run["statuses"] == {"200": 2000}
    v1, v2 = run["versions"]["ai-model/v1"], run["versions"]["ai-model/v2"]
    assert v1 + v2 == 2000
    # the criterion: within 3 points of 90/10; and the exact binomial bounds
    assert abs(v2 / 20 - 10) <= 3 and abs(v1 / 20 - 90) <= 3
    assert within(v2, 2000, 10), f"v2 {v2}/2000, accepted {bounds(2000, 10)}"
    assert set(run) >= {"model", "mirrored", "clients", "latency_ms"} and run["clients"]["count"] == 10


def _json_runs(out: str) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = json.loads(out)["runs"]
    return runs


@pytest.mark.parametrize("config", DECLARING)
def test_declared_expectations_pass_on_the_reference_and_every_example(config: str, capsys: pytest.CaptureFixture[str],
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    code, out, err = rehearse(capsys, "--config", config, "--output", "json")
    assert code == 0, err
    from model_serving.fleet.load import load_fleet

    declared = [e.name for e in load_fleet(ROOT / config).rehearse]
    runs = _json_runs(out)
    assert [r["expectation"]["name"] for r in runs] == declared
    assert all(r["expectation"]["passed"] for r in runs)


def test_the_reference_and_the_ab_sticky_shadow_examples_declare_expectations() -> None:
    assert {"serving.yaml", "examples/ab-test.yaml", "examples/shadow.yaml", "examples/sticky-canary.yaml"} <= set(DECLARING)


def test_a_failing_expectation_exits_1_and_names_itself(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = yaml.safe_load((ROOT / "serving.yaml").read_text())
    data["rehearse"].append({"name": "everyone already on v2", "model": "ai-model", "expect": {"v2": 100},
                             "requests": 200})
    config = tmp_path / "serving.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    code, out, err = rehearse(capsys, "--config", str(config))
    assert code == 1
    assert "expectation 'everyone already on v2': FAIL" in out
    assert "expectation 'in-mesh callers split 90/10': PASS" in out
    failed = [line for line in err.splitlines() if "failed" in line]
    assert len(failed) == 1 and "'everyone already on v2'" in failed[0] and "expected 100 %" in failed[0]


def _broken(tmp_path: Path) -> dict[str, list[str]]:
    folder = tmp_path / "folder.yaml"  # made by the test: a config path that is a folder
    return {
        "unknown model": ["--model", "no-such-model"],
        "unknown host": ["--host", "nowhere.example.com"],
        "unknown env": ["--env", "staging", "--model", "ai-model"],
        "header without colon": ["--model", "ai-model", "--header", "x-user-cohort beta"],
        "cookie without =": ["--model", "ai-model", "--cookie", "ab-group"],
        "latency not a duration": ["--model", "ai-model", "--latency", "soon"],
        "time scale zero": ["--model", "ai-model", "--time-scale", "0"],
        "time scale not a number": ["--model", "ai-model", "--time-scale", "fast"],
        "standin without =": ["--model", "ai-model", "--standin", "v2"],
        "standin unknown behaviour": ["--model", "ai-model", "--standin", "v2=explode"],
        "standin rate above 1": ["--model", "ai-model", "--standin", "v2=5xx:2"],
        "body not json": ["--model", "ai-model", "--body", "{stream: true"],
        "requests zero": ["--model", "ai-model", "--requests", "0"],
        "requests not a number": ["--model", "ai-model", "--requests", "many"],
        "missing config": ["--config", str(tmp_path / "missing.yaml"), "--model", "ai-model"],
        "unreadable config (a folder)": ["--config", str(folder), "--model", "ai-model"],
        "model and host": ["--model", "ai-model", "--host", "ai-model.example.com"],
    }


@pytest.mark.parametrize("case", list(_broken(Path("/unused"))))
def test_bad_input_is_one_error_line_and_exit_2(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    (tmp_path / "folder.yaml").mkdir()
    code, out, err = rehearse(capsys, *_broken(tmp_path)[case])
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "fix:" in lines[0], err
    assert "Traceback" not in err


def test_bad_input_from_the_installed_command_has_no_traceback(tmp_path: Path) -> None:
    command = Path(sys.executable).parent / "model-serving"
    result = subprocess.run([str(command), "rehearse", "--config", str(tmp_path / "nope.yaml"), "--model", "x"],
                            capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert "Traceback" not in result.stderr and result.stdout == ""


def _limit(note: str) -> str:
    """The fixed words of a "not rehearsed" note: without the names and ports it starts with, up
    to its first colon, semicolon or parenthesis."""
    note = re.sub(r"^Service \S+ port \d+ \(\w+\): ", "", note)
    note = re.sub(r"^gateway port \d+: ", "", note)
    note = re.sub(r"^Service port \d+ ", "Service port ", note)
    return re.split(r":|;| \(", note)[0].strip()


def test_readme_names_every_limit_the_command_reports() -> None:
    from model_serving.rehearse.translate import translate

    readme = (ROOT / "README.md").read_text()
    section = readme.split("## What rehearse proves and what it does not", 1)[1].split("\n## ", 1)[0]
    section = " ".join(section.replace("**", "").replace("`", "").split())
    notes = {n for name in ["reference", *sorted(p.name for p in (ROOT / "examples" / "dist").iterdir())]
             for env in (["staging", "production"] if name == "environments" else ["production"])
             for n in translate(manifests(name, env)).notes}
    assert len(notes) >= 8
    missing = sorted(n for n in notes if _limit(n) not in section)
    assert not missing, missing
