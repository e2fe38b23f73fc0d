"""The text report of `model-serving rehearse`: one table per run (share, mirrored copies, status
codes and p50/p99 latency per version), each expectation's verdict, and what is not rehearsed."""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence

from model_serving.rehearse.drive import RunResult
from model_serving.rehearse.expectations import Verdict

PROXY = "(proxy)"  # responses no stand-in sent: Envoy's own 5xx, redirects, direct responses


def render(version: str, env: str, results: Sequence[RunResult], verdicts: Sequence[Verdict], show_body: bool,
           notes: Sequence[str]) -> str:
    """The whole report."""
    blocks = []
    for i, result in enumerate(results):
        verdict = verdicts[i] if i < len(verdicts) else None
        blocks.append(_run_block(version, env, result, verdict, show_body))
    if notes:
        blocks.append("\n".join(["not rehearsed (see README, What rehearse proves):", *(f"  - {n}" for n in notes)]))
    return "\n\n".join(blocks)


def _run_block(version: str, env: str, result: RunResult, verdict: Verdict | None, show_body: bool) -> str:
    spec, n = result.spec, len(result.outcomes)
    title = f"rehearse {env}: {result.target.label}, {spec.method} {spec.path}, {n} requests from " \
            f"{len({o.client for o in result.outcomes})} clients (Envoy {version})"
    if verdict is not None:
        state = "PASS" if verdict.passed else "FAIL: " + "; ".join(verdict.failures)
        title = f"expectation {verdict.expectation.name!r}: {state}\n{title}"
    lines = [title, "", f"  {'version':<24} {'share':>7}  {'mirrored':>8}  {'statuses':<24} {'p50 ms':>8} {'p99 ms':>8}"]
    lines.extend(_rows(result))
    lines.append("")
    lines.append(f"  clients: {len({o.client for o in result.outcomes})}, {result.switched} saw more than one version")
    if show_body:
        lines.append("  first body per status:")
        for status, body in result.first_bodies().items():
            text = body if isinstance(body, str) else json.dumps(body)
            lines.append(f"    {status}: {text[:400]}")
    return "\n".join(lines)


def _rows(result: RunResult) -> list[str]:
    n = max(len(result.outcomes), 1)
    served = result.versions
    mirrored = result.mirrored
    names = sorted(set(served) | set(mirrored))
    rows = []
    for name in names:
        statuses = Counter(o.status for o in result.outcomes if o.served_by == name)
        latency = result.latency_ms(name) if served.get(name) else {"p50": 0.0, "p99": 0.0}
        rows.append(_row(name, served.get(name, 0) / n, str(mirrored.get(name, 0)), statuses, latency))
    local = Counter(o.status for o in result.outcomes if o.served_by is None)
    if local:
        seconds = sorted(o.seconds * 1000 for o in result.outcomes if o.served_by is None)
        latency = {"p50": seconds[len(seconds) // 2], "p99": seconds[min(len(seconds) - 1, int(0.99 * len(seconds)))]}
        rows.append(_row(PROXY, 0.0, "-", local, latency))
    return rows


def _row(name: str, share: float, mirrored: str, statuses: Counter[str], latency: dict[str, float]) -> str:
    codes = ", ".join(f"{code} x{count}" for code, count in sorted(statuses.items())) or "-"
    return (f"  {name:<24} {100 * share:>6.1f}%  {mirrored:>8}  {codes:<24} "
            f"{latency['p50']:>8.1f} {latency['p99']:>8.1f}")
