"""What a model's pods look like: resources, accelerators, probes, autoscaling and model storage."""
from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from model_serving.fleet.base import Duration, ModelPort, Name, Spec, UrlPath
from model_serving.units import parse_duration, parse_quantity

DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
# Where a server's caches go when nothing else is set: each variable below is read by the
# library named, and each defaults to somewhere under $HOME, which the read-only root forbids.
CACHE_DIRS = {
    "XDG_CACHE_HOME": ".cache",                # freedesktop default for caches (pip, many tools)
    "XDG_CONFIG_HOME": ".config",              # config written at run time (matplotlib, wandb...)
    "HF_HOME": ".cache/huggingface",           # huggingface_hub / transformers (TRANSFORMERS_CACHE is deprecated)
    "TORCH_HOME": ".cache/torch",              # torch.hub weights
    "VLLM_CACHE_ROOT": ".cache/vllm",          # vLLM compile and kernel caches
    "TRITON_CACHE_DIR": ".cache/triton",       # Triton (the compiler) kernel cache, else ~/.triton
    "NUMBA_CACHE_DIR": ".cache/numba",         # numba JIT cache, else next to the (read-only) sources
}


class ResourceList(Spec):
    """CPU and memory quantities (Kubernetes notation: 500m, 2, 8Gi)."""

    cpu: str | None = Field(None, description="CPU, e.g. 500m or 2.")
    memory: str | None = Field(None, description="Memory, e.g. 512Mi or 8Gi.")

    @field_validator("cpu", "memory")
    @classmethod
    def _quantity(cls, value: str | None) -> str | None:
        if value is not None:
            parse_quantity(value)
        return value


class Toleration(Spec):
    """A Kubernetes toleration: lets pods schedule onto nodes with a matching taint."""

    key: str | None = Field(None, description="The taint key. Default: any key (with operator Exists).")
    operator: Literal["Exists", "Equal"] | None = Field(None, description="Exists, or Equal to `value`. Default: Equal.")
    value: str | None = Field(None, description="The taint value to equal.")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = Field(
        None, description="The taint effect. Default: every effect."
    )
    toleration_seconds: int | None = Field(None, ge=0, description="For NoExecute: how long pods stay once tainted.")


class Gpu(Spec):
    """Accelerators: an extended resource plus the scheduling GPU nodes need."""

    count: int = Field(1, gt=0, strict=True, description="Accelerators per pod (a whole number).")
    resource: str = Field("nvidia.com/gpu", description="The extended resource name.")
    node_selector: dict[str, str] = Field({}, description="Node labels the pods require, e.g. a GPU product.")
    tolerations: list[Toleration] | None = Field(
        None, description="Pod tolerations. Default: tolerate the `<resource>` NoSchedule taint GPU nodes carry."
    )


class Resources(Spec):
    """Requests and limits; requests must not exceed limits."""

    requests: ResourceList = Field(ResourceList(cpu="1", memory="2Gi"), description="What the scheduler reserves.")
    limits: ResourceList = Field(ResourceList(cpu="2", memory="4Gi"), description="What a container may use at most.")
    gpu: Gpu | None = Field(None, description="Accelerators. Default: none.")

    @model_validator(mode="after")
    def _requests_within_limits(self) -> Resources:
        for kind in ("cpu", "memory"):
            req, lim = getattr(self.requests, kind), getattr(self.limits, kind)
            if req and lim and parse_quantity(req) > parse_quantity(lim):
                raise ValueError(f"{kind} request {req} is above the limit {lim}; "
                    f"fix: raise limits.{kind} or lower requests.{kind}")
        return self


