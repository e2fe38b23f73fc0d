"""What a TrafficExtension's Lua costs: the same run with and without it (rehearse JSON)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from model_serving.fleet.openai import MODEL_HEADER, STREAM_HEADER
from model_serving.rehearse.drive import RequestSpec, RunResult
from model_serving.rehearse.extensions import routing_headers
from model_serving.rehearse.runner import Rehearsal
from model_serving.rehearse.standin import Behaviour


def lua_overhead(objects: list[dict[str, Any]], spec: RequestSpec, result: RunResult, *, time_scale: float,
                 behaviours: Mapping[str, Behaviour], default: Behaviour) -> dict[str, Any] | None:
    """The Lua's added latency: the same run without the TrafficExtensions, the client setting the
    routing headers the Lua would have set (p50 and p99, ms). None when there is nothing to compare."""
    plain = [o for o in objects if o.get("kind") != "TrafficExtension"]
    if len(plain) == len(objects) or spec.host is None:
        return None
    added = routing_headers(spec.body, model_header=MODEL_HEADER, stream_header=STREAM_HEADER)
    headers = tuple(h for h in spec.headers if h[0] not in (MODEL_HEADER, STREAM_HEADER)) + added
    with Rehearsal(plain, time_scale=time_scale, behaviours=behaviours, default=default) as rehearsal:
        baseline = rehearsal.run(replace(spec, headers=headers))
    with_lua, without = result.latency_ms(), baseline.latency_ms()
    return {"with": with_lua, "without": without,
            "added": {q: round(with_lua[q] - without[q], 1) for q in ("p50", "p99")},
            "same_versions": sorted(result.versions) == sorted(baseline.versions)}
