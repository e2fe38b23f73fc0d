"""checkov's Kubernetes policies pass on every synthesized manifest (one offline checkov run).

checkov lives in its own virtualenv (`make checkov`: .tools/checkov from
tools/checkov-requirements.txt) because it pins packaging<24, which pytest cannot share.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import yaml

from helpers import ROOT, synth_data
from model_serving.commands.synth import render_files
from test_security import secure_fleet
from test_security_validation import committed_manifests

CHECKOV = ROOT / ".tools" / "checkov" / "bin" / "checkov"
CONFIG = ROOT / ".checkov.yaml"


def test_checkov_passes_every_synthesized_manifest(tmp_path: Path) -> None:
    assert CHECKOV.exists(), f"{CHECKOV} is missing; fix: run `make checkov` (make test does)"
    fleet, outputs = synth_data(secure_fleet(), source="secure.yaml")
    for name, text in render_files(fleet, outputs).items():
        if name.endswith(".yaml"):
            (tmp_path / name).write_text(text)
    files = committed_manifests() + sorted(tmp_path.glob("*.yaml"))
    # One invocation over every file: -f takes many files (several -d would rescan the first folder).
    result = subprocess.run(
        [str(CHECKOV), "--config-file", str(CONFIG), "-o", "json", "-f", *map(str, files)],
        cwd=ROOT,
        env={**os.environ, "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true"},  # no update check over the network
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(result.stdout)
    failed = [(c["check_id"], c["resource"], c["file_path"]) for c in report["results"]["failed_checks"]]
    assert failed == []
    assert report["summary"]["parsing_errors"] == 0
    # Every file was really scanned, and the only waiver is the declared service account token.
    scanned = {Path(c["file_abs_path"]).resolve() for c in report["results"]["passed_checks"]}
    assert scanned == {f.resolve() for f in files}
    skipped = {(c["check_id"], c["resource"]) for c in report["results"]["skipped_checks"]}
    tokens = {("CKV_K8S_38", f"Deployment.{ns}.embed-{v}") for ns in ("ai-prod", "ai-staging") for v in "ab"}
    # The fleet's gateway pods: what Istio's injector fills in (image, UID) and no liveness probe.
    gateways = {f"Deployment.{r.split('.', 2)[1]}.{r.split('.', 2)[2]}" for _, r, _ in
                [(c["check_id"], c["resource"], 0) for c in report["results"]["passed_checks"]] if r.endswith("gateway")}
    injected = {f"Deployment.{d['metadata']['namespace']}.{d['metadata']['name']}"
                for f in files for d in yaml.safe_load_all(f.read_text()) if d and d["kind"] == "Deployment"
                and d["spec"]["template"]["metadata"].get("annotations", {}).get("inject.istio.io/templates") == "gateway"}
    assert gateways == injected and len(injected) >= 10  # each environment's own gateway, in every file scanned
    waived = {(check, g) for g in gateways for check in ("CKV_K8S_14", "CKV_K8S_43", "CKV_K8S_40", "CKV_K8S_8")}
    # ...and imagePullPolicy IfNotPresent on Deployments whose every image is pinned by digest
    pinned = {("CKV_K8S_15", f"Deployment.{d['metadata']['namespace']}.{d['metadata']['name']}")
              for f in files for d in yaml.safe_load_all(f.read_text()) if d and d["kind"] == "Deployment"
              and all("@sha256:" in c["image"] for c in d["spec"]["template"]["spec"]["containers"]
                      + d["spec"]["template"]["spec"].get("initContainers", []))}
    assert pinned and skipped == tokens | waived | pinned


def test_checkov_config_skips_checks_only_by_id_with_a_reason() -> None:
    config = yaml.safe_load(CONFIG.read_text())
    assert config["framework"] == ["kubernetes"] and config["skip-download"] is True
    skipped = config.get("skip-check") or []
    lines = CONFIG.read_text().splitlines()
    for check in skipped:
        assert re.fullmatch(r"CKV2?_K8S_\d+", check), f"{check}: skip checks by ID only"
        [line] = [line for line in lines if re.search(rf"\b{check}\b", line) and not line.lstrip().startswith("#")]
        assert re.search(r"#\s*\S{3,}", line), f"{check}: give the reason as a comment on its line"
