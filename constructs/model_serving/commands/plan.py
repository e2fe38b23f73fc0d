"""`model-serving plan`: what applying a fresh synth would change, in plain words.

It parses manifests because its job is to compare: both sides (the files in dist/ or in a git
ref, and a fresh in-memory synth) are read into the same traffic view (checks.traffic) from
their VirtualService, DestinationRule, Deployment and Gateway objects, then compared.
"""
from __future__ import annotations

import copy
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from model_serving.checks.guard import blocked_removals
from model_serving.checks.traffic import (
    MANIFEST_SUFFIXES,
    EnvView,
    ModelView,
    Objects,
    RouteView,
    parse_manifests,
    read_dir,
    traffic_view,
)
from model_serving.commands.trafficmap import short_image
from model_serving.errors import InputError
from model_serving.fleet.load import ConfigError

ARROW = "→"
WEIGHT_ONLY = ("weight-only: VirtualService weights alone change; they apply at once, "
               "waiting for no Deployment (safe for a rollback)")


class PlanError(InputError):
    """A problem reading one side of the comparison; str() is the one-line message."""


# --- reading both sides ----------------------------------------------------------------------


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
        objects[name] = parse_manifests(shown.stdout, f"{ref}:{folder.name}/{name}")
    return objects


def fresh_objects(files: dict[str, str]) -> Objects:
    """Parse the manifest files of an in-memory synth (render_files) the same way as dist/."""
    return {name: parse_manifests(text, name) for name, text in sorted(files.items()) if name.endswith(MANIFEST_SUFFIXES)}


# --- comparing -----------------------------------------------------------------------------------


@dataclass
class EnvPlan:
    """The changes of one environment (one manifest file)."""

    env: str
    filename: str
    traffic: list[str] = field(default_factory=list)
    objects: list[tuple[str, str]] = field(default_factory=list)  # ("added"|"removed"|"changed", "Kind ns/name")
    blocked: list[str] = field(default_factory=list)
    weight_only: bool = False  # only VirtualService weights (and the cohort cookies they name) change


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


def _workload_lines(name: str, old: ModelView, new: ModelView) -> list[str]:
    lines = []
    for v in (v for v in new.versions if v in old.versions):
        a, b = old.versions[v], new.versions[v]
        if a.image != b.image:
            lines.append(f"{name}: {v} image {short_image(a.image or '?')} {ARROW} {short_image(b.image or '?')}")
        if a.replicas != b.replicas:
            lines.append(f"{name}: {v} replicas {a.replicas} {ARROW} {b.replicas}")
    return lines


def _split_lines(name: str, old: ModelView, new: ModelView, expected: list[str]) -> list[str]:
    """Weight changes: once for the catch-all, then for routes whose split changed differently."""
    lines: list[str] = []
    old_routes = {r.name: r for r in old.routes}
    catch_all = _catch_all(new)
    default_change = ""
    if catch_all and catch_all.name in old_routes:
        default_change = _split_change(old_routes[catch_all.name].split, catch_all.split, expected=expected)
        if default_change:
            lines.append(f"{name}: {default_change}")
    for route in new.routes:
        before = old_routes.get(route.name)
        if before is None:
            continue
        if before.match != route.match:
            was, now = before.match or "all requests", route.match or "all requests"
            lines.append(f"{name}: route {route.name} match: {was} {ARROW} {now}")
        # Weighted A/B routes follow the weights: said once, for the catch-all route.
        change = "" if route is catch_all else _split_change(before.split, route.split, expected=expected)
        if change and change != default_change:
            lines.append(f"{name}: route {route.name}: {change}")
    return lines


def _route_set_lines(name: str, old: ModelView, new: ModelView) -> list[str]:
    old_names = {r.name for r in old.routes}
    new_names = {r.name for r in new.routes}
    lines = [f"{name}: new route {_route_text(r)}" for r in new.routes if r.name not in old_names]
    lines += [f"{name}: route {r.name} removed" for r in old.routes if r.name not in new_names]
    kept_old = [r.name for r in old.routes if r.name in new_names]
    kept_new = [r.name for r in new.routes if r.name in old_names]
    if kept_old != kept_new:
        lines.append(f"{name}: route order {', '.join(kept_old)} {ARROW} {', '.join(kept_new)} (the first match wins)")
    return lines


