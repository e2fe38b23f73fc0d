"""The Service of a model: one stable name in front of every version."""
from __future__ import annotations

import cdk8s_plus_27 as kplus
from constructs import Construct

from model_serving.k8s import values
from model_serving.fleet.schema import Model
from model_serving.k8s.workload import labels

APP_PROTOCOL = {"http": "http", "grpc": "grpc"}


class ModelService:
    """Service `<model>` selecting `app: <model>` (all versions); Istio picks the version by subset.

    Not a construct of its own (a construct level costs a jsii call): the Service is added to `scope`.
    """

    def __init__(self, scope: Construct, id: str, *, name: str, namespace: str, model: Model) -> None:
        # k8s.KubeService rather than kplus.Service: cdk8s-plus-27's ServicePort has no appProtocol,
        # which Istio uses to pick the protocol whatever the port's name.
        kplus.k8s.KubeService(
            scope,
            id,
            metadata=kplus.k8s.ObjectMeta(name=name, namespace=namespace, labels=labels(name)),
            spec=kplus.k8s.ServiceSpec(
                selector=labels(name),
                ports=[
                    kplus.k8s.ServicePort(
                        name=model.protocol,
                        port=model.port,
                        target_port=values.int_or_name(model.protocol),
                        app_protocol=APP_PROTOCOL[model.protocol],
                        protocol="TCP",
                    )
                ],
            ),
        )
