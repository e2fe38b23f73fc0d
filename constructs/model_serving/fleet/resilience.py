"""How a model survives failures: retries, timeouts, circuit breaking, ejection, balancing, drills."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from model_serving.fleet.base import Duration, Percent, Spec

RETRY_ON_DEFAULT = "connect-failure,refused-stream,unavailable,cancelled"
RETRY_ON_5XX = frozenset({"5xx", "gateway-error", "retriable-status-codes", "reset"})


class Retries(Spec):
    """HTTP retries; the defaults retry only failures where no GPU time was spent."""

    attempts: int = Field(2, ge=0, le=10, description="Retries after the first try (Envoy's num_retries); 0 turns retries off.")
    per_try_timeout: Duration = Field("30s", description="The timeout of each try.")
    retry_on: str = Field(RETRY_ON_DEFAULT, description="Envoy retry conditions, comma-separated.")
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
    """Circuit breaking: caps on connections and queued requests per version."""

    max_connections: int = Field(100, gt=0, description="TCP connections to one version, per calling proxy.")
    max_pending_requests: int = Field(64, gt=0, description="Requests queued for a connection, per calling proxy.")
    max_requests_per_connection: int = Field(0, ge=0, description="Requests per connection before it is closed; 0 for unlimited.")
    max_requests: int = Field(256, gt=0, description="Requests in flight to one version, per calling proxy.")


class OutlierDetection(Spec):
    """Eject replicas that keep failing; 50 % ejection never empties a 2-replica version."""

    consecutive_5xx_errors: int = Field(
        5, ge=0, alias="consecutive5xxErrors", description="5xx answers in a row that eject a replica; 0 turns it off."
    )
    consecutive_gateway_errors: int | None = Field(
        None, ge=0, description="502/503/504 answers in a row that eject a replica. Default: not counted separately."
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
