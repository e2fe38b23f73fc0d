"""Timeouts, retries and fault injection on VirtualService routes; duration syntax everywhere."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

from model_serving.units import parse_duration

from ..findings import (
    INVALID_DURATION,
    RETRIES_EXCEED_TIMEOUT,
    RETRIES_WITH_FAULT,
    Finding,
)
from ..index import Index, Resource, as_dict, dig, iter_routes
from .destinationrule import port_level_settings, traffic_policies

_ROUTE_DURATIONS: Final = (("timeout",), ("retries", "perTryTimeout"), ("fault", "delay", "fixedDelay"))
_POLICY_DURATIONS: Final = (
    ("connectionPool", "tcp", "connectTimeout"),
    ("connectionPool", "tcp", "idleTimeout"),
    ("connectionPool", "tcp", "maxConnectionDuration"),
    ("connectionPool", "http", "idleTimeout"),
    ("outlierDetection", "interval"),
    ("outlierDetection", "baseEjectionTime"),
)


def _attempts(rule: dict[str, Any]) -> int:
    attempts = dig(rule, "retries", "attempts")
    return attempts if isinstance(attempts, int) and not isinstance(attempts, bool) else 0


def _seconds(value: Any) -> float | None:
    try:
        return parse_duration(value)
    except ValueError:
        return None  # reported by check_durations


def _format_seconds(seconds: float) -> str:
    return f"{seconds:g}s"


def check_fault_with_retries(index: Index) -> Iterator[Finding]:
    """Routes that inject faults do not also configure retries (Istio ignores them there)."""
    for vs in index.virtual_services:
        for where, rule in iter_routes(vs.spec):
            if as_dict(rule.get("fault")) and _attempts(rule) > 0:
                yield Finding.of(
                    RETRIES_WITH_FAULT,
                    vs.ref,
                    f"{where} injects faults and also sets retries.attempts {_attempts(rule)}; "
                    "Istio turns retries and timeouts off on routes with fault injection",
                    "move the fault to its own route (e.g. matched by a header), or drop the retries",
                )


def check_retry_budget(index: Index) -> Iterator[Finding]:
    """Every try a route allows, (attempts + 1) x perTryTimeout, fits within the route timeout."""
    for vs in index.virtual_services:
        for where, rule in iter_routes(vs.spec):
            attempts = _attempts(rule)
            per_try = _seconds(dig(rule, "retries", "perTryTimeout"))
            timeout = _seconds(rule.get("timeout"))
            if attempts <= 0 or per_try is None or timeout is None or timeout == 0:
                continue
            # Istio's `attempts` is the number of retries: pilot copies it into Envoy's num_retries
            # (route/retry/retry.go), and Envoy makes the first try plus up to num_retries more,
            # each bounded by per_try_timeout. The 25ms+ backoff between tries is not counted.
            tries = attempts + 1
            budget = tries * per_try
            if budget > timeout:
                yield Finding.of(
                    RETRIES_EXCEED_TIMEOUT,
                    vs.ref,
                    f"{where} allows {attempts} retries, so up to {tries} tries x {_format_seconds(per_try)} = "
                    f"{_format_seconds(budget)}, longer than its timeout {_format_seconds(timeout)}: the route "
                    "timeout ends the request before the last retries run",
                    f"lower retries.attempts or perTryTimeout, or raise timeout to at least {_format_seconds(budget)}",
                )


def _route_durations(vs: Resource) -> Iterator[tuple[str, Any]]:
    for where, rule in iter_routes(vs.spec):
        for path in _ROUTE_DURATIONS:
            value = dig(rule, *path)
            if value is not None:
                yield f"{where}.{'.'.join(path)}", value


def _policy_durations(rule: Resource) -> Iterator[tuple[str, Any]]:
    for where, policy in traffic_policies(rule):
        scopes = [(where, policy)] + [
            (f"{where} port {port}", settings) for port, settings in port_level_settings(policy)
        ]
        for scope, settings in scopes:
            for path in _POLICY_DURATIONS:
                value = dig(settings, *path)
                if value is not None:
                    yield f"{scope} {'.'.join(path)}", value


def check_durations(index: Index) -> Iterator[Finding]:
    """Timeouts and intervals are valid Istio durations (`500ms`, `30s`, `1h2m3.5s`)."""
    sources = [(vs, _route_durations(vs)) for vs in index.virtual_services]
    sources += [(rule, _policy_durations(rule)) for rule in index.destination_rules]
    for resource, fields in sources:
        for where, value in fields:
            try:
                parse_duration(value)
            except ValueError as error:
                yield Finding.of(
                    INVALID_DURATION,
                    resource.ref,
                    f"{where}: {error}",
                    'write durations as a string of number+unit pairs, e.g. "500ms", "30s", "1m30s"',
                )
