"""`model-serving plan`: what applying a fresh synth would change, in plain words.

The one consumer that parses manifests, because its job is to compare: both sides (the files
in dist/ or in a git ref, and a fresh in-memory synth) are read into the same traffic view
from their VirtualService, DestinationRule, Deployment and Gateway objects, then compared.
It also holds the make-before-break rule synth enforces before it replaces dist/.
"""
from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping

from model_serving.commands.trafficmap import short_image
from model_serving.errors import InputError
from model_serving.fleet.load import ConfigError
from model_serving.yamlio import YamlError, load_documents

if TYPE_CHECKING:
    from model_serving.commands.synth import Output

MANIFEST_SUFFIXES = (".yaml", ".yml")
ARROW = "→"
Objects = dict[str, list[dict]]  # file name -> its objects, in file order


class PlanError(InputError):
    """A problem reading one side of the comparison; str() is the one-line message."""


# --- reading both sides ----------------------------------------------------------------------


def _load(text: str, where: str) -> list[dict]:
    try:
        docs = [doc for doc in load_documents(text, source=where) if doc]
    except YamlError as error:
        raise PlanError(f"{str(error).rsplit('; fix:', 1)[0]}; fix: re-run `model-serving synth` to rewrite it") from None
    bad = [d for d in docs if not isinstance(d, dict) or "kind" not in d or "metadata" not in d]
    if bad:
        raise PlanError(f"{where}: a document is not a Kubernetes object; fix: re-run `model-serving synth` to rewrite it")
    return docs


def read_dir(folder: Path, *, skip: Mapping[str, str] | None = None) -> Objects:
    """The manifests of an output folder (none if it does not exist yet).

    Files whose text equals `skip[name]` are left out (unchanged files need no parsing).
    """
    if not folder.is_dir():
        return {}
    texts = {
        path.name: path.read_text()
        for path in sorted(folder.iterdir())
        if path.is_file() and path.name.endswith(MANIFEST_SUFFIXES)
    }
    skip = skip or {}
    return {name: _load(text, str(folder / name)) for name, text in texts.items() if skip.get(name) != text}


def _git(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise PlanError("--ref: git is not installed; fix: install git, or compare with the files in dist/") from None


def read_ref(ref: str, folder: Path) -> Objects:
    """The manifests of `folder` as committed at git revision `ref` (none if it had no such folder)."""
    cwd = folder.parent if folder.parent.is_dir() else Path.cwd()
    found = _git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], cwd)
    if found.returncode != 0:
        detail = found.stderr.strip().splitlines()[-1] if found.stderr.strip() else f"unknown revision {ref!r}"
        raise PlanError(f"--ref: {detail}; fix: name a commit, branch or tag of this repository (e.g. origin/main)")
    tree = f"{ref}:./{folder.name}"
    listing = _git(["ls-tree", "--name-only", "-z", tree], cwd)
    if listing.returncode != 0:
        return {}  # the ref has no output folder yet: everything is new
    objects: Objects = {}
    for name in sorted(n for n in listing.stdout.split("\0") if n.endswith(MANIFEST_SUFFIXES)):
        shown = _git(["show", f"{tree}/{name}"], cwd)
        if shown.returncode != 0:
            raise PlanError(f"--ref: cannot read {folder.name}/{name} at {ref}; fix: check the ref")
        objects[name] = _load(shown.stdout, f"{ref}:{folder.name}/{name}")
    return objects


def fresh_objects(files: dict[str, str]) -> Objects:
    """Parse the manifest files of an in-memory synth (render_files) the same way as dist/."""
    return {name: _load(text, name) for name, text in sorted(files.items()) if name.endswith(MANIFEST_SUFFIXES)}


# --- the traffic view --------------------------------------------------------------------------


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


def _model_of(host: str) -> str:
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


def _route_view(route: dict) -> RouteView:
    split = tuple((d["destination"].get("subset", ""), d.get("weight")) for d in route.get("route", []))
    mirrors = [route["mirror"]] if "mirror" in route else []
    mirrors += route.get("mirrors", [])
    mirrored = tuple(
        (m["destination"].get("subset", ""), float(m.get("percentage", {}).get("value", 100))) for m in mirrors
    )
    return RouteView(route.get("name", ""), describe_match(route.get("match")), split, mirrored)


def _route_host(route: dict) -> str | None:
    for d in route.get("route", []):
        return d["destination"]["host"]
    return None


