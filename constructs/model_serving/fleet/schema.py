"""The fleet as declared in serving.yaml: loading, defaults and validation.

Everything here is plain Python (pydantic), no jsii: decisions are made and tested here, and
the constructs only translate a validated fleet into Kubernetes and Istio objects.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from model_serving.fleet.expectations import Expectation
from model_serving.fleet.units import parse_duration, parse_quantity

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
HOSTNAME = re.compile(r"^(\*\.)?([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)*[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
DURATION = re.compile(r"^(\d+(\.\d+)?(h|ms|m|s))+$")
COOKIE_TOKEN = re.compile(r"^[A-Za-z0-9._-]+$")
IMAGE_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
HTTP_METHODS = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"}
RETRY_ON_DEFAULT = "connect-failure,refused-stream,unavailable,cancelled"
RETRY_ON_5XX = {"5xx", "gateway-error", "retriable-status-codes", "reset"}


class ConfigError(Exception):
    """A user mistake in serving.yaml or on the command line; str() is the one-line message."""


def _dns_label(value: str) -> str:
    if not DNS_LABEL.match(value):
        raise ValueError(
            f"{value!r} is not a DNS-1123 label; fix: use lower-case letters, digits and '-', "
            "starting and ending with a letter or digit, at most 63 characters"
        )
    return value


def _duration(value: str) -> str:
    if not isinstance(value, str) or not DURATION.match(value):
        raise ValueError(f"{value!r} is not a duration; fix: write it like 500ms, 30s, 5m or 1h30m")
    return value


def _hostname(value: str) -> str:
    if value != "*" and not HOSTNAME.match(value):
        raise ValueError(f"{value!r} is not a host name; fix: use a DNS name such as models.example.com")
    return value


def _path(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError(f"{value!r} does not start with '/'; fix: write it as /{value}")
    return value


Name = Annotated[str, AfterValidator(_dns_label)]
Duration = Annotated[str, AfterValidator(_duration)]
Host = Annotated[str, AfterValidator(_hostname)]
UrlPath = Annotated[str, AfterValidator(_path)]
Percent = Annotated[float, Field(gt=0, le=100)]


class Spec(BaseModel):
    """Base for config sections: camelCase keys, unknown keys rejected, immutable."""

    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True
    )


# --- traffic -------------------------------------------------------------------------------


class StringMatch(Spec):
    """One of exact / prefix / regex; a plain string in YAML means exact."""

    exact: str | None = None
    prefix: str | None = None
    regex: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _plain_string_is_exact(cls, data: Any) -> Any:
        return {"exact": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _exactly_one(self) -> "StringMatch":
        if sum(v is not None for v in (self.exact, self.prefix, self.regex)) != 1:
            raise ValueError("give exactly one of exact, prefix or regex; fix: e.g. {exact: beta}")
        return self


class Match(Spec):
    """Request attributes an A/B rule matches on (all given conditions must hold)."""

    headers: dict[str, StringMatch] = {}
    cookies: dict[str, str] = {}
    query_params: dict[str, StringMatch] = {}
    uri: StringMatch | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> "Match":
        if not (self.headers or self.cookies or self.query_params or self.uri):
            raise ValueError("a match needs headers, cookies, queryParams or uri; fix: add one condition")
        if len(self.cookies) > 1:
            # Envoy's RE2 has no lookahead, so one regex cannot find several cookies in any order.
            raise ValueError("a match can test one cookie; fix: split it into several routes or match a header")
        for name, value in self.cookies.items():
            if not COOKIE_TOKEN.match(name) or not COOKIE_TOKEN.match(value):
                raise ValueError(f"cookie {name}={value} has characters outside [A-Za-z0-9._-]; fix: use a plain token")
        if "cookie" in {h.lower() for h in self.headers} and self.cookies:
            raise ValueError("match both headers.cookie and cookies; fix: use cookies only")
        return self


class Retries(Spec):
    """HTTP retries; defaults retry only failures where no GPU time was spent."""

    attempts: int = Field(2, ge=0, le=10)
    per_try_timeout: Duration = "30s"
    retry_on: str = RETRY_ON_DEFAULT
    backoff: Duration | None = None


class Fault(Spec):
    """Fault injection for resilience drills (off unless declared)."""

    delay: Duration | None = None
    delay_percent: Percent = 100.0
    abort_status: int | None = Field(None, ge=200, le=599)
    abort_percent: Percent = 100.0

    @model_validator(mode="after")
    def _something(self) -> "Fault":
        if self.delay is None and self.abort_status is None:
            raise ValueError("a fault needs delay or abortStatus; fix: add one, or remove fault")
        return self


class Route(Spec):
    """An A/B rule: requests matching `match` go to `version` (or follow the weights)."""

    name: Name
    match: Match
    version: Name | None = None
    weighted: bool = False
    timeout: Duration | Literal["none"] | None = None
    retries: Retries | None = None

    @model_validator(mode="after")
    def _one_target(self) -> "Route":
        if (self.version is None) == (not self.weighted):
            raise ValueError(
                f"route {self.name!r} needs exactly one target; fix: set version: <name> or weighted: true"
            )
        return self


class Sticky(Spec):
    """Keep a user on the canary they landed on, with a response cookie (no controller)."""

    cookie: str | None = None
    max_age: Duration = "24h"

    @field_validator("cookie")
    @classmethod
    def _token(cls, value: str | None) -> str | None:
        if value is not None and not COOKIE_TOKEN.match(value):
            raise ValueError(f"cookie name {value!r} has characters outside [A-Za-z0-9._-]; fix: use a plain token")
        return value


class Mirror(Spec):
    """Shadow traffic: copy `percent` of live requests to `version`, responses discarded."""

    version: Name
    percent: float = Field(ge=0, le=100)


class Rollout(Spec):
    """Staged promotion kept in Git: canary weight follows `steps`; see `model-serving promote`."""

    stable: Name
    canary: Name | None = None
    steps: list[Annotated[int, Field(gt=0, le=100)]] = [10, 25, 50, 100]

    @field_validator("steps")
    @classmethod
    def _increasing(cls, steps: list[int]) -> list[int]:
        if not steps or any(b <= a for a, b in zip(steps, steps[1:])):
            raise ValueError(f"steps {steps} must be a non-empty, strictly increasing list; fix: e.g. [10, 25, 50, 100]")
        return steps


class ConnectionPool(Spec):
    """Circuit breaking: caps on connections and queued requests per version."""

    max_connections: int = Field(100, gt=0)
    max_pending_requests: int = Field(64, gt=0)
    max_requests_per_connection: int = Field(0, ge=0)  # 0: unlimited (keep-alive reuse)
    max_requests: int = Field(256, gt=0)


class OutlierDetection(Spec):
    """Eject replicas that keep failing; 50 % ejection never empties a 2-replica version."""

    consecutive_5xx_errors: int = Field(5, ge=0, alias="consecutive5xxErrors")
    consecutive_gateway_errors: int | None = Field(None, ge=0)
    interval: Duration = "10s"
    base_ejection_time: Duration = "30s"
    max_ejection_percent: int = Field(50, ge=0, le=100)


class ConsistentHash(Spec):
    """Hash requests to replicas (stickiness to a replica, e.g. for KV-cache reuse)."""

    header: str | None = None
    cookie: str | None = None
    cookie_ttl: Duration = "0s"
    source_ip: bool = False

    @model_validator(mode="after")
    def _exactly_one(self) -> "ConsistentHash":
        if sum((self.header is not None, self.cookie is not None, self.source_ip)) != 1:
            raise ValueError("consistentHash needs exactly one of header, cookie or sourceIp; fix: pick one")
        return self


class LoadBalancer(Spec):
    """LEAST_REQUEST by default: inference requests vary wildly in cost."""

    simple: Literal["LEAST_REQUEST", "ROUND_ROBIN", "RANDOM"] = "LEAST_REQUEST"
    consistent_hash: ConsistentHash | None = None


# --- workload ------------------------------------------------------------------------------


class ResourceList(Spec):
    """CPU and memory quantities (Kubernetes notation: 500m, 2, 8Gi)."""

    cpu: str | None = None
    memory: str | None = None

    @field_validator("cpu", "memory")
    @classmethod
    def _quantity(cls, value: str | None) -> str | None:
        if value is not None:
            parse_quantity(value)
        return value


class Gpu(Spec):
    """Accelerators: an extended resource plus the scheduling GPU nodes need."""

    count: int = Field(1, gt=0)
    resource: str = "nvidia.com/gpu"
    node_selector: dict[str, str] = {}
    tolerations: list[dict[str, str]] | None = None  # default: tolerate the GPU resource taint

    @field_validator("count", mode="before")
    @classmethod
    def _integer(cls, value: Any) -> Any:
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"gpu count {value!r} is not a positive whole number; fix: use a positive integer such as 1")
        return value


class Resources(Spec):
    """Requests and limits; requests must not exceed limits."""

    requests: ResourceList = ResourceList(cpu="1", memory="2Gi")
    limits: ResourceList = ResourceList(cpu="2", memory="4Gi")
    gpu: Gpu | None = None

    @model_validator(mode="after")
    def _requests_within_limits(self) -> "Resources":
        for kind in ("cpu", "memory"):
            req, lim = getattr(self.requests, kind), getattr(self.limits, kind)
            if req and lim and parse_quantity(req) > parse_quantity(lim):
                raise ValueError(f"{kind} request {req} is above the limit {lim}; fix: raise limits.{kind} or lower requests.{kind}")
        return self


class Health(Spec):
    """Probes: a startup probe sized for model loading, then readiness and liveness."""

    protocol: Literal["http", "grpc"] = "http"
    ready_path: UrlPath = "/v2/health/ready"
    live_path: UrlPath = "/v2/health/live"
    startup_timeout: Duration = "10m"
    period: Duration = "10s"


class Autoscaling(Spec):
    """A HorizontalPodAutoscaler per version, on CPU or a custom per-pod metric."""

    min_replicas: int = Field(1, ge=1)
    max_replicas: int = Field(ge=1)
    cpu_utilization: int | None = Field(None, gt=0, le=100)
    metric: str | None = None  # a Pods metric, e.g. vllm:num_requests_waiting
    metric_target: str | None = None  # average value per pod, e.g. "5"

    @model_validator(mode="after")
    def _bounds(self) -> "Autoscaling":
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"minReplicas {self.min_replicas} is above maxReplicas {self.max_replicas}; fix: make minReplicas <= maxReplicas")
        if (self.metric is None) != (self.metric_target is None):
            raise ValueError("metric and metricTarget go together; fix: set both or neither")
        if self.metric is None and self.cpu_utilization is None:
            raise ValueError("autoscaling needs cpuUtilization or metric; fix: e.g. cpuUtilization: 70")
        return self


class ModelStorage(Spec):
    """Where the weights come from: a PVC, or an emptyDir filled by an init container."""

    mount_path: UrlPath = "/models"
    pvc: Name | None = None
    download_image: str | None = None
    download_command: list[str] = []
    size_limit: str = "20Gi"

    @model_validator(mode="after")
    def _one_source(self) -> "ModelStorage":
        if (self.pvc is None) == (self.download_image is None):
            raise ValueError("storage needs exactly one of pvc or downloadImage; fix: pick one")
        return self


class Consumer(Spec):
    """A mesh client allowed to call the model directly (not through the gateway).

    `namespace` alone admits every workload of that namespace; with `serviceAccount`, only that
    identity. `methods` and `paths` narrow what it may call (Istio matches paths exactly, or by
    prefix when they end in `*`).
    """

    namespace: Name | None = None
    service_account: Name | None = None
    methods: list[str] = []
    paths: list[UrlPath] = []

    @model_validator(mode="before")
    @classmethod
    def _a_mapping(cls, data: Any) -> Any:
        if isinstance(data, str):
            raise ValueError(
                f"consumer {data!r} is not a mapping; fix: write {{namespace: {data}}} "
                "(add serviceAccount: <name> to admit one identity only)"
            )
        return data

    @model_validator(mode="after")
    def _names_someone(self) -> "Consumer":
        if self.namespace is None:
            raise ValueError("a consumer needs a namespace (and optionally serviceAccount); fix: add namespace: <ns>")
        bad = [m for m in self.methods if m not in HTTP_METHODS]
        if bad:
            raise ValueError(f"unknown HTTP method {bad[0]!r}; fix: use one of {', '.join(sorted(HTTP_METHODS))}")
        for path in self.paths:
            # Istio's paths know only exact and prefix ("/v1/*") matches: any other '*' is a literal.
            if "*" in path[:-1]:
                raise ValueError(
                    f"path {path!r} has '*' before its end, which Istio would match literally; "
                    "fix: use an exact path or a prefix ending in '*', such as /v1/*"
                )
        return self


class Version(Spec):
    """One deployed version of a model: its own Deployment and DestinationRule subset."""

    image: str
    weight: int = Field(0, ge=0, le=100)
    replicas: int = Field(1, ge=0)
    env: dict[str, str] = {}
    args: list[str] | None = None

    @field_validator("image")
    @classmethod
    def _image(cls, value: str) -> str:
        if not value or any(c.isspace() for c in value):
            raise ValueError(f"{value!r} is not an image reference; fix: e.g. registry/model:1.2.3 or registry/model@sha256:<digest>")
        return value


class Model(Spec):
    """A model: one Service and host, many versions, routing, resilience and workload shape."""

    # edge
    host: Host | None = None
    prefix: UrlPath | None = None
    # serving
    port: int = Field(8080, gt=0, lt=65536)
    protocol: Literal["http", "grpc"] = "http"
    versions: dict[Name, Version]
    # traffic
    routes: list[Route] = []
    sticky: Sticky | bool = False  # true: defaults (cookie <model>-version, 24h)
    mirror: Mirror | None = None
    rollout: Rollout | None = None
    # resilience
    timeout: Duration | Literal["none"] = "60s"
    retries: Retries = Retries()
    connection_pool: ConnectionPool = ConnectionPool()
    outlier_detection: OutlierDetection = OutlierDetection()
    load_balancer: LoadBalancer = LoadBalancer()
    fault: Fault | None = None
    # workload
    resources: Resources = Resources()
    health: Health = Health()
    autoscaling: Autoscaling | None = None
    max_unavailable: int = 1  # PodDisruptionBudget: pods of a version that may be evicted at once
    termination_grace_period: Duration = "120s"
    drain_delay: Duration = "10s"  # preStop: let the mesh stop sending before the server stops
    storage: ModelStorage | None = None
    writable_paths: list[UrlPath] = ["/tmp", "/home/model/.cache"]
    env: dict[str, str] = {}
    args: list[str] = []
    spread_zones: bool = True
    # security
    consumers: list[Consumer] = []
    service_account_token: bool = False

    @field_validator("max_unavailable")
    @classmethod
    def _evictable(cls, value: int) -> int:
        if value < 1:
            raise ValueError(
                f"maxUnavailable {value} would block every eviction (node drains and upgrades hang); fix: use 1 or more"
            )
        return value

    @field_validator("versions")
    @classmethod
    def _some_versions(cls, versions: dict[str, Version]) -> dict[str, Version]:
        if not versions:
            raise ValueError("a model needs at least one version; fix: add versions: {v1: {image: ..., weight: 100}}")
        return versions

    @model_validator(mode="after")
    def _traffic_is_consistent(self) -> "Model":
        names = list(self.versions)
        total = sum(v.weight for v in self.versions.values())
        if total != 100:
            weights = ", ".join(f"{n}={v.weight}" for n, v in self.versions.items())
            raise ValueError(f"version weights sum to {total} ({weights}); fix: make them add up to 100")

        def known(version: str, where: str) -> None:
            if version not in self.versions:
                raise ValueError(f"{where} names unknown version {version!r}; fix: use one of {', '.join(names)}")

        seen: set[str] = set()
        for route in self.routes:
            if route.name in seen:
                raise ValueError(f"route name {route.name!r} is used twice; fix: give each route its own name")
            seen.add(route.name)
            if route.version:
                known(route.version, f"route {route.name!r}")
        if self.mirror:
            known(self.mirror.version, "mirror")
        if self.rollout:
            known(self.rollout.stable, "rollout.stable")
            if self.rollout.canary:
                known(self.rollout.canary, "rollout.canary")
                if self.rollout.canary == self.rollout.stable:
                    raise ValueError("rollout.canary equals rollout.stable; fix: name two different versions")
        if self.prefix and not self.host:
            raise ValueError("prefix needs a host to route on; fix: set host: <external host>")
        if self.prefix and any(r.match.uri for r in self.routes):
            raise ValueError("routes[].match.uri cannot be combined with the model's prefix; fix: drop one of them")
        for route in self.routes:
            if route.retries and route.timeout != "none":
                limit = parse_duration(route.timeout or (self.timeout if self.timeout != "none" else "0s"))
                if limit and route.retries.attempts * parse_duration(route.retries.per_try_timeout) > limit:
                    raise ValueError(
                        f"route {route.name!r}: retries exceed its timeout; fix: raise timeout, or lower attempts or perTryTimeout"
                    )
        budget = self.retries.attempts * parse_duration(self.retries.per_try_timeout)
        if self.timeout != "none" and self.retries.attempts and budget > parse_duration(self.timeout):
            raise ValueError(
                f"retries {self.retries.attempts} x perTryTimeout {self.retries.per_try_timeout} exceed timeout {self.timeout}; "
                "fix: raise timeout, or lower attempts or perTryTimeout"
            )
        if self.autoscaling is None:
            smallest = min(v.replicas for v in self.versions.values())
        else:
            smallest = self.autoscaling.min_replicas
        pct = self.outlier_detection.max_ejection_percent
        if smallest >= 2 and pct > 100 * (smallest - 1) // smallest:
            raise ValueError(
                f"outlierDetection.maxEjectionPercent {pct} could eject every replica of a {smallest}-replica version; "
                f"fix: use at most {100 * (smallest - 1) // smallest}"
            )
        return self

    @property
    def stable(self) -> str:
        """The version that takes live traffic by default: rollout.stable, else the heaviest."""
        if self.rollout:
            return self.rollout.stable
        return max(self.versions, key=lambda n: self.versions[n].weight)

    @property
    def sticky_spec(self) -> Sticky | None:
        """The sticky settings, with `sticky: true` expanded to defaults."""
        if self.sticky is True:
            return Sticky()
        return self.sticky or None


# --- environment ---------------------------------------------------------------------------


class Tls(Spec):
    """HTTPS at the gateway with a Secret that lives in the gateway's namespace.

    The Secret (tls.crt, tls.key; plus ca.crt for MUTUAL) is created beside the ingress
    gateway pods, not by this tool: keys never pass through serving.yaml or dist/.
    """

    credential_name: Name
    mode: Literal["SIMPLE", "MUTUAL"] = "SIMPLE"
    min_protocol_version: Literal["TLSV1_2", "TLSV1_3"] = "TLSV1_2"
    https_redirect: bool = True

    @model_validator(mode="before")
    @classmethod
    def _has_credential(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("credentialName", data.get("credential_name")):
            raise ValueError(
                "tls has no credentialName; fix: set credentialName to the TLS Secret in the ingress gateway's "
                "namespace (or drop tls and set plainHttp: true)"
            )
        return data


class GatewayWorkload(Spec):
    """The ingress gateway pods our Gateway binds to, and their mesh identity."""

    namespace: Name = "istio-system"
    service_account: Name = "istio-ingressgateway-service-account"
    selector: dict[str, str] = {"istio": "ingressgateway"}


class Gateway(Spec):
    """The Istio Gateway: explicit hosts, HTTPS unless plain HTTP is declared."""

    name: Name | None = None
    hosts: list[Host]
    tls: Tls | None = None
    plain_http: bool = False
    workload: GatewayWorkload = GatewayWorkload()

    @model_validator(mode="after")
    def _secure(self) -> "Gateway":
        if not self.hosts:
            raise ValueError("gateway.hosts is empty; fix: list the external hosts (\"*\" only if you mean it)")
        if self.tls is None and not self.plain_http:
            raise ValueError("the gateway has no tls; fix: set tls.credentialName to a TLS Secret, or plainHttp: true")
        return self


class Jwt(Spec):
    """Require a valid JWT, from this issuer and signed by a key of `jwksUri`, on requests that
    come through the gateway (checked by each model's sidecar, see security.ModelAccess)."""

    issuer: str
    jwks_uri: str
    audiences: list[str] = []

    @model_validator(mode="before")
    @classmethod
    def _has_issuer_and_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            if not data.get("issuer"):
                raise ValueError(
                    "jwt has no issuer; fix: set issuer to the token issuer (the iss claim), e.g. https://auth.example.com/"
                )
            if not data.get("jwksUri", data.get("jwks_uri")):
                raise ValueError(
                    "jwt has no jwksUri; fix: set jwksUri to the issuer's key set, e.g. https://auth.example.com/.well-known/jwks.json"
                )
        return data

    @field_validator("issuer", "jwks_uri")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith("https://"):
            raise ValueError(f"{value!r} is not an https URL; fix: e.g. https://auth.example.com/")
        return value


class Environment(Spec):
    """One target: a namespace, its gateway, and per-model overrides of the shared fleet."""

    namespace: Name
    gateway: Gateway
    jwt: Jwt | None = None
    pod_security: Literal["restricted", "baseline"] = "restricted"
    # Namespaces (e.g. Prometheus's) whose pods may scrape the sidecars' merged metrics port.
    metrics_from: list[Name] = []
    models: dict[str, Any] = {}  # overrides, deep-merged onto the top-level models


class Document(Spec):
    """The serving.yaml file as written."""

    environments: dict[Name, Environment]
    models: dict[Name, dict[str, Any]]
    rehearse: list[Expectation] = []

    @model_validator(mode="after")
    def _overrides_name_models(self) -> "Document":
        for env_name, env in self.environments.items():
            for model in env.models:
                if model not in self.models:
                    raise ValueError(
                        f"environments.{env_name}.models names unknown model {model!r}; fix: use one of {', '.join(self.models)}"
                    )
        return self


# --- the validated fleet -------------------------------------------------------------------


@dataclass(frozen=True)
class Env:
    """A validated environment: everything one chart needs."""

    name: str
    namespace: str
    gateway: Gateway
    gateway_name: str
    jwt: Jwt | None
    pod_security: str
    models: dict[str, Model]
    metrics_from: tuple[str, ...] = ()

    def service_host(self, model: str) -> str:
        """The fully qualified in-cluster host of a model's Service."""
        return f"{model}.{self.namespace}.svc.cluster.local"


@dataclass(frozen=True)
class Fleet:
    """All environments from one serving.yaml, plus warnings worth printing at synth."""

    source: str
    environments: dict[str, Env]
    warnings: list[str] = field(default_factory=list)
    rehearse: list[Expectation] = field(default_factory=list)


def deep_merge(base: Any, override: Any) -> Any:
    """Overlay `override` on `base`: mappings merge key by key, anything else is replaced."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = deep_merge(base.get(key), value) if key in base else value
        return merged
    return override


class _UniqueKeyLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """A YAML loader that rejects duplicate keys (PyYAML silently keeps the last)."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise ConfigError(f"line {key_node.start_mark.line + 1}: key {key!r} appears twice; fix: keep one")
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _where(loc: tuple[Any, ...]) -> str:
    """Render a pydantic error location as a dotted field path (skipping union branch tags)."""
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif item in {"function-after", "function-before", "bool", "Sticky", "str", "literal['none']"} or str(item).startswith(("function-", "constrained-")):
            continue
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts)


