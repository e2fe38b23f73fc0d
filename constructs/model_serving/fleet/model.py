"""A served model: its versions, its routing, its resilience and the shape of its pods."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from model_serving.fleet.base import (
    Duration,
    Host,
    ModelPort,
    Name,
    Replicas,
    Spec,
    UrlPath,
    UrlPrefix,
)
from model_serving.fleet.openai import ServedName
from model_serving.fleet.resilience import (
    RETRY_ON_GRPC,
    RETRY_ON_GRPC_DEFAULT,
    ConnectionPool,
    Fault,
    LoadBalancer,
    OutlierDetection,
    Retries,
)
from model_serving.fleet.traffic import Consumer, Mirror, Rollout, Route, Sticky
from model_serving.fleet.workload import Autoscaling, Health, Metrics, ModelStorage, Resources
from model_serving.units import parse_duration


class Version(Spec):
    """One deployed version of a model: its own Deployment and DestinationRule subset."""

    image: str = Field(description="The server image, ideally pinned as registry/name@sha256:<digest>.")
    weight: int = Field(0, ge=0, le=100, description="Percent of the model's live traffic; the weights add up to 100.")
    replicas: Replicas = Field(1, description="Pods of this version (ignored with autoscaling).")
    env: dict[str, str] = Field({}, description="Environment variables of this version, on top of the model's.")
    args: list[str] | None = Field(None, description="Server arguments of this version. Default: the model's.")

    @field_validator("image")
    @classmethod
    def _image(cls, value: str) -> str:
        if not value or any(c.isspace() for c in value):
            raise ValueError(f"{value[:60]!r} is not an image reference; "
                "fix: e.g. registry/model:1.2.3 or registry/model@sha256:<digest>")
        return value


class Model(Spec):
    """A model: one Service and host, many versions, routing, resilience and workload shape."""

    # edge
    host: Host | None = Field(None, description="The external host on the gateway. Default: mesh-only.")
    prefix: UrlPrefix | None = Field(
        None, description="Serve under this path prefix of `host` (rewritten to `/`), ending in `/`."
    )
    served_names: list[ServedName] = Field(
        [], description="More names the model answers to on the OpenAI host (the body's `model`), besides its own."
    )
    adapters: list[ServedName] = Field(
        [], description="LoRA adapters its pods serve: a request naming one reaches this model, body unchanged."
    )
    # serving
    port: ModelPort = Field(8080, description="The server's port (not one of the sidecar's 15000-15090).")
    protocol: Literal["http", "grpc"] = Field("http", description="What the server speaks; names the Service port.")
    streaming: bool = Field(
        False,
        description="The server streams responses (e.g. an LLM with `\"stream\": true` requests); then the route "
        "timeout defaults to none, so a generation longer than any fixed timeout is not cut.",
    )
    concurrency: int | None = Field(
        None, gt=0,
        description="Requests one pod serves at once (e.g. vLLM's --max-num-seqs). Each pod's sidecar enforces it "
        "(more wait in its queue), and callers' pools default to it x the largest version's maximum replicas. "
        "Default: not enforced.",
    )
    versions: dict[Name, Version] = Field(min_length=1, description="The deployed versions, by name (e.g. v1, v2).")
    # traffic
    routes: list[Route] = Field([], description="A/B rules, tried in order before the weights.")
    sticky: Sticky | None = Field(None, description="Sticky cohorts; `true` for the defaults. Default: off.")
    mirror: Mirror | None = Field(None, description="Shadow traffic to a version. Default: off.")
    rollout: Rollout | None = Field(None, description="Staged promotion (`model-serving promote`). Default: none.")
    # resilience
    timeout: Duration | None = Field(
        "60s", description="The route timeout; `none` for no timeout. Default: 60s, or none with `streaming: true`."
    )
    retries: Retries = Field(Retries(), description="Retries of failed requests.")
    connection_pool: ConnectionPool = Field(ConnectionPool(), description="Circuit breaking.")
    outlier_detection: OutlierDetection = Field(OutlierDetection(), description="Ejection of failing replicas.")
    load_balancer: LoadBalancer = Field(LoadBalancer(), description="How replicas share requests.")
    fault: Fault | None = Field(None, description="Fault injection for drills. Default: off.")
    # workload
    resources: Resources = Field(Resources(), description="CPU, memory and accelerators per pod.")
    health: Health = Field(Health(), description="Startup, readiness and liveness probes.")
    autoscaling: Autoscaling | None = Field(None, description="A HorizontalPodAutoscaler per version. Default: fixed replicas.")
    metrics: Metrics | None = Field(
        None, description="Prometheus scraping of the server's metrics; needed by autoscaling.metric. Default: none.",
    )
    max_unavailable: int = Field(
        1, ge=1, description="Pods of a version a PodDisruptionBudget lets be evicted at once (0 would hang node drains)."
    )
    termination_grace_period: Duration = Field("120s", description="How long a stopping pod may finish in-flight requests.")
    drain_delay: Duration = Field("10s", description="preStop pause so the mesh stops routing before the server stops.")
    storage: ModelStorage | None = Field(None, description="Where the weights come from. Default: inside the image.")
    writable_paths: list[UrlPath] = Field(
        ["/tmp", "/home/model"], description="Writable emptyDirs under the read-only root filesystem."
    )
    home: UrlPath = Field(
        "/home/model", description="$HOME, on or under a writable path; XDG_CACHE_HOME, HF_HOME, TORCH_HOME, "
        "VLLM_CACHE_ROOT and other caches go under it (an env entry of the same name wins).",
    )
    native_sidecar: bool = Field(
        True, description="Run Istio's proxy as a Kubernetes native sidecar (needs Kubernetes 1.29+): up before "
        "init containers, down after the server. Off: the proxy's drain is set from terminationGracePeriod.",
    )
    env: dict[str, str] = Field({}, description="Environment variables of every version.")
    args: list[str] = Field([], description="Server arguments of every version. Default: the image's.")
    spread_zones: bool = Field(True, description="Spread each version's pods over zones as well as nodes.")
    # security
    consumers: list[Consumer] = Field([], description="Mesh callers allowed besides the gateway. Default: none.")
    service_account_token: bool = Field(False, description="Mount the Kubernetes API token (only if the server calls the API).")

    @field_validator("sticky", mode="before")
    @classmethod
    def _sticky_flag(cls, value: Any) -> Any:
        return {True: {}, False: None}.get(value, value) if isinstance(value, bool) else value

    @field_validator("timeout", mode="before")
    @classmethod
    def _no_timeout(cls, value: Any) -> Any:
        return None if value == "none" else value

    @model_validator(mode="before")
    @classmethod
    def _streaming_timeout(cls, data: Any) -> Any:
        # A stream lasts as long as the generation: no fixed route timeout unless one is asked for.
        if isinstance(data, dict) and data.get("streaming") is True and "timeout" not in data:
            data = {**data, "timeout": None}
        if isinstance(data, dict) and data.get("protocol") == "grpc":
            data = _grpc_retry_defaults(data)
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Model:
        _check_weights(self)
        _check_references(self)
        _check_live_replicas(self)
        _check_edge(self)
        _check_retry_budgets(self)
        _check_grpc_retries(self)
        _check_ejection(self)
        _check_workload(self)
        return self

    @property
    def shadow_only(self) -> str | None:
        """The mirror target, if every request it gets is a mirrored copy (no weight, no A/B route)."""
        target = self.mirror.version if self.mirror else None
        if target is None or self.versions[target].weight or any(r.version == target for r in self.routes):
            return None
        return target

    @property
    def max_pods(self) -> int:
        """The most pods of all versions together at steady state (autoscalers at their maximum)."""
        if self.autoscaling is not None:
            return self.autoscaling.max_replicas * len(self.versions)
        return sum(v.replicas for v in self.versions.values())

    @property
    def stable(self) -> str:
        """The version that takes live traffic by default: rollout.stable, else the heaviest."""
        if self.rollout:
            return self.rollout.stable
        return max(self.versions, key=lambda n: self.versions[n].weight)

    def caller_pool(self) -> ConnectionPool:
        """The connection pool each caller gets: the declared one, with `maxRequests` defaulting to what
        the largest version can serve at once (`concurrency` x its maximum replicas) when declared."""
        pool = self.connection_pool
        if self.concurrency is None or pool.max_requests is not None:
            return pool
        most = max(self.max_replicas(v) for v in self.versions)
        return pool.model_copy(update={"max_requests": self.concurrency * most})

    def max_replicas(self, version: str) -> int:
        """The most pods the version can have: autoscaling's maximum, else its replicas."""
        return self.autoscaling.max_replicas if self.autoscaling else self.versions[version].replicas


