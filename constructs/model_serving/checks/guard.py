"""Make-before-break: a version may leave the output only once nothing routes to it.

Istio routes only to a DestinationRule subset that exists, so a version is removed in two
steps: first its weight, routes and mirror go (synth, apply), then the version itself.
Synth refuses to do both in one step while the files in dist/ still route to the version.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from model_serving.checks.traffic import (
    ManifestError,
    Objects,
    model_of,
    read_dir,
    route_host,
    route_view,
    traffic_view,
)


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
            host = route_host(route)
            if host is None:
                continue
            view = route_view(route)
            for subset, weight in view.split:
                use = found.setdefault((model_of(host), subset), _Use())
                if weight is None:  # a route's only target, without a weight: all of its traffic
                    if view.name not in use.routes:
                        use.routes.append(view.name)
                else:  # a weighted split: weight 0 is the first step of a removal, not traffic
                    use.weight = max(use.weight, weight)
            for subset, percent in view.mirrors:
                use = found.setdefault((model_of(host), subset), _Use())
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
                mirrored = any(h.startswith("mirror") for h in how)
                first = "remove its routes and mirror first" if mirrored else "remove its routes first"
                problems.append((
                    filename,
                    f"{source}: {where}: removing {version} while {base} still routes to it ({', '.join(how)}); "
                    f"fix: set its weight to 0 and {first}, synth and apply, then remove the version",
                ))
    return problems


def removed_while_routed(
    old_dir: Path, new_files: Iterable[tuple[str, str, list[dict]]], *, source: str = "serving.yaml"
) -> list[str]:
    """Synth's make-before-break check of new (file name, text, objects) against the files in `old_dir`."""
    files = list(new_files)
    try:
        # A file that synthesizes to the same text removes nothing.
        old = read_dir(old_dir, skip={name: text for name, text, _ in files})
    except ManifestError:
        return []  # unreadable old files route nothing we can know of; synth rewrites them
    if not old:
        return []
    new = {name: objects for name, _, objects in files if name in old}
    return [message for _, message in blocked_removals(old, new, source=source, base=f"{old_dir.as_posix().rstrip('/')}/")]


