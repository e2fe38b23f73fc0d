"""The traffic view of manifests: gateways, models, versions and routes, read from the objects.

`plan` compares two views and synth's make-before-break guard asks which versions a view
routes to, so both read the output exactly as the cluster will get it.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from model_serving.checks.analyze.checks.openai import MODEL_HEADER
from model_serving.errors import InputError
from model_serving.yamlio import YamlError, load_documents, read_text

MANIFEST_SUFFIXES = (".yaml", ".yml")
Objects = dict[str, list[dict]]  # file name -> its objects, in file order


class ManifestError(InputError):
    """A manifest file that cannot be read as Kubernetes objects; str() is the one-line message."""


def parse_manifests(text: str, where: str) -> list[dict]:
    """The Kubernetes objects of one manifest file's text; ManifestError (one line) otherwise."""
    try:
        docs = [doc for doc in load_documents(text, source=where) if doc]
    except YamlError as error:
        raise ManifestError(f"{str(error).rsplit('; fix:', 1)[0]}; fix: re-run `model-serving synth` to rewrite it") from None
    bad = [d for d in docs if not isinstance(d, dict) or "kind" not in d or "metadata" not in d]
    if bad:
        raise ManifestError(f"{where}: a document is not a Kubernetes object; fix: re-run `model-serving synth` to rewrite it")
    return docs


def read_dir(folder: Path, *, skip: Mapping[str, str] | None = None) -> Objects:
    """The manifests of an output folder (none if it does not exist yet).

    Files whose text equals `skip[name]` are left out (unchanged files need no parsing).
    """
    if folder.exists() and not folder.is_dir():
        raise ManifestError(f"{folder}: not a folder; fix: give the output folder (e.g. --out dist)")
    if not folder.is_dir():
        return {}
    try:
        texts = {
            path.name: read_text(path)
            for path in sorted(folder.iterdir())
            if path.is_file() and path.name.endswith(MANIFEST_SUFFIXES)
        }
    except YamlError as error:  # not UTF-8 or unreadable: one line, as for invalid YAML
        raise ManifestError(f"{str(error).rsplit('; fix:', 1)[0]}; fix: re-run `model-serving synth` to rewrite it") from None
    skip = skip or {}
    return {name: parse_manifests(text, str(folder / name)) for name, text in texts.items() if skip.get(name) != text}


@dataclass(frozen=True)
class RouteView:
    """One HTTP route: its match, the split over subsets, and what it mirrors."""

    name: str
    match: str  # "" for a catch-all
    split: tuple[tuple[str, int | None], ...]  # (subset, weight); None: an A/B route's single target
    mirrors: tuple[tuple[str, float], ...]  # (subset, percent)


@dataclass(frozen=True)
class VersionView:
    """A subset and the workload behind it."""

    image: str | None
    replicas: str | None


@dataclass
class ModelView:
    """A model as the manifests route it."""

    versions: dict[str, VersionView] = field(default_factory=dict)
    routes: list[RouteView] = field(default_factory=list)
    exposed: list[str] = field(default_factory=list)  # "host/prefix via ns/gateway"


@dataclass
class EnvView:
    """One manifest file's traffic: gateways and models."""

    gateways: dict[str, list[str]] = field(default_factory=dict)  # "ns/name" -> hosts
    models: dict[str, ModelView] = field(default_factory=dict)

    def model(self, name: str) -> ModelView:
        """The model's view, created empty on first use."""
        return self.models.setdefault(name, ModelView())


def model_of(host: str) -> str:
    """The model a Service host names (its first label)."""
    return host.split(".", 1)[0]


def _string_match(kind: str, name: str | None, match: dict) -> str:
    subject = f"{kind} {name}" if name else kind
    if "exact" in match:
        return f"{subject} = {match['exact']}"
    if "prefix" in match:
        return f"{subject} starts with {match['prefix']}"
    if "regex" in match:
        return f"{subject} matches {match['regex']}"
    return f"{subject} present"


def describe_match(blocks: list[dict] | None) -> str:
    """A route's match blocks in words ("" for a catch-all); blocks are OR-ed, conditions AND-ed."""
    described = []
    for block in blocks or []:
        parts = [_string_match("uri", None, block["uri"])] if "uri" in block else []
        parts += [_string_match("header", k, v) for k, v in sorted(block.get("headers", {}).items())]
        parts += [_string_match("query", k, v) for k, v in sorted(block.get("queryParams", {}).items())]
        parts += [f"gateway {g}" for g in block.get("gateways", [])]
        described.append(" and ".join(parts))
    return " or ".join(d for d in described if d)