def _grpc_retry_defaults(data: dict[str, Any]) -> dict[str, Any]:
    """A gRPC model's retries default to gRPC's retry conditions where retryOn is not given."""
    def fill(retries: Any) -> Any:
        if retries is None:
            return {"retryOn": RETRY_ON_GRPC_DEFAULT}
        if isinstance(retries, dict) and "retryOn" not in retries and "retry_on" not in retries:
            return {**retries, "retryOn": RETRY_ON_GRPC_DEFAULT}
        return retries

    out = {**data, "retries": fill(data.get("retries"))}
    if isinstance(data.get("routes"), list):
        out["routes"] = [
            {**r, "retries": fill(r["retries"])} if isinstance(r, dict) and isinstance(r.get("retries"), dict) else r
            for r in data["routes"]
        ]
    return out


def _check_weights(model: Model) -> None:
    total = sum(v.weight for v in model.versions.values())
    if total != 100:
        weights = ", ".join(f"{n}={v.weight}" for n, v in model.versions.items())
        raise ValueError(f"version weights sum to {total} ({weights}); fix: make them add up to 100")


def _check_references(model: Model) -> None:
    """Every route, mirror and rollout names an existing version; route names are unique."""
    names = list(model.versions)

    def known(version: str, where: str) -> None:
        if version not in model.versions:
            raise ValueError(f"{where} names unknown version {version!r}; fix: use one of {', '.join(names)}")

    seen: set[str] = set()
    for route in model.routes:
        if route.name in seen:
            raise ValueError(f"route name {route.name!r} is used twice; fix: give each route its own name")
        seen.add(route.name)
        if route.version:
            known(route.version, f"route {route.name!r}")
    if model.mirror:
        known(model.mirror.version, "mirror")
    if model.rollout:
        known(model.rollout.stable, "rollout.stable")
        if model.rollout.canary:
            known(model.rollout.canary, "rollout.canary")
            if model.rollout.canary == model.rollout.stable:
                raise ValueError("rollout.canary equals rollout.stable; fix: name two different versions")


