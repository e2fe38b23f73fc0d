"""Rules that span models or environments, and legal-but-risky choices worth a warning.

Plain functions over plain values, so the loader (one-line errors for YAML users) and the
constructs' validations (for charts built in code) apply the very same rules.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from model_serving.fleet.fleet import Env
from model_serving.fleet.model import Model
from model_serving.fleet.openai import served_names
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
    for name, model in env.models.items():
        for i, route in enumerate(model.routes):
            if route.jwt_claim is not None and (env.jwt is None or not model.host):
                need = f"environments.{env.name}.jwt" if env.jwt is None else f"models.{name}.host"
                yield (f"models.{name}.routes[{i}].jwtClaim: only the gateway validates tokens, and it needs {need}; "
                       "fix: set it, or use from: mesh")
        if env.gateway.workload is None and env.gateway_name == name:
            yield (f"models.{name}: the fleet's gateway is also named {name}, and its Service and ServiceAccount would "
                   f"clash with the model's; fix: set environments.{env.name}.gateway.name to another name")
    if env.openai is not None and not host_covered(env.openai.host, env.gateway.hosts):
        yield (f"environments.{env.name}.openai.host: {env.openai.host} is not among gateway.hosts "
               f"{env.gateway.hosts}; fix: add it to {gateway_hosts}")
    for name, model in env.models.items():
        if env.openai is not None and model.host == env.openai.host:
            # The OpenAI VirtualService ends in a catch-all 404: sharing its host, either could shadow the other.
            yield (f"models.{name}.host: {model.host} is the OpenAI host of environment {env.name}, where models are "
                   "reached by the body's model; fix: give the model another host, or drop its host")
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
    return next(iter(_namespace_problems(envs)), None) or _name_clash(envs)


def _name_clash(envs: Sequence[Env]) -> str | None:
    """A model name, served name or adapter claimed twice (the OpenAI host could not route it)."""
    for env in envs:
        try:
            served_names(env.models)
        except ValueError as error:
            return f"environments.{env.name} + {error}" if len(envs) > 1 else str(error)
    return None


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


def _pool_warning(model: Model) -> str | None:
    """A caller-side cap below what the largest version can serve holds every caller back (the caps
    apply per calling proxy and per version, so each gateway pod alone could not fill the version)."""
    if model.concurrency is None:
        return None
    version = max(model.versions, key=model.max_replicas)
    capacity = model.concurrency * model.max_replicas(version)
    pool = model.connection_pool
    for field, value in (("maxRequests", pool.max_requests), ("maxConnections", pool.max_connections)):
        if value is not None and value < capacity:
            return (f"connectionPool.{field}: {value} caps each calling proxy below what {version} serves at once "
                    f"({model.concurrency} x {model.max_replicas(version)} replicas = {capacity}); "
                    "the pods enforce concurrency themselves, so leave it unset or raise it")
    return None


def _pinning_warnings(model: Model) -> Iterable[str]:
    """Rules any internet client can take to reach a version that gets no live weight."""
    if not model.host:
        return
    for i, route in enumerate(model.routes):
        version = model.versions.get(route.version or "")
        if version is None or version.weight > 0 or route.from_ is not None or route.jwt_claim is not None:
            continue
        yield (
            f"routes[{i}] ({route.name}): any client through the gateway can pick weight-0 version {route.version} "
            "by setting the matched header, cookie, query or path; add from: mesh or jwtClaim: {name, value} "
            "(or from: anyone if it is meant to be public)"
        )


def _model_warnings(model: Model) -> Iterable[str]:
    yield from _pinning_warnings(model)
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
    pool = _pool_warning(model)
    if pool:
        yield pool
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
    shared = env.gateway.workload
    for name, model in env.models.items():
        out += [f"{env.name}: models.{name}.{w}" for w in _model_warnings(model)]
        if shared is not None and any(r.jwt_claim for r in model.routes):
            out.append(
                f"{env.name}: models.{name}.routes: jwtClaim routes match only if the shared gateway in {shared.namespace} "
                f"validates tokens of {env.jwt.issuer if env.jwt else 'the issuer'} (a RequestAuthentication there)"
            )
    return out