def route_view(route: dict) -> RouteView:
    """One HTTP route of a VirtualService as a RouteView."""
    split = tuple((d["destination"].get("subset", ""), d.get("weight")) for d in route.get("route", []))
    mirrors = [route["mirror"]] if "mirror" in route else []
    mirrors += route.get("mirrors", [])
    mirrored = tuple(
        (m["destination"].get("subset", ""), float(m.get("percentage", {}).get("value", 100))) for m in mirrors
    )
    return RouteView(route.get("name", ""), describe_match(route.get("match")), split, mirrored)


def route_host(route: dict) -> str | None:
    """The destination host of a route (its first destination's)."""
    for d in route.get("route", []):
        return d["destination"]["host"]
    return None


def _autoscaled(objects: list[dict]) -> dict[str, str]:
    """Deployment name -> "min-max (autoscaled)" for every HPA target."""
    scaled: dict[str, str] = {}
    for obj in objects:
        if obj["kind"] == "HorizontalPodAutoscaler":
            spec = obj.get("spec", {})
            target = spec.get("scaleTargetRef", {}).get("name", "")
            scaled[target] = f"{spec.get('minReplicas', 1)}-{spec.get('maxReplicas')} (autoscaled)"
    return scaled


def _read_subsets(view: EnvView, objects: list[dict]) -> None:
    for obj in objects:
        kind, meta, spec = obj["kind"], obj["metadata"], obj.get("spec") or {}
        if kind == "Gateway":
            # Server hosts may be scoped `namespace/host`; the host is what clients send.
            hosts = sorted({h.split("/")[-1] for s in spec.get("servers", []) for h in s.get("hosts", [])})
            view.gateways[f"{meta.get('namespace', '')}/{meta['name']}"] = hosts
        elif kind == "DestinationRule":
            target = view.model(model_of(spec.get("host", meta["name"])))
            for subset in spec.get("subsets", []):
                target.versions.setdefault(subset["name"], VersionView(None, None))


def _read_workloads(view: EnvView, objects: list[dict]) -> None:
    scaled = _autoscaled(objects)
    for obj in objects:
        meta, spec = obj["metadata"], obj.get("spec") or {}
        labels = meta.get("labels", {})
        if obj["kind"] == "Deployment" and "app" in labels and "version" in labels:
            containers = spec.get("template", {}).get("spec", {}).get("containers", [])
            replicas = scaled.get(meta["name"]) or str(spec.get("replicas", 1))
            image = containers[0].get("image") if containers else None
            view.model(labels["app"]).versions[labels["version"]] = VersionView(image, replicas)


def _served_names(view: EnvView, vs: dict) -> bool:
    """An OpenAI-compatible VirtualService: each model is served at `<host> (model <name>)`."""
    meta, spec = vs["metadata"], vs.get("spec") or {}
    edge = [g if "/" in g else f"{meta.get('namespace', '')}/{g}" for g in spec.get("gateways", []) if g != "mesh"]
    found = False
    for route in spec.get("http", []):
        host = route_host(route)
        for block in route.get("match") or []:
            name = (block.get("headers", {}).get(MODEL_HEADER) or {}).get("exact")
            if host and name:
                found = True
                view.model(model_of(host)).exposed += [f"{h} (model {name}) via {g}" for h in spec.get("hosts", []) for g in edge]
    return found


def _read_routes(view: EnvView, vs: dict) -> None:
    if _served_names(view, vs):
        return
    meta, spec = vs["metadata"], vs.get("spec") or {}
    gateways, http = spec.get("gateways", ["mesh"]), spec.get("http", [])
    host = next((h for h in (route_host(r) for r in http) if h), None)
    if host is None:
        return
    target = view.model(model_of(host))
    edge = [g if "/" in g else f"{meta.get('namespace', '')}/{g}" for g in gateways if g != "mesh"]
    prefix = "/"
    if "mesh" not in gateways:
        # A gateway-only VirtualService serves the model under the URI prefix its routes match and
        # rewrite to `/` (a route's own uri match, without the rewrite, is an A/B rule).
        prefixes = [b["uri"].get("prefix") for r in http if (r.get("rewrite") or {}).get("uri") == "/"
                    for b in r.get("match", []) if "uri" in b]
        prefix = next((p for p in prefixes if p), "/")
    for h in spec.get("hosts", []):
        if ".svc." not in h:
            target.exposed += [f"{h.split('/')[-1]}{prefix} via {g}" for g in edge]
    if "mesh" in gateways or not target.routes:
        # The mesh routes are the model's routes; a gateway-only VirtualService repeats them
        # under a prefix, so it only counts when there is nothing else.
        target.routes = [route_view(r) for r in http]


def traffic_view(objects: list[dict]) -> EnvView:
    """Read gateways, models, versions and routes from one file's objects."""
    view = EnvView()
    _read_subsets(view, objects)
    _read_workloads(view, objects)
    for obj in objects:
        if obj["kind"] == "VirtualService":
            _read_routes(view, obj)
    for m in view.models.values():
        m.exposed = sorted(set(m.exposed))
    return view
