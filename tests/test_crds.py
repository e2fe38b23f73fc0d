"""The Istio CRD bundle's resolution: environment, ../shared, or a sha256-checked download.

Downloads are served from loopback: a clone with nothing beside it gets the bundle from the
URL pinned in cdk8s.yaml, and MODEL_SERVING_CRDS_URL stands in for it here (no internet).
"""
from __future__ import annotations

import functools
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from helpers import ROOT, tree
from model_serving.checks import crds
from model_serving.checks.validate import default_crd_path


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def bundle() -> Path:
    """The real bundle, however this checkout resolves it."""
    return crds.bundle_path()


@pytest.fixture(scope="module")
def mirror(bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A loopback HTTP server: /crd-all.gen.yaml is the real bundle, /tampered.yaml one byte off."""
    folder = tmp_path_factory.mktemp("mirror")
    shutil.copy(bundle, folder / "crd-all.gen.yaml")
    (folder / "tampered.yaml").write_bytes(bundle.read_bytes() + b"\n")
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def lone_root(tmp_path: Path) -> Path:
    """A checkout with nothing beside it: only cdk8s.yaml (the pin), no ../shared, no cache."""
    root = tmp_path / "clone"
    root.mkdir()
    shutil.copy(ROOT / "cdk8s.yaml", root / "cdk8s.yaml")
    return root


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_pin_is_the_sha256_of_the_bundle(bundle: Path) -> None:
    assert crds.file_sha256(bundle) == crds.read_pin().sha256


def test_environment_wins_over_shared(tmp_path: Path) -> None:
    own = tmp_path / "own.yaml"
    own.write_text("kind: List\n")
    (tmp_path / "shared" / "istio").mkdir(parents=True)
    (tmp_path / "shared" / "istio" / "crd-all.gen.yaml").write_text("")
    assert crds.bundle_path(root=tmp_path / "repo", environ={crds.ENV_PATH: str(own)}) == own


def test_shared_bundle_beside_the_checkout_is_used(tmp_path: Path) -> None:
    beside = tmp_path / "shared" / "istio" / "crd-all.gen.yaml"
    beside.parent.mkdir(parents=True)
    beside.write_text("")
    assert crds.bundle_path(root=tmp_path / "repo", environ={crds.ENV_URL: "http://127.0.0.1:9/never"}) == beside


def test_default_crd_path_follows_the_resolution(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    own = tmp_path / "crds.yaml"
    own.write_text("")
    monkeypatch.setenv(crds.ENV_PATH, str(own))
    assert default_crd_path() == own


def test_fails_when_the_environment_names_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(crds.CrdBundleError, match=r"MODEL_SERVING_CRDS=.*missing\.yaml: no such file; fix: "):
        crds.bundle_path(root=tmp_path, environ={crds.ENV_PATH: str(tmp_path / "missing.yaml")})


def test_download_with_the_pinned_sha256_is_cached(lone_root: Path, mirror: str) -> None:
    url = f"{mirror}/crd-all.gen.yaml"
    path = crds.bundle_path(root=lone_root, environ={crds.ENV_URL: url})
    assert path == crds.cache_path(lone_root, crds.read_pin(lone_root).sha256)
    assert path.is_relative_to(lone_root / ".tools")
    assert crds.file_sha256(path) == crds.read_pin(lone_root).sha256
    # Cached: an unreachable mirror no longer matters.
    unreachable = f"http://127.0.0.1:{_closed_port()}/crd-all.gen.yaml"
    assert crds.bundle_path(root=lone_root, environ={crds.ENV_URL: unreachable}) == path


def test_fails_when_the_download_has_another_sha256(lone_root: Path, mirror: str) -> None:
    with pytest.raises(crds.CrdBundleError, match=r"tampered\.yaml: sha256 [0-9a-f]{64} is not the pinned istioCrdsSha256"):
        crds.bundle_path(root=lone_root, environ={crds.ENV_URL: f"{mirror}/tampered.yaml"})
    assert [p for p in (lone_root / ".tools").rglob("*") if p.is_file()] == []


def test_fails_when_the_mirror_lacks_the_file(lone_root: Path, mirror: str) -> None:
    with pytest.raises(crds.CrdBundleError, match=r"cannot download the Istio CRD bundle \(HTTP 404 .*\); fix: set MODEL_SERVING_CRDS"):
        crds.bundle_path(root=lone_root, environ={crds.ENV_URL: f"{mirror}/nothing-here.yaml"})


def _scratch_checkout(tmp_path: Path) -> Path:
    """The files a synth reads, copied to tmp_path/clone: nothing beside it, its own .tools/."""
    clone = tmp_path / "clone"
    for name in ("constructs", "imports", "examples", "dist"):
        shutil.copytree(ROOT / name, clone / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("cdk8s.yaml", "main.py", "serving.yaml"):
        shutil.copy(ROOT / name, clone / name)
    return clone


def _run_in(clone: Path, args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    """`python args` with the clone's own package first on sys.path (so its ROOT is the clone)."""
    environ = {k: v for k, v in os.environ.items() if k not in (crds.ENV_PATH, crds.ENV_URL)}
    environ.update(PYTHONPATH=f"{clone / 'constructs'}{os.pathsep}{clone}", **env)
    return subprocess.run([sys.executable, *args], check=False, cwd=clone, env=environ, capture_output=True, text=True, timeout=300)


def test_fails_in_one_line_when_offline_without_a_bundle(tmp_path: Path) -> None:
    clone = _scratch_checkout(tmp_path)
    unreachable = f"http://127.0.0.1:{_closed_port()}/crd-all.gen.yaml"
    for args in (["-m", "model_serving.checks.crds"], ["-O", "main.py", "--validate"]):
        before = tree(clone / "dist")
        done = _run_in(clone, args, MODEL_SERVING_CRDS_URL=unreachable)
        assert done.returncode == 2, done.stderr
        errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
        assert errors == [
            f"error: {unreachable}: cannot download the Istio CRD bundle (Connection refused); {crds.FIX}"
        ], done.stderr
        assert "Traceback" not in done.stderr
        assert tree(clone / "dist") == before


def test_synth_validates_in_a_clone_with_nothing_beside_it(tmp_path: Path, mirror: str) -> None:
    clone = _scratch_checkout(tmp_path)
    assert not (clone.parent / "shared").exists()
    before = tree(clone / "dist")
    done = _run_in(clone, ["-O", "main.py", "--validate"], MODEL_SERVING_CRDS_URL=f"{mirror}/crd-all.gen.yaml")
    assert done.returncode == 0, done.stderr
    assert tree(clone / "dist") == before
    assert crds.cache_path(clone, crds.read_pin().sha256).is_file()
