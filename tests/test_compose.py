"""The README's composition example runs as written, from an empty folder, and writes only there."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from helpers import ROOT, tree


def _example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    return next(b for b in blocks if b.startswith("# compose.py"))


def test_readme_composition_example_writes_its_own_folder(tmp_path: Path) -> None:
    (tmp_path / "compose.py").write_text(_example())
    before = tree(ROOT / "dist")
    # The user's PATH, without the project's virtualenv: the system Node (if any) must not be used.
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if ".venv" not in p)
    env = {k: v for k, v in os.environ.items() if k not in ("JSII_NODE", "CDK8S_OUTDIR")} | {"PATH": path}
    result = subprocess.run([sys.executable, "compose.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert "end-of-life" not in result.stderr and result.stderr.strip() == ""
    assert result.stdout.strip() == "['ServiceAccount', 'v1', 'v2', 'Resource', 'DestinationRule', 'Access', 'Routes']"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["compose.py", "manifests"]
    objects = [o for o in yaml.safe_load_all((tmp_path / "manifests" / "team-a.k8s.yaml").read_text()) if o]
    kinds = [o["kind"] for o in objects]
    # The ConfigMap, then the gateway's own pods (ServiceAccount first) and its Gateway; routes last.
    assert kinds[:2] == ["ConfigMap", "ServiceAccount"] and "Gateway" in kinds and kinds[-1] == "VirtualService"
    assert tree(ROOT / "dist") == before