def _check_live_replicas(model: Model) -> None:
    """A version that takes live requests needs pods: its weight, or an A/B rule's `version:`.

    A mirror target may have none: Envoy discards shadow responses, so its copies fail unseen.
    """
    if model.autoscaling is not None:
        return  # replicas are ignored: the autoscaler keeps at least minReplicas (>= 1)
    routed = {route.version: route.name for route in model.routes if route.version}
    for name, version in model.versions.items():
        if version.replicas:
            continue
        if version.weight > 0:
            live = f"takes {version.weight}% of live traffic"
        elif name in routed:
            live = f"gets every request of route {routed[name]!r}"
        else:
            continue
        raise ValueError(
            f"version {name} has replicas: 0 but {live}, which would find no pods (503s); "
            f"fix: give versions.{name} replicas: 1 or more (or set autoscaling), or send its traffic elsewhere first"
        )


def _check_edge(model: Model) -> None:
    if model.prefix and not model.host:
        raise ValueError("prefix needs a host to route on; fix: set host: <external host>")
    if model.prefix and any(r.match.uri for r in model.routes):
        raise ValueError("routes[].match.uri cannot be combined with the model's prefix; fix: drop one of them")


def _budget_exceeded(retries: Retries, timeout: str | None) -> bool:
    """Whether every try (the first plus `attempts` retries) cannot fit in the route timeout."""
    if timeout is None or not retries.attempts or retries.per_try_timeout is None:
        return False
    return (retries.attempts + 1) * parse_duration(retries.per_try_timeout) > parse_duration(timeout)


