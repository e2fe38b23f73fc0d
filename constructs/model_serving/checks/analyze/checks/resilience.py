"""Timeouts, retries and fault injection on VirtualService routes; duration syntax everywhere."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

from model_serving.units import parse_duration

from ..findings import (
    GRPC_RETRY_ON_HTTP_PORT,
    INVALID_DURATION,
    PER_TRY_TIMEOUT_RETRIED,
    RETRIES_EXCEED_TIMEOUT,
    RETRIES_WITH_FAULT,
    Finding,
)
from ..index import Index, Resource, as_dict, as_list, dig, iter_routes
from .destinationrule import port_level_settings, traffic_policies

# Envoy retries a per-try timeout (a local stream reset answered 504) only under these conditions
# (RetryStateImpl::wouldRetryFromReset). retriable-status-codes is not one: it reads the status
# of a response the upstream sent, and a per-try timeout has none.
_RETRIES_TIMEOUTS: Final = frozenset({"5xx", "gateway-error", "reset"})
# Conditions Envoy reads from the grpc-status response header or trailer.
_GRPC_CONDITIONS: Final = frozenset({"cancelled", "deadline-exceeded", "internal", "resource-exhausted", "unavailable"})
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


def _retry_on(rule: dict[str, Any]) -> list[str]:
    """The conditions a route's retries.retryOn names ([] if unset: Istio's default then applies)."""
    value = dig(rule, "retries", "retryOn")
    return [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else []


def check_per_try_timeout_retries(index: Index) -> Iterator[Finding]:
    """A per-try timeout below the route timeout is not retried: it would cut and restart long generations."""
    for vs in index.virtual_services:
        for where, rule in iter_routes(vs.spec):
            conditions = sorted(set(_retry_on(rule)) & _RETRIES_TIMEOUTS)
            per_try = _seconds(dig(rule, "retries", "perTryTimeout"))
            timeout = _seconds(rule.get("timeout"))
            if _attempts(rule) <= 0 or not conditions or per_try is None:
                continue
            # No route timeout (or 0) is unlimited: every per-try timeout is below it.
            if timeout and per_try >= timeout:
                continue
            limit = f"its timeout {_format_seconds(timeout)}" if timeout else "its unlimited route timeout"
            yield Finding.of(
                PER_TRY_TIMEOUT_RETRIED,
                vs.ref,
                f"{where} sets perTryTimeout {_format_seconds(per_try)}, below {limit}, and retries on "
                f"{', '.join(conditions)}: a response that has not started within {_format_seconds(per_try)} "
                "(a long non-streaming generation) is cut with 504 and sent again from the start "
                f"({_attempts(rule)} retr{'y' if _attempts(rule) == 1 else 'ies'} allowed), "
                "adding load to a model server that is already slow",
                "retry only on connection failures (retryOn: connect-failure,refused-stream,503), or drop "
                "perTryTimeout so the route timeout bounds each try",
            )


def _is_grpc_port(port: dict[str, Any]) -> bool:
    name, app_protocol = port.get("name"), port.get("appProtocol")
    return any(isinstance(text, str) and text.lower().startswith("grpc") for text in (name, app_protocol))


def _plain_http_ports(index: Index, vs: Resource, rule: dict[str, Any]) -> list[str]:
    """`Service ns/name port N` for each route destination whose Service port is known and not gRPC."""
    found = []
    for entry in as_list(rule.get("route")):
        destination = as_dict(as_dict(entry).get("destination"))
        host = destination.get("host")
        service = index.resolve_service(host, vs.namespace) if isinstance(host, str) else None
        ports = [as_dict(port) for port in as_list(service.spec.get("ports"))] if service else []
        number = dig(destination, "port", "number")
        chosen = [port for port in ports if port.get("port") == number] if number is not None else ports
        if service and len(chosen) == 1 and not _is_grpc_port(chosen[0]):
            found.append(f"Service {service.key} port {chosen[0].get('port')} ({chosen[0].get('name') or 'unnamed'})")
    return sorted(set(found))


def check_grpc_retry_conditions(index: Index) -> Iterator[Finding]:
    """gRPC status retry conditions are only used on routes to gRPC ports, where they can trigger."""
    for vs in index.virtual_services:
        for where, rule in iter_routes(vs.spec):
            conditions = sorted(set(_retry_on(rule)) & _GRPC_CONDITIONS)
            if _attempts(rule) <= 0 or not conditions:
                continue
            plain = _plain_http_ports(index, vs, rule)
            if plain:
                yield Finding.of(
                    GRPC_RETRY_ON_HTTP_PORT,
                    vs.ref,
                    f"{where} retries on gRPC status {', '.join(conditions)}, but {', '.join(plain)} is not gRPC "
                    "(port name or appProtocol grpc*): Envoy reads these from the grpc-status header, which an HTTP "
                    "model server never sends, so they never cause a retry",
                    "remove them from retryOn (for HTTP: connect-failure,refused-stream,503), or name the port "
                    "grpc[-suffix] / set appProtocol: grpc if it does speak gRPC",
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
