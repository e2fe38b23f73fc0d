"""Synthesize every examples/<name>.yaml into examples/dist/<name>/ (one process for all)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from model_serving.commands.synth import run

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    """Run the real synth for each example; stop at the first failure."""
    for config in sorted((ROOT / "examples").glob("*.yaml")):
        status = run(config.relative_to(ROOT), (ROOT / "examples" / "dist" / config.stem).relative_to(ROOT), quiet=True,
                     validate=os.environ.get("MODEL_SERVING_VALIDATE") == "1")
        if status:
            return status
    return 0


if __name__ == "__main__":
    sys.exit(main())