_FIXES = {
    "extra_forbidden": "remove it or check its spelling",
    "missing": "add it",
    "int_type": "use a whole number",
    "int_parsing": "use a whole number",
    "float_type": "use a number",
    "float_parsing": "use a number",
    "string_type": "use a string (quote it)",
    "bool_type": "use true or false",
    "bool_parsing": "use true or false",
    "dict_type": "use a mapping (key: value)",
    "model_type": "use a mapping (key: value)",
    "list_type": "use a list",
    "literal_error": "use one of the allowed values",
    "greater_than": "use a larger number",
    "greater_than_equal": "use a larger number",
    "less_than": "use a smaller number",
    "less_than_equal": "use a smaller number",
}


def _one_line(source: str, prefix: str, error: ValidationError) -> ConfigError:
    first = error.errors()[0]
    path = _where(first["loc"])
    if prefix and path:
        where = f"{prefix}{'' if path.startswith('[') else '.'}{path}"
    else:
        where = prefix or path or "(top level)"
    message = str(first["msg"]).removeprefix("Value error, ")
    if "; fix:" not in message:
        fix = _FIXES.get(first["type"], "see README.md for the field's format")
        if first["type"] == "extra_forbidden":
            message = "unknown field"
        message = f"{message}; fix: {fix}"
    more = len(error.errors()) - 1
    tail = f" (+{more} more)" if more else ""
    return ConfigError(f"{source}: {where}: {message}{tail}")


