"""Where the fleet runs: environments, their namespace, gateway, TLS and end-user authentication."""
from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from model_serving.fleet.base import HostPattern, Name, Spec
from model_serving.fleet.expectations import Expectation
from model_serving.fleet.openai import OpenAi


class Tls(Spec):
    """HTTPS at the gateway with a Secret that lives in the gateway's namespace.

    The Secret (tls.crt, tls.key; plus ca.crt for MUTUAL) is created beside the ingress
    gateway pods (the fleet's namespace, unless a shared gateway is named), not by this tool:
    keys never pass through serving.yaml or dist/.
    """

    credential_name: Name = Field(
        description="The TLS Secret (tls.crt, tls.key) in the ingress gateway's namespace; or drop tls and set plainHttp: true."
    )
    mode: Literal["SIMPLE", "MUTUAL"] = Field("SIMPLE", description="MUTUAL also requires client certificates (ca.crt).")
    min_protocol_version: Literal["TLSV1_2", "TLSV1_3"] = Field("TLSV1_2", description="The oldest TLS version accepted.")
    https_redirect: bool = Field(
        False,
        description="Also listen on port 80 and answer 308 (Permanent Redirect, method and body kept) to HTTPS. "
        "Default: port 80 is not served at all (a 301 would turn clients' POSTs into GETs).",
    )


class GatewayWorkload(Spec):
    """A shared ingress gateway run by someone else, named explicitly: its namespace, identity and pod labels.

    The Helm chart `istio/gateway` names everything after its release: release `istio-ingress`
    gives service account `istio-ingress` and pod labels `app: istio-ingress`, `istio: ingress`.
    """

    namespace: Name = Field(description="The gateway pods' namespace, e.g. istio-ingress.")
    service_account: Name = Field(description="The gateway pods' service account, e.g. istio-ingress (the Helm release).")
    selector: dict[str, str] = Field(
        min_length=1, description="Labels that select the gateway pods, e.g. {istio: ingress} for Helm release istio-ingress."
    )


class GatewayDeployment(Spec):
    """The fleet's own ingress gateway: pods injected with Istio's `gateway` template, in the fleet's namespace."""

    service_type: Literal["LoadBalancer", "NodePort", "ClusterIP"] = Field(
        "LoadBalancer", description="The gateway Service's type: LoadBalancer takes traffic from outside the cluster."
    )
    min_replicas: int = Field(2, ge=1, description="The fewest gateway pods (2: one may be disrupted while one serves).")
    max_replicas: int = Field(5, ge=1, description="The most gateway pods the autoscaler may run (scaled on CPU).")
    cpu_utilization: int = Field(80, ge=1, le=100, description="The average CPU use, in % of requests, the autoscaler aims for.")

    @model_validator(mode="after")
    def _range(self) -> GatewayDeployment:
        if self.max_replicas < self.min_replicas:
            raise ValueError(
                f"maxReplicas {self.max_replicas} is below minReplicas {self.min_replicas}; fix: raise maxReplicas"
            )
        return self


class Gateway(Spec):
    """The Istio Gateway: explicit hosts, HTTPS unless plain HTTP is declared."""

    name: Name | None = Field(None, description="The Gateway's name. Default: `<namespace>-gateway`.")
    hosts: list[HostPattern] = Field(
        min_length=1, description='The external hosts it serves; "*" or "*.domain" only if you mean it.'
    )
    tls: Tls | None = Field(None, description="HTTPS on port 443. Required unless plainHttp is true.")
    plain_http: bool = Field(False, description="Serve plain HTTP on port 80 (no TLS).")
    deployment: GatewayDeployment = Field(
        GatewayDeployment(), description="The fleet's own gateway pods (the default; ignored with `workload`)."
    )
    workload: GatewayWorkload | None = Field(
        None, description="A shared gateway elsewhere, named explicitly. Default: none, the fleet runs its own gateway."
    )

    @model_validator(mode="after")
    def _secure(self) -> Gateway:
        if self.tls is None and not self.plain_http:
            raise ValueError("the gateway has no tls; fix: set tls.credentialName to a TLS Secret, or plainHttp: true")
        return self


