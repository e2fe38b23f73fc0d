"""Rules that span models or environments, and legal-but-risky choices worth a warning.

Plain functions over plain values, so the loader (one-line errors for YAML users) and the
constructs' validations (for charts built in code) apply the very same rules.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from model_serving.fleet.fleet import Env
from model_serving.fleet.model import Model
from model_serving.fleet.resilience import RETRY_ON_5XX

IMAGE_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def host_covered(host: str, patterns: Iterable[str]) -> bool:
    """Whether gateway server hosts (`*`, `*.domain`, optionally `namespace/`-scoped) admit `host`."""
    for pattern in patterns:
        pattern = pattern.split("/", 1)[-1]
        if pattern in ("*", host) or (pattern.startswith("*.") and host.endswith(pattern[1:])):
            return True
    return False


def duplicate_claims(claims: Iterable[tuple[str, str]]) -> list[tuple[str, str, str]]:
    """(model, route key, first owner) for every (model, host+prefix) claimed by an earlier model."""
    owners: dict[str, str] = {}
    out = []
    for model, key in claims:
        if key in owners:
            out.append((model, key, owners[key]))
        else:
            owners[key] = model
    return out


def _edge_problems(env: Env) -> Iterable[str]:
    gateway_hosts = f"environments.{env.name}.gateway.hosts"
    for name, model in env.models.items():
        if model.host and not host_covered(model.host, env.gateway.hosts):
            yield (
                f"models.{name}.host: {model.host} is not among gateway.hosts {env.gateway.hosts} in environment "
                f"{env.name}; fix: add it to {gateway_hosts}"
            )
    claims = [(n, f"{m.host}{m.prefix or ''}") for n, m in env.models.items() if m.host]
    for claimant, key, owner in duplicate_claims(claims):
        yield (f"models.{claimant}.host: {key} is already routed to model {owner}; "
               "fix: give one of them another host or a distinct prefix")


def _namespace_problems(envs: Sequence[Env]) -> Iterable[str]:
    seen: dict[tuple[str, str], str] = {}
    for env in envs:
        key = (env.cluster, env.namespace)
        if key in seen:
            yield (
                f"environments.{env.name}.namespace: {env.namespace} is also environment {seen[key]}'s namespace on "
                f"cluster {env.cluster}, so their objects would overwrite each other; fix: give each environment its "
                "own namespace, or set cluster: to the cluster each one is applied to"
            )
        seen[key] = env.name


def check_environments(envs: Sequence[Env]) -> str | None:
    """The first cross-model or cross-environment problem, as `field: problem; fix: ...`, or None."""
    for env in envs:
        for problem in _edge_problems(env):
            return problem
    return next(iter(_namespace_problems(envs)), None)


def _image_warning(image: str) -> str | None:
    if IMAGE_DIGEST.search(image):
        return None
    if "@" in image:
        return f"{image} has a malformed digest; write @sha256:<64 hex digits>"
    tag = image.rsplit("/", 1)[-1].partition(":")[2]
    return f"{image} is not pinned; pin a tag or, better, @sha256:<digest>" if not tag or tag == "latest" else None


def _mirror_warning(model: Model) -> str | None:
    mirror = model.mirror
    if mirror is None:
        return None
    if model.versions[mirror.version].weight > 0 or any(r.version == mirror.version for r in model.routes):
        return (
            f"mirror: {mirror.version} also takes live traffic, so it sees those requests twice and cannot tell "
            "mirrored copies from live requests (it gets no MODEL_SERVING_MIRROR_TARGET); "
            "mirrored requests cost GPU capacity on the shadow version"
        )
    return (
        f"mirror: {mirror.percent:g}% of live traffic is copied to {mirror.version}; "
        "size its replicas for that load (mirroring costs GPU capacity)"
    )


def _model_warnings(model: Model) -> Iterable[str]:
    mirrored = _mirror_warning(model)
    if mirrored:
        yield mirrored
    if model.fault:
        yield "fault: Istio turns off retries and timeouts on routes with fault injection"
    replayed = RETRY_ON_5XX & set(model.retries.retry_on.split(","))
    if replayed and model.retries.attempts:
        yield (
            f"retries.retryOn: {','.join(sorted(replayed))} retries requests the model already spent "
            "GPU time on; prefer connection-level conditions (the default)"
        )
    storage = model.storage
    if storage and storage.download_image and not model.native_sidecar:
        yield ("nativeSidecar: false with storage.downloadImage: under Istio CNI the download runs before the "
               "proxy and has no network; prefer nativeSidecar: true (Kubernetes 1.29+)")
    if storage and storage.access_mode in ("ReadWriteOnce", "ReadWriteOncePod"):
        yield (f"storage.accessMode {storage.access_mode}: a rollout's surge pod needs claim {storage.pvc} while the "
               "old pod still holds it, and waits (ContainerCreating) if it lands elsewhere; prefer ReadOnlyMany")
    for vname, version in model.versions.items():
        image = _image_warning(version.image)
        if image:
            yield f"versions.{vname}.image: {image}"


def warnings_for(env: Env) -> list[str]:
    """Legal but risky choices in one environment, printed at synth."""
    out: list[str] = []
    if env.jwt is not None and env.gateway.plain_http:
        out.append(
            f"environments.{env.name}.jwt: the gateway also serves plain HTTP, so bearer tokens can "
            "cross the network unencrypted; prefer tls without plainHttp"
        )
    for name, model in env.models.items():
        out += [f"{env.name}: models.{name}.{w}" for w in _model_warnings(model)]
    return out