def traffic_view(objects: list[dict]) -> EnvView:
    """Read gateways, models, versions and routes from one file's objects."""
    view = EnvView()

    def model(name: str) -> ModelView:
        return view.models.setdefault(name, ModelView())

    scaled: dict[str, str] = {}
    for obj in objects:
        if obj["kind"] == "HorizontalPodAutoscaler":
            spec = obj.get("spec", {})
            target = spec.get("scaleTargetRef", {}).get("name", "")
            scaled[target] = f"{spec.get('minReplicas', 1)}-{spec.get('maxReplicas')} (autoscaled)"
    for obj in objects:
        kind, meta, spec = obj["kind"], obj["metadata"], obj.get("spec") or {}
        ns = meta.get("namespace", "")
        if kind == "Gateway":
            view.gateways[f"{ns}/{meta['name']}"] = sorted({h for s in spec.get("servers", []) for h in s.get("hosts", [])})
        elif kind == "DestinationRule":
            target = model(_model_of(spec.get("host", meta["name"])))
            for subset in spec.get("subsets", []):
                target.versions.setdefault(subset["name"], VersionView(None, None))
    for obj in objects:
        meta, spec = obj["metadata"], obj.get("spec") or {}
        labels = meta.get("labels", {})
        if obj["kind"] == "Deployment" and "app" in labels and "version" in labels:
            containers = spec.get("template", {}).get("spec", {}).get("containers", [])
            replicas = scaled.get(meta["name"]) or str(spec.get("replicas", 1))
            model(labels["app"]).versions[labels["version"]] = VersionView(
                containers[0].get("image") if containers else None, replicas
            )
    for obj in objects:
        if obj["kind"] != "VirtualService":
            continue
        meta, spec = obj["metadata"], obj.get("spec") or {}
        gateways = spec.get("gateways", ["mesh"])
        http = spec.get("http", [])
        host = next((h for h in (_route_host(r) for r in http) if h), None)
        if host is None:
            continue
        target = model(_model_of(host))
        edge = [g if "/" in g else f"{meta.get('namespace', '')}/{g}" for g in gateways if g != "mesh"]
        prefix = "/"
        if "mesh" not in gateways:
            # A gateway-only VirtualService serves the model under the URI prefix its routes match.
            prefixes = [b["uri"].get("prefix") for r in http for b in r.get("match", []) if "uri" in b]
            prefix = next((p for p in prefixes if p), "/")
        for h in spec.get("hosts", []):
            if not h.endswith(".svc.cluster.local"):
                target.exposed += [f"{h}{prefix} via {g}" for g in edge]
        if "mesh" in gateways or not target.routes:
            # The mesh routes are the model's routes; a gateway-only VirtualService repeats them
            # under a prefix, so it only counts when there is nothing else.
            target.routes = [_route_view(r) for r in http]
    for m in view.models.values():
        m.exposed = sorted(set(m.exposed))
    return view


# --- make-before-break -------------------------------------------------------------------------


@dataclass
class _Use:
    """How much traffic one subset gets from a file's VirtualServices."""

    weight: int = 0  # the largest weight in any split
    routes: list[str] = field(default_factory=list)  # routes whose only target it is
    mirror: float = 0.0  # the largest mirror percentage

    def describe(self) -> list[str]:
        how = [f"weight {self.weight}"] if self.weight else []
        if self.routes:
            how.append(("route " if len(self.routes) == 1 else "routes ") + ", ".join(self.routes))
        if self.mirror:
            how.append(f"mirror {self.mirror:g}%")
        return how


def _routed_to(objects: list[dict]) -> dict[tuple[str, str], list[str]]:
    """How each (model, subset) receives traffic: positive weights, A/B routes, mirrors."""
    found: dict[tuple[str, str], _Use] = {}
    for obj in objects:
        if obj["kind"] != "VirtualService":
            continue
        for route in (obj.get("spec") or {}).get("http", []):
            host = _route_host(route)
            if host is None:
                continue
            view = _route_view(route)
            for subset, weight in view.split:
                use = found.setdefault((_model_of(host), subset), _Use())
                if weight is None:  # a route's only target, without a weight: all of its traffic
                    if view.name not in use.routes:
                        use.routes.append(view.name)
                else:  # a weighted split: weight 0 is the first step of a removal, not traffic
                    use.weight = max(use.weight, weight)
            for subset, percent in view.mirrors:
                use = found.setdefault((_model_of(host), subset), _Use())
                use.mirror = max(use.mirror, percent)
    return {key: use.describe() for key, use in found.items() if use.describe()}


