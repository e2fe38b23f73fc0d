"""ModelServingChart: every manifest one environment of the fleet needs, in apply order."""
from __future__ import annotations

import cdk8s

from constructs import Construct
from model_serving.fleet.fleet import Env
from model_serving.k8s.gateway import FleetGateway
from model_serving.k8s.model import ServedModel
from model_serving.k8s.openai import OpenAiEndpoint
from model_serving.k8s.security import FleetNamespace


class ModelServingChart(cdk8s.Chart):
    """One environment: its FleetNamespace, its FleetGateway, then one ServedModel per model.

    Props: `env`, a validated environment of the fleet (`fleet.fleet.Env`, from `load_fleet`).
    Objects come out in the order `kubectl apply -f` should create them: the Namespace first,
    the Gateway (which routes nothing until a VirtualService binds to it), then each model with
    its VirtualServices last. Names are not hashed: Istio objects refer to each other by name.
    """

    def __init__(self, scope: Construct, id: str, *, env: Env) -> None:
        super().__init__(scope, id, disable_resource_name_hashes=True)
        self.env = env
        FleetNamespace(
            self, "Namespace", name=env.namespace, pod_security=env.pod_security, jwt=env.jwt,
            revision=env.istio_revision, egress=env.egress,
        )
        gateway = FleetGateway(
            self, "Gateway", name=env.gateway_name, namespace=env.namespace, hosts=env.gateway.hosts,
            tls=env.gateway.tls, plain_http=env.gateway.plain_http, workload=env.gateway.workload,
            deployment=env.gateway.deployment, revision=env.istio_revision, metrics_from=env.metrics_from,
        )
        for name, model in sorted(env.models.items()):
            ServedModel(
                self, name, name=name, namespace=env.namespace, spec=model, gateway=gateway, jwt=env.jwt,
                metrics_from=env.metrics_from, cluster_domain=env.cluster_domain, egress=env.egress,
            )
        if env.openai is not None:  # after the models: its routes reach their subsets
            OpenAiEndpoint(self, "OpenAi", name=f"{env.gateway_name}-openai", namespace=env.namespace,
                           config=env.openai, models=env.models, gateway=gateway,
                           cluster_domain=env.cluster_domain)
