"""The README's commands work as written: its set-up is two make targets, and every `$ ` transcript
runs, in a copy of the project, with the output it shows."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import ROOT

README = (ROOT / "README.md").read_text()
# Set up once per machine, not per copy: the copy links them.
SHARED = (".venv", ".tools", "node_modules")


def _blocks() -> list[str]:
    return re.findall(r"^```[a-z]*\n(.*?)^```$", README, flags=re.S | re.M)


def _transcripts() -> list[list[tuple[str, list[str]]]]:
    """Each block holding `$ ` lines, as (command, the output lines shown under it)."""
    found = []
    for block in _blocks():
        steps: list[tuple[str, list[str]]] = []
        for line in block.splitlines():
            if line.startswith("$ "):
                steps.append((line[2:], []))
            elif steps and line.strip():
                steps[-1][1].append(line)
        if steps:
            found.append(steps)
    return found


def _project_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "project"
    shutil.copytree(ROOT, copy, symlinks=True, ignore=shutil.ignore_patterns(*SHARED, ".git", "__pycache__", ".cdk8s.out"))
    for name in SHARED:
        (copy / name).symlink_to(ROOT / name)
    return copy


def _in_order(expected: list[str], actual: list[str]) -> bool:
    """Every line the README shows appears in the output, in that order (stdout and stderr merged)."""
    lines = iter(actual)
    return all(any(line.rstrip() == want.rstrip() for line in lines) for want in expected)


def test_setup_is_the_two_make_targets_and_ci_runs_the_second() -> None:
    setup = README[README.index("## Set-up"):]
    first_block = _blocks()[0] if README.index("```") > README.index("## Set-up") else ""
    commands = [line.split("#")[0].strip() for line in first_block.splitlines() if line.strip()]
    assert commands == ["make synth", "make test"], setup[:400]
    assert "\nmake test\n" in (ROOT / ".ci" / "run").read_text()


@pytest.mark.parametrize("steps", _transcripts(), ids=lambda steps: steps[0][0][:60])
def test_transcript_runs_as_written(steps: list[tuple[str, list[str]]], tmp_path: Path) -> None:
    project = _project_copy(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if not p.startswith(str(ROOT)))
    for command, shown in steps:
        done = subprocess.run(["bash", "-c", command], cwd=project, env=env, capture_output=True, text=True, timeout=300)
        output = (done.stdout + done.stderr).splitlines()
        status = re.search(r"# exits (\d+)", command)
        expected = int(status.group(1)) if status else 2 if any(line.startswith("error:") for line in shown) else 0
        assert done.returncode == expected, f"$ {command}\n{done.stdout}{done.stderr}"
        assert "Traceback" not in done.stderr, done.stderr
        assert _in_order(shown, output), f"$ {command}\nREADME shows:\n" + "\n".join(shown) + "\ngot:\n" + "\n".join(output)