def blocked_removals(old: Objects, new: Objects, *, source: str, base: str) -> list[tuple[str, str]]:
    """Versions the new output drops although `base` (the old side) still routes to them.

    Returns (file name, one-line message) pairs. Only versions of models that still exist
    count; a weight-0 entry of a weighted split is not traffic (that is the first step).
    """
    problems = []
    several = len(set(old) | set(new)) > 1
    for filename, new_objects in new.items():
        if filename not in old:
            continue
        before, after = traffic_view(old[filename]), traffic_view(new_objects)
        routed = _routed_to(old[filename])
        env = filename.split(".", 1)[0]
        for name, model in before.models.items():
            if name not in after.models:
                continue
            for version in model.versions:
                if version in after.models[name].versions or (name, version) not in routed:
                    continue
                where = f"environments.{env} + models.{name}.versions" if several else f"models.{name}.versions"
                how = routed[(name, version)]
                first = "remove its routes and mirror first" if any(h.startswith("mirror") for h in how) else "remove its routes first"
                problems.append((
                    filename,
                    f"{source}: {where}: removing {version} while {base} still routes to it ({', '.join(how)}); "
                    f"fix: set its weight to 0 and {first}, synth and apply, then remove the version",
                ))
    return problems


def removed_while_routed(old_dir: Path, outputs: Iterable[Output], *, source: str = "serving.yaml") -> list[str]:
    """Synth's make-before-break check against the files now in `old_dir` (none: nothing to check)."""
    outputs = list(outputs)
    try:
        # A file that synthesizes to the same text removes nothing.
        old = read_dir(old_dir, skip={out.filename: out.text for out in outputs})
    except PlanError:
        return []  # unreadable old files route nothing we can know of; synth rewrites them
    if not old:
        return []
    new = {out.filename: out.objects for out in outputs if out.filename in old}
    return [message for _, message in blocked_removals(old, new, source=source, base=f"{old_dir.as_posix().rstrip('/')}/")]


# --- comparing -----------------------------------------------------------------------------------


@dataclass
class EnvPlan:
    """The changes of one environment (one manifest file)."""

    env: str
    filename: str
    traffic: list[str] = field(default_factory=list)
    objects: list[tuple[str, str]] = field(default_factory=list)  # ("added"|"removed"|"changed", "Kind ns/name")
    blocked: list[str] = field(default_factory=list)


def _pct(value: float) -> str:
    return f"{value:g}%"


def _catch_all(model: ModelView) -> RouteView | None:
    plain = [r for r in model.routes if not r.match]
    return plain[-1] if plain else (model.routes[-1] if model.routes else None)


def _traffic_of(model: ModelView, version: str) -> str:
    """How a version takes traffic, for "new version" lines."""
    parts = []
    default = _catch_all(model)
    weight = dict(default.split).get(version) if default else None
    if weight:
        parts.append(f"weight {weight}%")
    routes = [r.name for r in model.routes if (version, None) in r.split]
    if routes:
        parts.append(("route " if len(routes) == 1 else "routes ") + ", ".join(routes))
    mirrors = sorted({p for r in model.routes for s, p in r.mirrors if s == version})
    if mirrors:
        parts.append(f"shadow {'/'.join(_pct(p) for p in mirrors)}")
    return ", ".join(parts) or "no traffic"


def _split_text(split: tuple[tuple[str, int | None], ...]) -> str:
    return ", ".join(s if w is None else f"{s} {w}%" for s, w in split)


def _split_change(
    before: tuple[tuple[str, int | None], ...], after: tuple[tuple[str, int | None], ...], *, expected: list[str]
) -> str:
    """A split's change in words: weights that moved, or the whole split if its members changed.

    Versions in `expected` (added or removed ones) are said on their own lines.
    """
    if before == after:
        return ""
    members = {v for v, _ in before} ^ {v for v, _ in after}
    unweighted = any(w is None for _, w in before + after)
    if members - set(expected) or unweighted:
        return f"{_split_text(before)} {ARROW} {_split_text(after)}"
    old_w, new_w = dict(before), dict(after)
    return ", ".join(f"{v} {old_w[v]}% {ARROW} {new_w[v]}%" for v, _ in after if v in old_w and old_w[v] != new_w[v])


def _route_text(route: RouteView) -> str:
    match = f" ({route.match})" if route.match else ""
    return f"{route.name}{match} {ARROW} {_split_text(route.split)}"


def _mirrors(model: ModelView) -> dict[str, float]:
    out: dict[str, float] = {}
    for route in model.routes:
        for subset, percent in route.mirrors:
            out[subset] = max(out.get(subset, 0.0), percent)
    return out


