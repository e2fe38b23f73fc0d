"""The tools make installs work when called directly, outside make and without an activated shell."""
from __future__ import annotations

import os
import subprocess

from helpers import ROOT

PIPENV = ROOT / ".tools" / "bin" / "pipenv"
SHOW = "import os; print(os.environ['PIPENV_INDEX_URL'], os.environ['PIPENV_VENV_IN_PROJECT'])"


def _plain_environment(**extra: str) -> dict[str, str]:
    """A user's shell: no PIPENV_* settings, no virtualenv on PATH, no pip configuration files."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("PIPENV_", "VIRTUAL_ENV")) and k != "PIP_INDEX_URL"}
    path = [p for p in os.environ["PATH"].split(os.pathsep) if not p.startswith(str(ROOT))]
    return {**keep, "PATH": os.pathsep.join(path), "PIP_CONFIG_FILE": os.devnull, **extra}


def _pipenv_run(environ: dict[str, str]) -> str:
    done = subprocess.run(
        [str(PIPENV), "run", "python", "-c", SHOW], cwd=ROOT, env=environ, capture_output=True, text=True, check=True, timeout=120
    )
    return done.stdout.strip()


def test_pipenv_defaults_the_index_to_pips_own() -> None:
    from pip._internal.models.index import PyPI

    assert _pipenv_run(_plain_environment()) == f"{PyPI.simple_url} 1"


def test_pipenv_follows_the_index_pip_is_configured_with() -> None:
    assert _pipenv_run(_plain_environment(PIP_INDEX_URL="http://127.0.0.1:9/simple")) == "http://127.0.0.1:9/simple 1"


def test_pipenv_keeps_an_index_the_user_set() -> None:
    assert _pipenv_run(_plain_environment(PIPENV_INDEX_URL="http://127.0.0.1:8/simple")) == "http://127.0.0.1:8/simple 1"


def test_cdk8s_cli_runs_on_the_virtualenvs_node() -> None:
    done = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "cdk8s"), "--version"],
        cwd=ROOT, env=_plain_environment(PATH="/usr/bin:/bin"), capture_output=True, text=True, check=False, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lock = (ROOT / "package-lock.json").read_text()
    assert f'"version": "{done.stdout.strip()}"' in lock
    assert "end-of-life" not in done.stderr
