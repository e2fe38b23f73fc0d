"""Regenerate imports/ from Istio's CRD bundle, keeping only the kinds we use at v1.

Usage: python scripts/import_istio.py [PATH_OR_URL]
Default source: the `istioCrds` URL recorded in cdk8s.yaml.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
VERSION = "v1"
# Every Istio kind the chart emits; importing the whole bundle costs ~0.5 s and ~90 MB per synth.
KINDS = {
    ("networking.istio.io", "DestinationRule"),
    ("networking.istio.io", "Gateway"),
    ("networking.istio.io", "VirtualService"),
    ("security.istio.io", "AuthorizationPolicy"),
    ("security.istio.io", "PeerAuthentication"),
    ("security.istio.io", "RequestAuthentication"),
}


def read_source(source: str) -> str:
    """Return the bundle text from a local path or an http(s) URL."""
    if source.startswith(("http://", "https://")):
        with urllib.request.urlopen(source, timeout=60) as response:
            return response.read().decode()
    return Path(source).read_text()


def select_crds(text: str) -> list[dict]:
    """Keep the CRDs in KINDS, each trimmed to its v1 version."""
    selected = []
    for doc in yaml.safe_load_all(text):
        if not doc or doc.get("kind") != "CustomResourceDefinition":
            continue
        spec = doc["spec"]
        if (spec["group"], spec["names"]["kind"]) not in KINDS:
            continue
        spec["versions"] = [v for v in spec["versions"] if v["name"] == VERSION]
        selected.append(doc)
    found = {(d["spec"]["group"], d["spec"]["names"]["kind"]) for d in selected}
    if found != KINDS:
        missing = ", ".join(sorted(f"{g}/{k}" for g, k in KINDS - found))
        raise SystemExit(f"import_istio: the CRD bundle lacks {missing}; fix: pass Istio 1.30's crd-all.gen.yaml")
    return selected


def main(argv: list[str]) -> int:
    config = yaml.safe_load((ROOT / "cdk8s.yaml").read_text())
    source = argv[0] if argv else config["istioCrds"]
    crds = select_crds(read_source(source))
    with tempfile.TemporaryDirectory() as tmp:
        trimmed = Path(tmp) / "istio-crds.yaml"
        trimmed.write_text(yaml.safe_dump_all(crds, sort_keys=False))
        shutil.rmtree(ROOT / "imports" / "io", ignore_errors=True)
        subprocess.run(
            ["cdk8s", "import", str(trimmed), "--language", "python", "--output", "imports"],
            cwd=ROOT,
            check=True,
        )
    print(f"imports/: {len(crds)} Istio kinds at {VERSION} from {source}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