class Health(Spec):
    """Probes: a startup probe sized for model loading, then readiness and liveness."""

    protocol: Literal["http", "grpc"] = Field("http", description="HTTP GET probes, or the kubelet's gRPC health probe.")
    ready_path: UrlPath = Field("/v2/health/ready", description="Readiness path (Open Inference Protocol by default).")
    live_path: UrlPath = Field("/v2/health/live", description="Liveness path.")
    startup_timeout: Duration = Field("10m", description="How long a replica may take to load its model before it is restarted.")
    period: Duration = Field("10s", description="How often the probes run.")
    pull_allowance: Duration = Field(
        "10m", description="Time for scheduling (a GPU node may be provisioned), image pulls and init containers "
        "(the weights download) before the startup probe starts; part of the Deployment's progress deadline.",
    )

    @property
    def startup_failures(self) -> int:
        """The startup probe's failureThreshold: startupTimeout in periods (at least one)."""
        return max(1, int(parse_duration(self.startup_timeout)) // int(parse_duration(self.period)))

    @property
    def progress_deadline(self) -> int:
        """Seconds a new pod may take to become ready: what `progressDeadlineSeconds` must cover.

        The pull allowance, then the startup probe's whole budget (no initialDelaySeconds), then one
        readiness period. Less, and the Deployment reports ProgressDeadlineExceeded (Argo CD:
        Degraded; `kubectl rollout status`: fails) while a replica is still legitimately loading.
        """
        period = int(parse_duration(self.period))
        return int(parse_duration(self.pull_allowance)) + self.startup_failures * period + period


class Autoscaling(Spec):
    """A HorizontalPodAutoscaler per version, on CPU or a custom per-pod metric."""

    min_replicas: int = Field(1, ge=1, description="The fewest replicas of each version.")
    max_replicas: int = Field(ge=1, description="The most replicas of each version.")
    cpu_utilization: int | None = Field(None, gt=0, le=100, description="Target average CPU utilization, percent.")
    metric: str | None = Field(None, description="A per-pod custom metric, e.g. vllm:num_requests_waiting.")
    metric_target: str | None = Field(None, description="The metric's target average value per pod, e.g. \"5\".")

    @model_validator(mode="after")
    def _bounds(self) -> Autoscaling:
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"minReplicas {self.min_replicas} is above maxReplicas {self.max_replicas}; "
                "fix: make minReplicas <= maxReplicas")
        if (self.metric is None) != (self.metric_target is None):
            raise ValueError("metric and metricTarget go together; fix: set both or neither")
        if self.metric is None and self.cpu_utilization is None:
            raise ValueError("autoscaling needs cpuUtilization or metric; fix: e.g. cpuUtilization: 70")
        if self.metric_target is not None:
            parse_quantity(self.metric_target)
        return self


class Metrics(Spec):
    """Prometheus scraping of the server's own metrics (what a per-pod autoscaling metric comes from).

    The pods get `prometheus.io/scrape`, `port` and `path` annotations. Istio's injector moves them to
    its agent (port 15020), which serves the server's metrics merged with the proxy's, so a scraper
    outside the mesh needs no certificate. The NetworkPolicy admits the scraper's namespace to 15020
    and to `port`; the AuthorizationPolicy admits it to GET `path` on `port` (for an in-mesh scraper,
    or with Istio's metrics merging off).
    """

    port: ModelPort | None = Field(None, description="The port the server serves metrics on. Default: the serving port.")
    path: UrlPath = Field("/metrics", description="The metrics path.")
    scraper_namespace: Name = Field(
        "monitoring", description="The scraper's namespace (kube-prometheus-stack's usual one; istio-system for Istio's addon).",
    )
    scraper_service_account: Name | None = Field(
        None, description="The scraper's service account, for an in-mesh scraper. Default: any in its namespace.",
    )


class ModelStorage(Spec):
    """Where the weights come from: a PVC, or an emptyDir filled by an init container."""

    mount_path: UrlPath = Field("/models", description="Where the weights are mounted (read-only) in the server.")
    pvc: Name | None = Field(None, description="An existing PersistentVolumeClaim holding the weights.")
    access_mode: Literal["ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"] | None = Field(
        None, description="The claim's access mode, as `kubectl get pvc` shows it (required with pvc: synth cannot "
        "read the cluster). Pods on several nodes need ReadOnlyMany or ReadWriteMany.",
    )
    download_image: str | None = Field(None, description="An init container image that downloads the weights.")
    download_command: list[str] = Field([], description="The init container's command. Default: the image's own.")
    size_limit: str = Field("20Gi", description="The emptyDir's size limit for downloaded weights.")

    @model_validator(mode="after")
    def _one_source(self) -> ModelStorage:
        if (self.pvc is None) == (self.download_image is None):
            raise ValueError("storage needs exactly one of pvc or downloadImage; fix: pick one")
        if self.pvc and self.access_mode is None:
            raise ValueError(f"storage.pvc {self.pvc} needs its accessMode (synth cannot read the claim); "
                "fix: add accessMode: ReadOnlyMany (or what `kubectl get pvc` shows)")
        if self.access_mode and not self.pvc:
            raise ValueError("storage.accessMode describes a pvc; fix: drop accessMode, or set pvc")
        parse_quantity(self.size_limit)
        return self


def is_digest_pinned(image: str) -> bool:
    """Whether the image is pinned by digest: its content can never change under the same name."""
    return DIGEST.search(image) is not None


def home_env(home: str, writable_paths: list[str] | tuple[str, ...]) -> dict[str, str]:
    """HOME, the cache variables under it, and TMPDIR, all on writable emptyDirs."""
    env = {"HOME": home, **{name: f"{home.rstrip('/')}/{sub}" for name, sub in CACHE_DIRS.items()}}
    if "/tmp" in writable_paths:
        env["TMPDIR"] = "/tmp"
    return env
