"""ModelServingChart: every manifest one environment needs, in apply order."""
from __future__ import annotations

import cdk8s
import cdk8s_plus_27 as kplus
from constructs import Construct

from model_serving.fleet.schema import Env
from model_serving.k8s.gateway import ModelGateway
from model_serving.fleet.routes import gateway_ref, plan_routes
from model_serving.k8s.security import ModelAccess, NamespaceSecurity
from model_serving.k8s.service import ModelService
from model_serving.k8s.traffic import ModelDestinationRule, ModelVirtualService
from model_serving.k8s.workload import ModelWorkloads

POD_SECURITY = "pod-security.kubernetes.io/enforce"


class ModelServingChart(cdk8s.Chart):
    """One environment of the fleet.

    Children are added in the order `kubectl apply -f` should create them: the Namespace, then
    workloads, Services and DestinationRules (subsets exist before anything routes to them),
    then the Gateway and VirtualServices. The parts (ModelWorkloads, ModelService...) add their
    objects straight to the chart under ids `<model>.<part>`: construct levels in between would
    cost a jsii call each and change nothing in the output, whose order is the order of creation.
    """

    def __init__(self, scope: Construct, id: str, *, env: Env) -> None:
        super().__init__(scope, id, disable_resource_name_hashes=True)
        self.env = env
        kplus.Namespace(
            self,
            "Namespace",
            metadata=cdk8s.ApiObjectMetadata(
                name=env.namespace,
                labels={
                    "istio-injection": "enabled",
                    POD_SECURITY: env.pod_security,
                    "pod-security.kubernetes.io/warn": env.pod_security,
                    "pod-security.kubernetes.io/audit": env.pod_security,
                },
            ),
        )
        NamespaceSecurity(self, "MeshSecurity", env=env)
        secure_cookies = env.gateway.tls is not None
        models = sorted(env.models.items())
        for name, model in models:
            ModelWorkloads(self, f"{name}.Workloads", name=name, namespace=env.namespace, model=model)
            ModelService(self, f"{name}.Service", name=name, namespace=env.namespace, model=model)
            ModelDestinationRule(
                self, f"{name}.DestinationRule", name=name, namespace=env.namespace, host=env.service_host(name), model=model
            )
            ModelAccess(self, f"{name}.Access", name=name, env=env, model=model)
        ModelGateway(self, "Gateway", env=env)
        for name, model in models:
            ModelVirtualService(
                self,
                f"{name}-routes",
                name=name,
                namespace=env.namespace,
                host=env.service_host(name),
                port=model.port,
                model=model,
                routes=plan_routes(name, model, secure_cookies=secure_cookies),
                gateway=gateway_ref(env),
            )
