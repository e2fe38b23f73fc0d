"""Synthesize every examples/<name>.yaml into examples/dist/<name>/ (one process for all).

Usage: python scripts/synth_examples.py [--warnings]

The examples' warnings are known and deliberate (a mirror's GPU cost, a fault drill that turns
retries off): repeated on every `make synth`, they would teach readers to skip warning lines,
including the one about their own serving.yaml. So an example's warnings are printed only when
its output changed (the example was just edited: the moment they matter), or with --warnings.
Errors are always printed.
"""
from __future__ import annotations

import contextlib
import io
import os
import sys
from pathlib import Path

from model_serving.commands.synth import run

ROOT = Path(__file__).resolve().parents[1]


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def synth_example(config: Path, *, show_warnings: bool) -> int:
    """Run the real synth for one example, holding back its warnings unless its output changed."""
    outdir = ROOT / "examples" / "dist" / config.stem
    before = _files(outdir) if outdir.is_dir() else {}
    captured = io.StringIO()
    with contextlib.redirect_stderr(captured):
        status = run(config.relative_to(ROOT), outdir.relative_to(ROOT), quiet=True,
                     validate=os.environ.get("MODEL_SERVING_VALIDATE") == "1")
    if status or show_warnings or _files(outdir) != before:
        sys.stderr.write(captured.getvalue())
    return status


def main(argv: list[str]) -> int:
    """Synthesize each example in name order; stop at the first failure."""
    for config in sorted((ROOT / "examples").glob("*.yaml")):
        status = synth_example(config, show_warnings="--warnings" in argv)
        if status:
            return status
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
