"""Names and labels the objects share (Istio's bookinfo conventions), decided once."""
from __future__ import annotations


def labels(app: str, version: str | None = None) -> dict[str, str]:
    """Pod labels Istio keys on: `app` selects the model, `version` the subset."""
    return {"app": app} if version is None else {"app": app, "version": version}


def workload_name(app: str, version: str) -> str:
    """A version's Deployment, PodDisruptionBudget and autoscaler name: `<model>-<version>`."""
    return f"{app}-{version}"


def principal(namespace: str, service_account: str) -> str:
    """The identity Istio gives a workload's service account, as authorization policies write it.

    `cluster.local` here stands for the mesh's trust domain (and its aliases) whatever it is
    actually called, so policies survive a trust-domain change.
    """
    return f"cluster.local/ns/{namespace}/sa/{service_account}"