class Jwt(Spec):
    """Require a valid JWT from this issuer, signed by a key of `jwksUri`, on gateway requests.

    Checked by each model's sidecar (see k8s.security.ModelAccess).
    """

    issuer: str = Field(description="The token issuer (the iss claim), an https URL such as https://auth.example.com/.")
    jwks_uri: str = Field(description="The issuer's key set, e.g. https://auth.example.com/.well-known/jwks.json.")
    audiences: list[str] = Field([], description="Accepted audiences (the aud claim). Default: any.")

    @field_validator("issuer", "jwks_uri")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith("https://"):
            raise ValueError(f"{value[:60]!r} is not an https URL; fix: e.g. https://auth.example.com/")
        return value


class Environment(Spec):
    """One target: a namespace, its gateway, and per-model overrides of the shared fleet."""

    namespace: Name = Field(description="The namespace every object of this environment lives in.")
    cluster: Name = Field(
        "default", description="The cluster it is applied to; environments on one cluster need their own namespaces."
    )
    gateway: Gateway = Field(description="The ingress: hosts, TLS and gateway pods.")
    jwt: Jwt | None = Field(None, description="Require a JWT on requests through the gateway. Default: none.")
    openai: OpenAi | None = Field(None, description="One OpenAI-compatible host routing by the body's `model`. Default: none.")
    pod_security: Literal["restricted", "baseline"] = Field("restricted", description="The namespace's Pod Security level.")
    metrics_from: list[Name] = Field([], description="Namespaces (e.g. Prometheus's) that may scrape the sidecars' metrics port.")
    istio_revision: Name | None = Field(
        None,
        description="Inject sidecars of this Istio revision or tag (`istio.io/rev`), for revision-based upgrades. "
        "Default: `istio-injection: enabled` (the default revision).",
    )
    cluster_domain: str = Field(
        "cluster.local", pattern=r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$",
        description="The cluster's DNS domain (the kubelet's clusterDomain): Services are `<name>.<namespace>.svc.<domain>`.",
    )
    egress: list[str] = Field(
        [],
        description="What the models call outside their namespace, as Istio `<namespace>/<host>` (e.g. `vectors/*`, "
        "`*/api.openai.com`); the namespace's Sidecar lets proxies know only these, `istio-system/*` and their own namespace.",
    )
    models: dict[Name, dict[str, Any]] = Field(
        {}, description="Per-model overrides, deep-merged onto the top-level `models` (same fields, all optional)."
    )

    @field_validator("egress")
    @classmethod
    def _egress(cls, hosts: list[str]) -> list[str]:
        return _egress_hosts(hosts)


EGRESS_HOST = re.compile(r"^([a-z0-9]([a-z0-9-]*[a-z0-9])?|\*|\.|~)/(\*|(\*\.)?[a-z0-9]([a-z0-9.-]*[a-z0-9])?)$")


def _egress_hosts(hosts: list[str]) -> list[str]:
    for host in hosts:
        if not EGRESS_HOST.match(host):
            raise ValueError(
                f"{host[:80]!r} is not an Istio egress host; fix: write <namespace>/<host>, e.g. vectors/* or */api.example.com"
            )
    return hosts


class Document(Spec):
    """The serving.yaml file as written."""

    environments: dict[Name, Environment] = Field(min_length=1, description="Where the fleet runs, by name.")
    models: dict[Name, dict[str, Any]] = Field(min_length=1, description="The models, by name (the Service and app label).")
    rehearse: list[Expectation] = Field(
        default_factory=list, description="Who should get which version, proven by `model-serving rehearse` on a real Envoy."
    )

    @model_validator(mode="after")
    def _overrides_name_models(self) -> Document:
        for env_name, env in self.environments.items():
            for model in env.models:
                if model not in self.models:
                    raise ValueError(
                        f"environments.{env_name}.models names unknown model {model!r}; fix: use one of {', '.join(self.models)}"
                    )
        return self