def parse_fleet(data: Any, *, source: str = "serving.yaml") -> Fleet:
    """Validate already-parsed YAML data into a Fleet; raise ConfigError (one line) if invalid."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: (top level): expected a mapping with environments and models; fix: see README.md")
    try:
        doc = Document.model_validate(data)
    except ValidationError as error:
        raise _one_line(source, "", error) from None
    environments: dict[str, Env] = {}
    warnings: list[str] = []
    for env_name, env in doc.environments.items():
        models: dict[str, Model] = {}
        for model_name, base in doc.models.items():
            merged = deep_merge(base, env.models.get(model_name, {}))
            prefix = f"models.{model_name}"
            if len(doc.environments) > 1 or env.models:
                # The model as merged with this environment's overrides.
                prefix = f"environments.{env_name} + {prefix}"
            try:
                models[model_name] = Model.model_validate(merged)
            except ValidationError as error:
                raise _one_line(source, prefix, error) from None
        built = Env(
            name=env_name,
            namespace=env.namespace,
            gateway=env.gateway,
            gateway_name=env.gateway.name or f"{env.namespace}-gateway",
            jwt=env.jwt,
            pod_security=env.pod_security,
            models=models,
            metrics_from=tuple(env.metrics_from),
        )
        _check_environment(source, built)
        warnings.extend(_warnings(source, built))
        environments[env_name] = built
    return Fleet(source=source, environments=environments, warnings=warnings, rehearse=list(doc.rehearse))


def _covered(host: str, patterns: list[str]) -> bool:
    """Whether a gateway server host list (with `*` / `*.domain` wildcards) admits `host`."""
    for pattern in patterns:
        if pattern == "*" or pattern == host:
            return True
        if pattern.startswith("*.") and host.endswith(pattern[1:]):
            return True
    return False


def _check_environment(source: str, env: Env) -> None:
    """Cross-model rules: every exposed host is served by the gateway, and no host is claimed twice."""
    claimed: dict[tuple[str, str], str] = {}
    for name, model in env.models.items():
        if model.host is None:
            continue
        if not _covered(model.host, env.gateway.hosts):
            raise ConfigError(
                f"{source}: models.{name}.host: {model.host} is not among gateway.hosts {env.gateway.hosts} "
                f"in environment {env.name}; fix: add it to environments.{env.name}.gateway.hosts"
            )
        key = (model.host, model.prefix or "")
        if key in claimed:
            raise ConfigError(
                f"{source}: models.{name}.host: {model.host}{model.prefix or ''} is already routed to model "
                f"{claimed[key]}; fix: give one of them another host or a distinct prefix"
            )
        claimed[key] = name


def _warnings(source: str, env: Env) -> list[str]:
    """Legal but risky choices, printed at synth."""
    out: list[str] = []
    if env.jwt is not None and env.gateway.plain_http:
        out.append(
            f"{source}: environments.{env.name}.jwt: the gateway also serves plain HTTP, so bearer tokens can "
            "cross the network unencrypted; prefer tls without plainHttp"
        )
    for name, model in env.models.items():
        where = f"{source}: {env.name}: models.{name}"
        if model.mirror and (
            model.versions[model.mirror.version].weight > 0
            or any(r.version == model.mirror.version for r in model.routes)
        ):
            out.append(
                f"{where}.mirror: {model.mirror.version} also takes live traffic, so it sees those requests twice; "
                "mirrored requests cost GPU capacity on the shadow version"
            )
        elif model.mirror:
            out.append(
                f"{where}.mirror: {model.mirror.percent:g}% of live traffic is copied to {model.mirror.version}; "
                "size its replicas for that load (mirroring costs GPU capacity)"
            )
        if model.fault:
            out.append(f"{where}.fault: Istio turns off retries and timeouts on routes with fault injection")
        replayed = RETRY_ON_5XX & set(model.retries.retry_on.split(","))
        if replayed and model.retries.attempts:
            out.append(
                f"{where}.retries.retryOn: {','.join(sorted(replayed))} retries requests the model already spent "
                "GPU time on; prefer connection-level conditions (the default)"
            )
        for vname, version in model.versions.items():
            image = version.image
            if IMAGE_DIGEST.search(image):
                continue
            if "@" in image:
                out.append(f"{where}.versions.{vname}.image: {image} has a malformed digest; write @sha256:<64 hex digits>")
                continue
            tag = image.rsplit("/", 1)[-1].partition(":")[2]
            if not tag or tag == "latest":
                out.append(f"{where}.versions.{vname}.image: {image} is not pinned; pin a tag or, better, @sha256:<digest>")
    return out


def load_fleet(path: str | Path) -> Fleet:
    """Read and validate serving.yaml; every user mistake becomes a one-line ConfigError."""
    path = Path(path)
    source = str(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise ConfigError(f"{source}: cannot read the file ({error.strerror}); fix: check the path") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader subclass)
    except ConfigError as error:
        raise ConfigError(f"{source}: {error}") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark else ""
        problem = getattr(error, "problem", None) or "invalid YAML"
        raise ConfigError(f"{source}: {line}{problem}; fix: correct the YAML syntax") from None
    return parse_fleet(data, source=source)