def _compare_model(name: str, old: ModelView, new: ModelView) -> list[str]:
    lines: list[str] = []
    say = lines.append
    added = [v for v in new.versions if v not in old.versions]
    removed = [v for v in old.versions if v not in new.versions]
    both = [v for v in new.versions if v in old.versions]
    for v in added:
        say(f"{name}: new version {v} ({_traffic_of(new, v)})")
    for v in removed:
        say(f"{name}: version {v} removed")

    old_routes = {r.name: r for r in old.routes}
    new_routes = {r.name: r for r in new.routes}
    catch_all = _catch_all(new)
    default_change = ""
    if catch_all and catch_all.name in old_routes:
        default_change = _split_change(old_routes[catch_all.name].split, catch_all.split, expected=added + removed)
        if default_change:
            say(f"{name}: {default_change}")
    for route in new.routes:
        before = old_routes.get(route.name)
        if before is None:
            continue
        if before.match != route.match:
            say(f"{name}: route {route.name} match: {before.match or 'all requests'} {ARROW} {route.match or 'all requests'}")
        if route is catch_all:
            continue
        # Weighted A/B routes follow the weights: say it once, for the catch-all route.
        change = _split_change(before.split, route.split, expected=added + removed)
        if change and change != default_change:
            say(f"{name}: route {route.name}: {change}")
    for route in new.routes:
        if route.name not in old_routes:
            say(f"{name}: new route {_route_text(route)}")
    for route in old.routes:
        if route.name not in new_routes:
            say(f"{name}: route {route.name} removed")
    kept_old = [r.name for r in old.routes if r.name in new_routes]
    kept_new = [r.name for r in new.routes if r.name in old_routes]
    if kept_old != kept_new:
        say(f"{name}: route order {', '.join(kept_old)} {ARROW} {', '.join(kept_new)} (the first match wins)")

    old_m, new_m = _mirrors(old), _mirrors(new)
    for v, pct in new_m.items():
        if v in added:
            continue  # said in "new version ... (shadow N%)"
        if v not in old_m:
            say(f"{name}: now mirrors {_pct(pct)} to {v}")
        elif old_m[v] != pct:
            say(f"{name}: mirror to {v} {_pct(old_m[v])} {ARROW} {_pct(pct)}")
    for v, pct in old_m.items():
        if v not in new_m:
            say(f"{name}: stops mirroring to {v} (was {_pct(pct)})")

    for v in both:
        a, b = old.versions[v], new.versions[v]
        if a.image != b.image:
            say(f"{name}: {v} image {short_image(a.image or '?')} {ARROW} {short_image(b.image or '?')}")
        if a.replicas != b.replicas:
            say(f"{name}: {v} replicas {a.replicas} {ARROW} {b.replicas}")
    for where in new.exposed:
        if where not in old.exposed:
            say(f"{name}: now served at {where}")
    for where in old.exposed:
        if where not in new.exposed:
            say(f"{name}: no longer served at {where}")
    return lines


def _default_split(model: ModelView) -> str:
    route = _catch_all(model)
    return ", ".join(f"{s} {100 if w is None else w}%" for s, w in route.split) if route else "no routes"


def compare_traffic(old: EnvView, new: EnvView) -> list[str]:
    """Traffic-relevant changes between two views of one environment, in plain words."""
    lines = []
    for gw, hosts in new.gateways.items():
        before = old.gateways.get(gw)
        if before is None:
            lines.append(f"new gateway {gw} ({', '.join(hosts)})")
            continue
        gained = [h for h in hosts if h not in before]
        lost = [h for h in before if h not in hosts]
        if gained:
            lines.append(f"gateway {gw}: hosts added {', '.join(gained)}")
        if lost:
            lines.append(f"gateway {gw}: hosts removed {', '.join(lost)}")
    for gw in old.gateways:
        if gw not in new.gateways:
            lines.append(f"gateway {gw} removed")
    for name, model in new.models.items():
        if name not in old.models:
            where = f", served at {', '.join(model.exposed)}" if model.exposed else ", mesh only"
            lines.append(f"new model {name}: {_default_split(model)}{where}")
    for name, model in old.models.items():
        if name not in new.models:
            was = f" (was served at {', '.join(model.exposed)})" if model.exposed else ""
            lines.append(f"model {name} removed{was}")
    for name in sorted(set(old.models) & set(new.models)):
        lines += _compare_model(name, old.models[name], new.models[name])
    return lines


def _key(obj: dict) -> str:
    meta = obj["metadata"]
    ns = meta.get("namespace")
    return f"{obj['kind']} {ns + '/' if ns else ''}{meta['name']}"


