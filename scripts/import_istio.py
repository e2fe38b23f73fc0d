"""Regenerate imports/ from Istio's CRD bundle, keeping only the kinds we use, each at its one version.

Usage: python scripts/import_istio.py [PATH_OR_URL]
Default source: the bundle as `make crds` resolves it (model_serving.checks.crds): MODEL_SERVING_CRDS,
../shared/istio/, or the sha256-checked download of cdk8s.yaml's istioCrds (MODEL_SERVING_CRDS_URL: a mirror).
A URL given here is checked against the same pinned sha256.

`cdk8s import` runs in a scratch folder: it appends the file it imported to the `imports:` list
of the cdk8s.yaml it finds, and the project's cdk8s.yaml must stay as committed. The new classes
replace imports/io only once the import has succeeded.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from model_serving.checks import crds

ROOT = Path(__file__).resolve().parents[1]
# Every Istio kind the chart emits, with the version it is written at; importing the whole bundle
# costs ~0.5 s and ~90 MB per synth. TrafficExtension has no v1 yet (v1alpha1 is its only version).
KINDS = {
    ("networking.istio.io", "DestinationRule"): "v1",
    ("networking.istio.io", "Gateway"): "v1",
    ("networking.istio.io", "VirtualService"): "v1",
    ("security.istio.io", "AuthorizationPolicy"): "v1",
    ("security.istio.io", "PeerAuthentication"): "v1",
    ("security.istio.io", "RequestAuthentication"): "v1",
    ("extensions.istio.io", "TrafficExtension"): "v1alpha1",
}


class BundleImportError(Exception):
    """A one-line `<source>: <what>; fix: <how>` problem."""


def bundle(source: str | None) -> Path:
    """The bundle file for `source`: a path, a URL (downloaded and checked against the pin), or the default."""
    if source is None:
        return crds.bundle_path(root=ROOT)
    if source.startswith(("http://", "https://")):
        pin = crds.read_pin(ROOT)
        return crds.download(source, crds.cache_path(ROOT, pin.sha256), pin.sha256)
    path = Path(source)
    if not path.is_file():
        raise BundleImportError(f"{source}: no such file; fix: pass Istio's crd-all.gen.yaml (a path or URL), or nothing")
    return path


def select_crds(path: Path) -> list[dict]:
    """Keep the CRDs in KINDS, each trimmed to the version KINDS names."""
    try:
        documents = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise BundleImportError(f"{path}: not a readable YAML file ({type(error).__name__}); "
            "fix: pass Istio's crd-all.gen.yaml") from None
    selected = []
    for doc in documents:
        if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
            continue
        spec = doc.get("spec") or {}
        key = (spec.get("group"), (spec.get("names") or {}).get("kind"))
        if key not in KINDS:
            continue
        spec["versions"] = [v for v in spec.get("versions") or [] if v.get("name") == KINDS[key]]
        selected.append(doc)
    found = {(d["spec"]["group"], d["spec"]["names"]["kind"]) for d in selected if d["spec"]["versions"]}
    if found != set(KINDS):
        missing = ", ".join(sorted(f"{g}/{k} {KINDS[g, k]}" for g, k in set(KINDS) - found))
        raise BundleImportError(f"{path}: the CRD bundle lacks {missing}; fix: pass Istio 1.30's crd-all.gen.yaml")
    return selected


def cdk8s_import(selected: list[dict]) -> None:
    """Run `cdk8s import` on `selected` in a scratch folder, then swap the result into imports/io."""
    cli = Path(sys.executable).parent / "cdk8s"  # the virtualenv's, on its own Node (tools/cdk8s.sh)
    with tempfile.TemporaryDirectory(prefix="import-istio.") as tmp:
        scratch = Path(tmp)
        (scratch / "istio-crds.yaml").write_text(yaml.safe_dump_all(selected, sort_keys=False))
        done = subprocess.run(
            [str(cli) if cli.exists() else "cdk8s", "import", "istio-crds.yaml", "--language", "python", "--output", "imports"],
            cwd=scratch,
            check=False,
        )
        if done.returncode != 0 or not (scratch / "imports" / "io").is_dir():
            raise BundleImportError(f"cdk8s import: failed (exit status {done.returncode}); "
                "fix: see its output above; imports/ left unchanged")
        shutil.rmtree(ROOT / "imports" / "io", ignore_errors=True)
        shutil.move(scratch / "imports" / "io", ROOT / "imports" / "io")


def main(argv: list[str]) -> int:
    """Regenerate imports/; any problem is one `error:` line and exit status 2."""
    source = argv[0] if argv else None
    try:
        path = bundle(source)
        selected = select_crds(path)
        cdk8s_import(selected)
    except (BundleImportError, crds.CrdBundleError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"imports/: {len(selected)} Istio kinds ({', '.join(sorted(set(KINDS.values())))}) from {source or path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
