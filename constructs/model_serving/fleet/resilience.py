"""How a model survives failures: retries, timeouts, circuit breaking, ejection, balancing, drills."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from model_serving.fleet.base import Duration, Percent, Spec

# Only failures where the request never reached the model: no GPU time spent, safe to replay.
RETRY_ON_DEFAULT = "connect-failure,refused-stream,reset-before-request"
RETRY_ON_5XX = frozenset({"5xx", "gateway-error", "retriable-status-codes", "reset"})
# gRPC: UNAVAILABLE is gRPC's own "not served, try again" status; reset-before-request is left out
# because it misfires on gRPC streams (istiod leaves it out of its gRPC inbound routes for that reason).
RETRY_ON_GRPC_DEFAULT = "connect-failure,refused-stream,unavailable"
# Envoy's gRPC retry conditions: they read the grpc-status of a response, so only gRPC servers send them.
RETRY_ON_GRPC = frozenset({"cancelled", "deadline-exceeded", "internal", "resource-exhausted", "unavailable"})


class Retries(Spec):
    """HTTP retries; the defaults retry only failures where the request never reached the model."""

    attempts: int = Field(
        2, ge=0, le=10,
        description="Retries after the first try (Istio's attempts is Envoy's num_retries: up to attempts + 1 tries); "
        "0 turns retries off.",
    )
    per_try_timeout: Duration | None = Field(
        None,
        description="The timeout of each try. Default: none, so each try may use the whole route timeout "
        "(a shorter one would answer 504 to a long but successful inference).",
    )
    retry_on: str = Field(
        RETRY_ON_DEFAULT,
        description="Envoy retry conditions, comma-separated. gRPC status conditions (unavailable, cancelled, ...) "
        f"only for `protocol: grpc`, whose default is `{RETRY_ON_GRPC_DEFAULT}`.",
    )
    backoff: Duration | None = Field(None, description="Base interval between retries. Default: Envoy's 25ms.")


class Fault(Spec):
    """Fault injection for resilience drills (off unless declared)."""

    delay: Duration | None = Field(None, description="A fixed delay added to requests.")
    delay_percent: Percent = Field(100.0, description="The share of requests delayed.")
    abort_status: int | None = Field(None, ge=200, le=599, description="An HTTP status returned instead of calling the model.")
    abort_percent: Percent = Field(100.0, description="The share of requests aborted.")

    @model_validator(mode="after")
    def _something(self) -> Fault:
        if self.delay is None and self.abort_status is None:
            raise ValueError("a fault needs delay or abortStatus; fix: add one, or remove fault")
        return self


class ConnectionPool(Spec):
    """Circuit breaking on the caller's side: caps per calling proxy (each gateway pod, each client
    sidecar) and per version (subset cluster), never per replica. Unset caps are Istio's (unlimited),
    so a caller is never held below what a version's replicas can serve; with `concurrency` the
    model's pods enforce their own limit (see Model.concurrency)."""

    max_connections: int | None = Field(
        None, gt=0, description="TCP connections from one calling proxy to one version. Default: unlimited (Istio's)."
    )
    max_pending_requests: int | None = Field(
        None, gt=0, description="Requests one calling proxy queues for a connection to one version. Default: unlimited."
    )
    max_requests_per_connection: int = Field(0, ge=0, description="Requests per connection before it is closed; 0 for unlimited.")
    max_requests: int | None = Field(
        None, gt=0,
        description="Requests in flight from one calling proxy to one version. Default: unlimited, or `concurrency` "
        "x the largest version's maximum replicas when the model declares `concurrency`.",
    )


class OutlierDetection(Spec):
    """Eject broken replicas, not busy ones: count 502/503/504 answered by the replica, apart from
    the caller's own timeouts and connect failures; 50 % ejection never empties a 2-replica version."""

    consecutive_5xx_errors: int = Field(
        0, ge=0, alias="consecutive5xxErrors",
        description="5xx answers in a row that eject a replica; 0 (the default) turns it off, because a 500 is "
        "often about one request, not the replica. Set explicitly: Envoy's own default would be 5.",
    )
    consecutive_gateway_errors: int = Field(
        5, ge=0, description="502/503/504 answers of the replica in a row that eject it; 0 turns it off."
    )
    split_external_local_origin_errors: bool = Field(
        True,
        description="Count the caller's own failures (connect failures, resets, timeouts) apart from the replica's "
        "answers, so a slow reply cut by a timeout never counts as the replica's 504.",
    )
    consecutive_local_origin_failures: int | None = Field(
        None, gt=0,
        description="Caller-side failures in a row (connect failures, timeouts) that eject a replica, with "
        "splitExternalLocalOriginErrors. Default: Envoy's 5.",
    )
    interval: Duration = Field("10s", description="How often ejection is evaluated.")
    base_ejection_time: Duration = Field("30s", description="How long a first ejection lasts (it grows with each repeat).")
    max_ejection_percent: int = Field(50, ge=0, le=100, description="The largest share of a version's replicas ejected at once.")


class ConsistentHash(Spec):
    """Hash requests to replicas (stickiness to a replica, e.g. for KV-cache reuse)."""

    header: str | None = Field(None, description="Hash on this request header.")
    cookie: str | None = Field(None, description="Hash on this cookie (Envoy sets it when absent).")
    cookie_ttl: Duration | None = Field(None, description="The generated cookie's lifetime. Default: a session cookie.")
    source_ip: bool = Field(False, description="Hash on the client's IP address.")

    @model_validator(mode="after")
    def _exactly_one(self) -> ConsistentHash:
        if sum((self.header is not None, self.cookie is not None, self.source_ip)) != 1:
            raise ValueError("consistentHash needs exactly one of header, cookie or sourceIp; fix: pick one")
        return self


class LoadBalancer(Spec):
    """How a version's replicas share requests; LEAST_REQUEST because inference requests vary wildly in cost."""

    simple: Literal["LEAST_REQUEST", "ROUND_ROBIN", "RANDOM"] = Field("LEAST_REQUEST", description="The balancing policy.")
    consistent_hash: ConsistentHash | None = Field(None, description="Hash-based affinity instead of `simple`.")
