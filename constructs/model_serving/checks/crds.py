"""Where the Istio CRD bundle comes from: one answer for validation, imports, tests and make.

The bundle (Istio's `crd-all.gen.yaml`) is third-party and never committed. In order:

1. `$MODEL_SERVING_CRDS`: a file the user names, taken as it is (it may be another Istio version);
2. `../shared/istio/crd-all.gen.yaml` beside the checkout (the CI layout);
3. the copy cached under `.tools/`, else a download of the `istioCrds` URL pinned in cdk8s.yaml
   (`$MODEL_SERVING_CRDS_URL` names a mirror instead), accepted only if its sha256 is the
   `istioCrdsSha256` pinned beside it.

`python -m model_serving.checks.crds` runs the resolution once (make's set-up step), so a synth
or a test run never downloads; any failure is one `error:` line and exit status 2.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import yaml

ENV_PATH = "MODEL_SERVING_CRDS"
ENV_URL = "MODEL_SERVING_CRDS_URL"
BUNDLE_NAME = "crd-all.gen.yaml"
#: The checkout this package runs from (constructs/model_serving/checks/crds.py -> repo root).
ROOT = Path(__file__).resolve().parents[3]
FIX = f"fix: set {ENV_PATH} to a local copy of the bundle pinned in cdk8s.yaml, or {ENV_URL} to a mirror of it"
# The real bundle is under 1 MB; a server sending far more is not sending it.
_MAX_BYTES = 64 * 1024 * 1024
_TIMEOUT_SECONDS = 60


class CrdBundleError(Exception):
    """The bundle cannot be found, fetched or trusted; the message is one line that names the fix."""


@dataclass(frozen=True)
class Pin:
    """The bundle recorded in cdk8s.yaml: where to download it and what its sha256 must be."""

    url: str
    sha256: str


def read_pin(root: Path = ROOT) -> Pin:
    """The `istioCrds` URL and `istioCrdsSha256` digest from `root`/cdk8s.yaml."""
    config = root / "cdk8s.yaml"
    try:
        data = yaml.safe_load(config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise CrdBundleError(f"{config}: cannot read the pinned bundle ({type(error).__name__}); {FIX}") from None
    data = data if isinstance(data, dict) else {}
    url, digest = data.get("istioCrds"), data.get("istioCrdsSha256")
    if not isinstance(url, str) or not isinstance(digest, str) or len(digest) != 64:
        raise CrdBundleError(f"{config}: istioCrds and istioCrdsSha256 (64 hex digits) must both be set; {FIX}")
    return Pin(url=url, sha256=digest.lower())


def shared_path(root: Path = ROOT) -> Path:
    """The bundle's place in the CI layout: `../shared/istio/` beside the checkout."""
    return root.parent / "shared" / "istio" / BUNDLE_NAME


def cache_path(root: Path, sha256: str) -> Path:
    """Where a verified download is kept: named by its digest, so a new pin never reuses an old file."""
    return root / ".tools" / "istio-crds" / sha256[:16] / BUNDLE_NAME


def file_sha256(path: Path) -> str:
    """The hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fetch_to(url: str, handle: BinaryIO) -> str:
    """Stream `url` into the open binary file `handle`, returning the running sha256."""
    digest = hashlib.sha256()
    total = 0
    with urllib.request.urlopen(url, timeout=_TIMEOUT_SECONDS) as response:
        for block in iter(lambda: response.read(1 << 16), b""):
            total += len(block)
            if total > _MAX_BYTES:
                raise CrdBundleError(f"{url}: more than {_MAX_BYTES >> 20} MB, not a CRD bundle; {FIX}")
            digest.update(block)
            handle.write(block)
    return digest.hexdigest()


def _reason(error: Exception) -> str:
    """A one-line reason: `HTTP 404 Not Found`, `Connection refused`, `unknown url type: ...`."""
    if isinstance(error, urllib.error.HTTPError):
        text = f"HTTP {error.code} {error.reason}"
    elif isinstance(error, urllib.error.URLError):
        text = str(getattr(error.reason, "strerror", None) or error.reason)
    else:
        text = str(getattr(error, "strerror", None) or error) or type(error).__name__
    return " ".join(text.split())


def download(url: str, destination: Path, sha256: str) -> Path:
    """Download `url` to `destination` if, and only if, its sha256 is `sha256`; nothing is kept otherwise."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=".download.", dir=destination.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            digest = _fetch_to(url, handle)
        if digest != sha256:
            raise CrdBundleError(
                f"{url}: sha256 {digest} is not the pinned istioCrdsSha256 {sha256} in cdk8s.yaml; "
                f"fix: point {ENV_URL} at a mirror of exactly that file"
            )
        os.replace(temporary, destination)
    except (OSError, ValueError, http.client.HTTPException) as error:  # URLError is an OSError
        raise CrdBundleError(f"{url}: cannot download the Istio CRD bundle ({_reason(error)}); {FIX}") from None
    finally:
        Path(temporary).unlink(missing_ok=True)
    return destination


def bundle_path(*, root: Path = ROOT, environ: Mapping[str, str] | None = None) -> Path:
    """The Istio CRD bundle to use, downloading and caching it under `root`/.tools if need be."""
    environ = os.environ if environ is None else environ
    explicit = environ.get(ENV_PATH)
    if explicit:
        if not Path(explicit).is_file():
            raise CrdBundleError(f"{ENV_PATH}={explicit}: no such file; fix: name an existing crd-all.gen.yaml, or unset it")
        return Path(explicit)
    beside = shared_path(root)
    if beside.is_file():
        return beside
    pin = read_pin(root)
    cached = cache_path(root, pin.sha256)
    if cached.is_file() and file_sha256(cached) == pin.sha256:
        return cached
    return download(environ.get(ENV_URL) or pin.url, cached, pin.sha256)


def main(argv: Sequence[str] | None = None) -> int:
    """Resolve (and if need be download) the bundle; `--print` writes its path to stdout."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        path = bundle_path()
    except CrdBundleError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if "--print" in args:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
