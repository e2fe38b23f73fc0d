"""The validated fleet: what every consumer (chart, edits, traffic map, plan) reads."""
from __future__ import annotations

from dataclasses import dataclass, field

from model_serving.fleet.environment import Gateway, Jwt
from model_serving.fleet.expectations import Expectation
from model_serving.fleet.model import Model
from model_serving.fleet.openai import OpenAi

CLUSTER_DOMAIN = "cluster.local"  # the kubelet's default clusterDomain; Environment.cluster_domain overrides it


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
    cluster: str = "default"
    istio_revision: str | None = None
    cluster_domain: str = CLUSTER_DOMAIN
    egress: tuple[str, ...] = ()
    openai: OpenAi | None = None  # the OpenAI-compatible host, routed by the body's `model`

    def service_host(self, model: str) -> str:
        """The fully qualified in-cluster host of a model's Service."""
        return f"{model}.{self.namespace}.svc.{self.cluster_domain}"

    @property
    def gateway_ref(self) -> str:
        """How a VirtualService names this environment's Gateway."""
        return f"{self.namespace}/{self.gateway_name}"

    @property
    def secure(self) -> bool:
        """Whether clients reach the gateway over HTTPS (cookies may then be `Secure`)."""
        return self.gateway.tls is not None


@dataclass(frozen=True)
class Fleet:
    """All environments from one serving.yaml, plus warnings worth printing at synth."""

    source: str
    environments: dict[str, Env]
    warnings: list[str] = field(default_factory=list)
    rehearse: list[Expectation] = field(default_factory=list)