def _mirror_lines(name: str, old: ModelView, new: ModelView, added: list[str]) -> list[str]:
    old_m, new_m = _mirrors(old), _mirrors(new)
    lines = []
    for v, pct in new_m.items():
        if v in added:
            continue  # said in "new version ... (shadow N%)"
        if v not in old_m:
            lines.append(f"{name}: now mirrors {_pct(pct)} to {v}")
        elif old_m[v] != pct:
            lines.append(f"{name}: mirror to {v} {_pct(old_m[v])} {ARROW} {_pct(pct)}")
    lines += [f"{name}: stops mirroring to {v} (was {_pct(pct)})" for v, pct in old_m.items() if v not in new_m]
    return lines


def _compare_model(name: str, old: ModelView, new: ModelView) -> list[str]:
    added = [v for v in new.versions if v not in old.versions]
    removed = [v for v in old.versions if v not in new.versions]
    out = [f"{name}: new version {v} ({_traffic_of(new, v)})" for v in added]
    out += [f"{name}: version {v} removed" for v in removed]
    out += _split_lines(name, old, new, added + removed) + _route_set_lines(name, old, new)
    out += _mirror_lines(name, old, new, added) + _workload_lines(name, old, new)
    out += [f"{name}: now served at {w}" for w in new.exposed if w not in old.exposed]
    out += [f"{name}: no longer served at {w}" for w in old.exposed if w not in new.exposed]
    return out


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


# A cohort cookie value ends in `.<rollout>` (fleet.routes.cohort_value), in Set-Cookie values and,
# with the dot escaped, in the sticky routes' cookie regexes; it changes with every weight.
_ROLLOUT = re.compile(r"\\?\.[0-9a-f]{8}(?=[;)]|$)")


def _cohort_route(route: dict) -> bool:
    """A sticky-cohort route: it exists exactly while its version has weight (fleet.routes)."""
    return any(_ROLLOUT.search(((b.get("headers") or {}).get("cookie") or {}).get("regex", ""))
               for b in route.get("match", []))


def _without_weights(vs: dict) -> dict:
    """A VirtualService with its weights, cohort routes and cohort rollout tokens left out."""
    out = copy.deepcopy(vs)
    spec = out.get("spec") or {}
    spec["http"] = [r for r in spec.get("http", []) if not _cohort_route(r)]
    for route in spec["http"]:
        for dest in route.get("route", []):
            dest.pop("weight", None)
            # The cohort Set-Cookie comes and goes with the version's weight.
            cookie = ((dest.get("headers") or {}).get("response") or {}).get("add", {}).get("Set-Cookie", "")
            if dest.get("headers") == {"response": {"add": {"Set-Cookie": cookie}}} and _ROLLOUT.search(cookie):
                dest.pop("headers")
    return out


def weight_only(old: list[dict], new: list[dict]) -> bool:
    """Whether `new` differs from `old` in VirtualService weights alone (no object added or removed)."""
    changes = compare_objects(old, new)
    if not changes or any(change != "changed" or not what.startswith("VirtualService ") for change, what in changes):
        return False
    before = {_key(o): o for o in old}
    return all(_without_weights(before[_key(o)]) == _without_weights(o) for o in new if o["kind"] == "VirtualService")


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
        plan.weight_only = weight_only(before, after)
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
        if plan.weight_only:
            out += [f"  {WEIGHT_ONLY}"]
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
        if plan.weight_only:
            out += [f"**Weight-only**: {_md(WEIGHT_ONLY.split(': ', 1)[1])}", ""]
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
    except (ConfigError, InputError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    outputs = synthesize(fleet)
    new = fresh_objects(render_files(fleet, outputs))
    base = f"{ref}:{outdir.name}/" if ref else f"{outdir.as_posix().rstrip('/')}/"
    plans = make_plan(old, new, source=fleet.source, base=base)
    render = format_markdown if output == "markdown" else format_text
    sys.stdout.write(render(plans, base=base, target=fleet.source))
    return 1 if plans else 0
