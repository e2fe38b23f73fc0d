"""Bad input to the commands that edit or read: one `error:` line, non-zero, nothing changed.

promote, rollback, set-weights, plan, analyze and rehearse, with bad arguments, missing files
and unreadable files. Tests run as root in CI, where chmod cannot make a file unreadable: a
directory in place of the file, and a file of invalid bytes, stand in for it.

argparse's own usage errors keep this contract too: `commands/cli.py` replaces argparse's
usage-plus-error output with one line `error: model-serving <command>: <what>; fix: see
`model-serving <command> --help``, exit 2 (proven below for each kind argparse raises).
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ROOT, tree
from model_serving.commands.cli import main

NOT_UTF8 = b"environments: \xff\xfe\n"


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """serving.yaml and dist/, plus the bad inputs: a folder, stray bytes, broken YAML, a plain file."""
    shutil.copy(ROOT / "serving.yaml", tmp_path / "serving.yaml")
    shutil.copytree(ROOT / "dist", tmp_path / "dist")
    (tmp_path / "folder.yaml").mkdir()  # a folder where a file should be: read fails as if unreadable
    (tmp_path / "bytes.yaml").write_bytes(NOT_UTF8)
    (tmp_path / "broken.yaml").write_text("environments: [\n")
    (tmp_path / "plain.txt").write_text("a file, not a folder\n")
    bad_dist = tmp_path / "bad-dist"
    shutil.copytree(ROOT / "dist", bad_dist)
    with (bad_dist / "production.k8s.yaml").open("ab") as out:
        out.write(b"# \xff\n")
    return tmp_path


CONFIG_FILES = {
    "missing": ("missing.yaml", "cannot read the file"),
    "a folder": ("folder.yaml", "cannot read the file"),
    "not UTF-8": ("bytes.yaml", "is not UTF-8 text"),
    "invalid YAML": ("broken.yaml", "invalid YAML"),
}
COMMANDS = {
    "promote": ["promote", "ai-model"],
    "rollback": ["rollback", "ai-model"],
    "set-weights": ["set-weights", "ai-model", "v1=50", "v2=50"],
    "plan": ["plan"],
    "rehearse": ["rehearse", "--model", "ai-model", "--requests", "1"],
}


def _run(workdir: Path, capsys: pytest.CaptureFixture[str], args: list[str], *expected: str) -> str:
    """Run the CLI in-process (a traceback would fail the test); check the contract; return the line."""
    before = tree(workdir)
    try:
        code = main(args)
    except SystemExit as stop:  # argparse's usage errors exit from inside parse_args
        assert stop.code == 2
        code = stop.code
    captured = capsys.readouterr()
    assert code != 0, captured.err
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    line = lines[0]
    assert line.startswith("error: ") and "; fix: " in line and len(line) < 400, line
    for text in expected:
        assert text in line, line
    assert tree(workdir) == before
    return line


@pytest.mark.parametrize("kind", CONFIG_FILES)
@pytest.mark.parametrize("command", COMMANDS)
def test_a_missing_or_unreadable_config_is_one_line(workdir: Path, capsys: pytest.CaptureFixture[str], command: str, kind: str) -> None:
    name, problem = CONFIG_FILES[kind]
    config = str(workdir / name)
    args = [*COMMANDS[command], "--config", config]
    if command != "rehearse":
        args += ["--out", str(workdir / "dist")]
    _run(workdir, capsys, args, f"error: {config}: ", problem)


BAD_ARGUMENTS = {
    "no command": ([], "the following arguments are required: command"),
    "unknown command": (["deploy"], "invalid choice: 'deploy'"),
    "promote without a model": (["promote"], "required: MODEL"),
    "set-weights without weights": (["set-weights", "ai-model"], "required: VERSION=WEIGHT"),
    "set-weights not a number": (["set-weights", "ai-model", "v1=abc"], "weight 'abc' is not a whole number"),
    "set-weights above 100": (["set-weights", "ai-model", "v1=101"], "fix: "),
    "set-weights not summing to 100": (["set-weights", "ai-model", "v1=50", "v2=40"], "fix: "),
    "set-weights unknown version": (["set-weights", "ai-model", "v9=100"], "v9"),
    "promote unknown model": (["promote", "nope"], "nope"),
    "promote without rollout": (["promote", "ai-model"], "no rollout to promote"),
    "rollback unknown environment": (["rollback", "ai-model", "--env", "qa"], "qa"),
    "unknown option": (["promote", "ai-model", "--force"], "unrecognized arguments: --force"),
    "plan unknown format": (["plan", "--format", "pdf"], "invalid choice: 'pdf'"),
    "plan --out a file": (["plan", "--out", "{dir}/plain.txt"], "plain.txt: not a folder"),
    "plan --out with stray bytes": (["plan", "--out", "{dir}/bad-dist"], "production.k8s.yaml: byte"),
    "plan unknown --ref": (["plan", "--ref", "no-such-ref-anywhere"], "--ref: "),
    "analyze nothing": (["analyze"], "required: PATH"),
    "analyze missing": (["analyze", "{dir}/missing.yaml"], "missing.yaml: no such file or directory"),
    "analyze stray bytes": (["analyze", "{dir}/bytes.yaml"], "bytes.yaml: byte 14 is not UTF-8 text"),
    "analyze invalid YAML": (["analyze", "{dir}/broken.yaml"], "broken.yaml: line"),
    "analyze folder without YAML": (["analyze", "{dir}/folder.yaml"], "no *.yaml or *.yml files found"),
    "analyze unknown output": (["analyze", "-o", "xml", "{dir}/dist"], "invalid choice: 'xml'"),
    "rehearse --time-scale inf": (["rehearse", "--model", "ai-model", "--time-scale", "inf"], "--time-scale: 'inf'"),
    "rehearse --time-scale nan": (["rehearse", "--model", "ai-model", "--time-scale", "nan"], "--time-scale: 'nan'"),
    "rehearse --time-scale 0": (["rehearse", "--model", "ai-model", "--time-scale", "0"], "--time-scale: '0'"),
    "rehearse --port not a number": (["rehearse", "--model", "ai-model", "--port", "abc"], "invalid int value: 'abc'"),
    "rehearse --requests 0": (["rehearse", "--model", "ai-model", "--requests", "0"], "--requests: 0"),
    "rehearse --header without colon": (["rehearse", "--model", "ai-model", "--header", "x"], "--header: 'x'"),
    "rehearse --body not JSON": (["rehearse", "--model", "ai-model", "--body", "{bad"], "--body: not JSON"),
    "rehearse --latency a number": (["rehearse", "--model", "ai-model", "--latency", "5"], "--latency: '5'"),
    "rehearse --standin unknown item": (["rehearse", "--model", "ai-model", "--standin", "v1=slow"], "--standin: 'slow'"),
    "rehearse --standin unknown version": (["rehearse", "--model", "ai-model", "--standin", "v9=down"], "--standin: 'v9' selects no"),
    "rehearse --standin bad replica": (["rehearse", "--model", "ai-model", "--standin", "v1#x=down"], "--standin: 'v1#x'"),
    "rehearse --standin unknown model": (["rehearse", "--model", "ai-model", "--standin", "llm/*=down"], "--standin: 'llm/*'"),
    "rehearse unknown model": (["rehearse", "--model", "nope"], "--model: unknown model 'nope'"),
    "rehearse unknown environment": (["rehearse", "--model", "ai-model", "--env", "qa"], "--env: unknown environment 'qa'"),
    "rehearse unknown host": (["rehearse", "--host", "nope.example.com"], "--host: no model is served on host"),
}
NO_CONFIG_OPTIONS = ("analyze", "deploy")


@pytest.mark.parametrize("case", BAD_ARGUMENTS)
def test_a_bad_argument_is_one_line(workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    args, expected = BAD_ARGUMENTS[case]
    args = [a.replace("{dir}", str(workdir)) for a in args]
    monkeypatch.chdir(workdir)  # the commands' defaults (serving.yaml, dist) are the temp copies
    if args and args[0] not in NO_CONFIG_OPTIONS:
        args = [*args, "--config", str(workdir / "serving.yaml")]
    _run(workdir, capsys, args, expected)


def test_usage_errors_are_one_short_line_from_the_console_script(workdir: Path) -> None:
    # The installed script, not main(): what a user's shell sees, argparse's exit status included.
    script = Path(sys.executable).with_name("model-serving")
    done = subprocess.run([str(script), "set-weights", "ai-model"], cwd=workdir, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 2
    assert done.stderr == (
        "error: model-serving set-weights: the following arguments are required: VERSION=WEIGHT; "
        "fix: see `model-serving set-weights --help`\n"
    )
    assert done.stdout == ""


def test_promote_of_a_canary_without_pods_is_refused(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Promoting would give v2 live weight while it has replicas: 0: the edit is refused, nothing written.
    text = (workdir / "serving.yaml").read_text()
    text = text.replace("weight: 90", "weight: 100").replace("        weight: 10\n        replicas: 2", "        weight: 0\n        replicas: 0")
    text = text.replace("    port: 8080\n", "    port: 8080\n    rollout: {stable: v1, canary: v2}\n")
    (workdir / "serving.yaml").write_text(text)
    _run(workdir, capsys, ["promote", "ai-model", "--config", str(workdir / "serving.yaml"), "--out", str(workdir / "dist")],
         "version v2 has replicas: 0 but takes 10% of live traffic")


def test_every_selector_form_of_a_real_stand_in_is_accepted() -> None:
    from model_serving.commands.rehearse import _check_selectors
    from model_serving.fleet.load import load_fleet

    fleet = load_fleet(ROOT / "serving.yaml")
    _check_selectors(fleet, "production", ["v1", "v2#1", "ai-model/v1", "ai-model/v2#0", "ai-model/*"])