def _check_retry_budgets(model: Model) -> None:
    for route in model.routes:
        timeout = route.timeout if "timeout" in route.model_fields_set else model.timeout
        if route.retries and _budget_exceeded(route.retries, timeout):
            raise ValueError(
                f"route {route.name!r}: its {route.retries.attempts + 1} tries exceed its timeout; "
                "fix: raise timeout, or lower attempts or perTryTimeout (or drop it)"
            )
    if _budget_exceeded(model.retries, model.timeout):
        raise ValueError(
            f"1 try + {model.retries.attempts} retries x perTryTimeout {model.retries.per_try_timeout} exceed timeout "
            f"{model.timeout}; fix: raise timeout, or lower attempts or perTryTimeout (or drop it: each try then "
            "gets the whole timeout)"
        )


def _check_grpc_retries(model: Model) -> None:
    """gRPC status retry conditions never fire on an HTTP server's answers: a sign of a copied policy."""
    if model.protocol == "grpc":
        return
    for where, retries in [("retries", model.retries)] + [(f"route {r.name!r}: retries", r.retries) for r in model.routes]:
        wrong = sorted(RETRY_ON_GRPC & {c.strip() for c in retries.retry_on.split(",")}) if retries else []
        if wrong:
            raise ValueError(
                f"{where}.retryOn has gRPC status conditions {','.join(wrong)} on an HTTP model; "
                "fix: remove them, or set protocol: grpc if the server speaks gRPC"
            )


def _check_ejection(model: Model) -> None:
    """Outlier detection may never eject every replica of the smallest version."""
    if model.autoscaling is None:
        smallest = min(v.replicas for v in model.versions.values())
    else:
        smallest = model.autoscaling.min_replicas
    pct = model.outlier_detection.max_ejection_percent
    if smallest >= 2 and pct > 100 * (smallest - 1) // smallest:
        raise ValueError(
            f"outlierDetection.maxEjectionPercent {pct} could eject every replica of a {smallest}-replica version; "
            f"fix: use at most {100 * (smallest - 1) // smallest}"
        )


def _check_workload(model: Model) -> None:
    """HOME is writable, a custom autoscaling metric can be scraped, a shared claim can be shared."""
    if not any(model.home == p or model.home.startswith(p.rstrip("/") + "/") for p in model.writable_paths):
        raise ValueError(f"home {model.home} is not on a writable path {model.writable_paths}; "
            f"fix: add {model.home} to writablePaths, or set home to one of them")
    if model.autoscaling and model.autoscaling.metric and model.metrics is None:
        raise ValueError(f"autoscaling.metric {model.autoscaling.metric} is never collected without metrics; "
            "fix: add metrics: {path: /metrics} (port: the metrics port, if not the serving port)")
    storage = model.storage
    if storage and storage.access_mode in ("ReadWriteOnce", "ReadWriteOncePod") and (
        model.autoscaling or model.max_pods > 1
    ):
        raise ValueError(f"storage.accessMode {storage.access_mode}: claim {storage.pvc} mounts on one node "
            f"(or pod), but up to {model.max_pods} pods of {len(model.versions)} version(s) mount it across nodes; "
            "fix: use a ReadOnlyMany (or ReadWriteMany) claim and set accessMode to match")