def compare_objects(old: list[dict], new: list[dict]) -> list[tuple[str, str]]:
    """Objects added, removed or changed, as (change, "Kind namespace/name")."""
    before = {_key(o): o for o in old}
    after = {_key(o): o for o in new}
    out = [("added", k) for k in after if k not in before]
    out += [("removed", k) for k in before if k not in after]
    out += [("changed", k) for k in after if k in before and before[k] != after[k]]
    return out


def make_plan(old: Objects, new: Objects, *, source: str, base: str) -> list[EnvPlan]:
    """Compare two sets of manifest files, environment by environment."""
    blocked = blocked_removals(old, new, source=source, base=base)
    plans = []
    for filename in [*new, *(f for f in sorted(old) if f not in new)]:
        env = filename.split(".", 1)[0]
        plan = EnvPlan(env=env, filename=filename)
        before, after = old.get(filename, []), new.get(filename, [])
        if filename not in old:
            plan.traffic.append(f"new environment {env}")
        elif filename not in new:
            plan.traffic.append(f"environment {env} removed ({filename} is gone; kubectl apply deletes nothing)")
        plan.traffic += compare_traffic(traffic_view(before), traffic_view(after))
        plan.objects = compare_objects(before, after)
        plan.blocked = [message for where, message in blocked if where == filename]
        if plan.traffic or plan.objects:
            plans.append(plan)
    return plans


# --- output --------------------------------------------------------------------------------------

_MD_SPECIAL = set("\\`*_[]<>|~&$#")


def _md(text: str) -> str:
    """Plain text that Markdown shows as it is (regexes in matches are full of specials)."""
    return "".join("\\" + c if c in _MD_SPECIAL else c for c in text)


def format_text(plans: list[EnvPlan], *, base: str, target: str) -> str:
    """The plan for a terminal."""
    if not plans:
        return f"No changes: {base} matches a fresh synth of {target}.\n"
    out = [f"Plan: {base} {ARROW} fresh synth of {target}"]
    for plan in plans:
        out += ["", f"{plan.env} ({plan.filename})"]
        if plan.traffic:
            out += ["  traffic:", *(f"    {line}" for line in plan.traffic)]
        if plan.objects:
            mark = {"added": "+", "removed": "-", "changed": "~"}
            out += ["  objects:", *(f"    {mark[change]} {what}" for change, what in plan.objects)]
        if plan.blocked:
            out += ["  synth refuses this in one step:", *(f"    {line}" for line in plan.blocked)]
    out += ["", _totals(plans)]
    return "\n".join(out) + "\n"


def format_markdown(plans: list[EnvPlan], *, base: str, target: str) -> str:
    """The plan as a PR comment."""
    out = [f"### Change plan: `{base}` {ARROW} fresh synth of `{target}`", ""]
    if not plans:
        return "\n".join(out + ["No changes.", ""])
    for plan in plans:
        out += [f"#### {_md(plan.env)} (`{plan.filename}`)", ""]
        if plan.traffic:
            out += ["**Traffic**", "", *(f"- {_md(line)}" for line in plan.traffic), ""]
        if plan.objects:
            out += ["**Objects**", "", *(f"- {change} `{what}`" for change, what in plan.objects), ""]
        if plan.blocked:
            out += ["**Synth refuses this in one step**", "", *(f"- {_md(line)}" for line in plan.blocked), ""]
    out += [_totals(plans), ""]
    return "\n".join(out)


def _totals(plans: list[EnvPlan]) -> str:
    traffic = sum(len(p.traffic) for p in plans)
    objects = sum(len(p.objects) for p in plans)
    envs = len(plans)
    return (
        f"{envs} environment{'s' if envs != 1 else ''} changed: "
        f"{traffic} traffic change{'s' if traffic != 1 else ''}, {objects} object{'s' if objects != 1 else ''} changed"
    )


def run(config: Path, outdir: Path, *, ref: str | None = None, output: str = "text") -> int:
    """Compare dist/ (or `ref`'s dist/) with a fresh in-memory synth: 0 same, 1 changes, 2 error."""
    from model_serving.commands.synth import render_files, synthesize
    from model_serving.fleet.load import load_fleet

    try:
        fleet = load_fleet(config)
        old = read_ref(ref, outdir) if ref else read_dir(outdir)
    except (ConfigError, PlanError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    outputs = synthesize(fleet)
    new = fresh_objects(render_files(fleet, outputs))
    base = f"{ref}:{outdir.name}/" if ref else f"{outdir.as_posix().rstrip('/')}/"
    plans = make_plan(old, new, source=fleet.source, base=base)
    render = format_markdown if output == "markdown" else format_text
    sys.stdout.write(render(plans, base=base, target=fleet.source))
    return 1 if plans else 0
