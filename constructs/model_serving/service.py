"""The Service of a model: one stable name in front of every version."""
from __future__ import annotations

import cdk8s_plus_27 as kplus
from constructs import Construct

from .config import Model
from .workload import labels

APP_PROTOCOL = {"http": "http", "grpc": "grpc"}


class ModelService(Construct):
    """Service `<model>` selecting `app: <model>` (all versions); Istio picks the version by subset."""

    def __init__(self, scope: Construct, id: str, *, name: str, namespace: str, model: Model) -> None:
        super().__init__(scope, id)
        # k8s.KubeService rather than kplus.Service: cdk8s-plus-27's ServicePort has no appProtocol,
        # which Istio uses to pick the protocol whatever the port's name.
        kplus.k8s.KubeService(
            self,
            "Resource",
            metadata=kplus.k8s.ObjectMeta(name=name, namespace=namespace, labels=labels(name)),
            spec=kplus.k8s.ServiceSpec(
                selector=labels(name),
                ports=[
                    kplus.k8s.ServicePort(
                        name=model.protocol,
                        port=model.port,
                        target_port=kplus.k8s.IntOrString.from_string(model.protocol),
                        app_protocol=APP_PROTOCOL[model.protocol],
                        protocol="TCP",
                    )
                ],
            ),
        )
