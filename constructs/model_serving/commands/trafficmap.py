"""The traffic map: a Mermaid diagram and a weights table per environment, for review in a PR.

Written by synth as dist/TRAFFIC.md (kubectl ignores .md files). It is drawn from the fleet
model and the same `plan_routes` the VirtualServices are built from, never from manifests, so
the picture cannot drift from what is applied.
"""
from __future__ import annotations

import re
import string
from pathlib import Path

from model_serving.fleet.fleet import Env, Fleet
from model_serving.fleet.model import Model
from model_serving.fleet.openai import served_names
from model_serving.fleet.routes import JWT_CLAIM, Destination, RoutePlan, plan_routes
from model_serving.fleet.traffic import StringMatch

# Characters written as they are inside a quoted Mermaid label; everything else becomes a
# `#<code>;` entity. `"` would end the label, `#...;` is Mermaid's own entity syntax, `<`/`&`
# are HTML in labels, `$$` starts math, a leading backtick a Markdown string, and `:` / `;` feed
# Mermaid's style-statement pre-pass: none may appear literally, whatever a header or regex holds.
_SAFE = frozenset(string.ascii_letters + string.digits + " .,-_/%@+=()[]?!'")
WORD_JOINER = "\u2060"
_DIGEST_SHOWN = 12  # hex digits of a sha256 digest kept in the diagram (the table has it all)


def mermaid_text(text: str) -> str:
    """Escape arbitrary text for use inside a double-quoted Mermaid label."""
    out = []
    for i, c in enumerate(text):
        if c == "$" and i and text[i - 1] == "$":
            # Mermaid renders `$$...$$` as KaTeX math even from entities: an invisible word
            # joiner between the two dollars keeps the text as it is.
            out.append(f"#{ord(WORD_JOINER)};")
        out.append(c if c in _SAFE else f"#{ord(c)};")
    return "".join(out)


def _label(*lines: str) -> str:
    """A quoted Mermaid label with one escaped line per argument."""
    return '"' + "<br/>".join(mermaid_text(line) for line in lines) + '"'


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _describe_match(kind: str, name: str | None, match: StringMatch) -> str:
    subject = f"{kind} {name}" if name else kind
    if match.exact is not None:
        return f"{subject} = {match.exact}"
    if match.prefix is not None:
        return f"{subject} starts with {match.prefix}"
    return f"{subject} matches {match.regex}"


def match_lines(route: RoutePlan) -> list[str]:
    """The conditions a route matches on, one per line (empty for the catch-all)."""
    lines = [_describe_match("uri", None, route.uri)] if route.uri else []
    lines += [_describe_match("header", k, v) for k, v in sorted(route.headers.items()) if not k.startswith(JWT_CLAIM)]
    lines += [f"token claim {k.removeprefix(JWT_CLAIM)} = {v.exact}" for k, v in sorted(route.headers.items())
              if k.startswith(JWT_CLAIM)]
    lines += [_describe_match("query", k, v) for k, v in sorted(route.query_params.items())]
    if route.only:  # from: mesh, or a JWT claim (matched by the gateway alone)
        lines.append("in-mesh callers only" if route.only == "mesh" else "through the gateway only")
    return lines


def short_image(image: str) -> str:
    """The image without its registry path and with a shortened digest, for diagram labels."""
    name = image.rsplit("/", 1)[-1]
    base, at, digest = name.partition("@")
    if at and digest.startswith("sha256:"):
        return f"{base}@sha256:{digest[7:7 + _DIGEST_SHOWN]}"
    return name


def replicas_text(model: Model, version: str) -> str:
    """Fixed replicas, or the autoscaling range that replaces them."""
    if model.autoscaling:
        return f"{model.autoscaling.min_replicas}-{model.autoscaling.max_replicas} (autoscaled)"
    count = model.versions[version].replicas
    return f"{count} replica" + ("" if count == 1 else "s")


class NodeIds:
    """Mermaid node ids named after what they draw (`version_ai_model_v2`), never after positions.

    A positional id (`model1v2`) survives the removal of v2 as the id of whatever moved into its
    place, so a diff would read as v2 still taking traffic. Ids keep Mermaid's safe charset
    (letters, digits, `_`) behind a kind prefix (never a keyword such as `end`, never an edge
    marker `o`/`x`); names that sanitize alike get `_2`, `_3` in drawing order.
    """

    def __init__(self) -> None:
        self._ids: dict[tuple[str, ...], str] = {}

    def __call__(self, kind: str, *names: str) -> str:
        """The id of the `kind` node named by `names` (the same id for the same names)."""
        key = (kind, *names)
        if key not in self._ids:
            base = "_".join([kind, *(re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_") or "x" for name in names)])
            taken = set(self._ids.values())
            node, number = base, 1
            while node in taken:
                number += 1
                node = f"{base}_{number}"
            self._ids[key] = node
        return self._ids[key]


def _share(destination: Destination) -> str:
    return "100%" if destination.weight is None else f"{destination.weight}%"


def _diagram(env: Env) -> list[str]:
    """The flowchart of one environment: gateway -> hosts -> models -> routes -> versions."""
    scheme = "HTTPS" if env.gateway.tls else "HTTP"
    ids = NodeIds()
    lines = [
        "flowchart LR",
        f"  gw{{{{{_label(f'gateway {env.namespace}/{env.gateway_name}', scheme)}}}}}",
        f"  mesh(({_label('mesh')}))",
    ]
    models = sorted(env.models.items())
    for host in sorted({m.host for _, m in models if m.host}):
        lines.append(f"  {ids('host', host)}([{_label(host)}])")
        lines.append(f"  gw --> {ids('host', host)}")
    for name, model in models:
        node = ids("model", name)
        lines.append(f"  {node}[[{_label(name)}]]")
        if model.host:
            lines.append(f"  {ids('host', model.host)} -->|{_label(model.prefix or '/')}| {node}")
        lines.append(f"  mesh -->|{_label(env.service_host(name))}| {node}")
        for version, spec in model.versions.items():
            label = _label(version, short_image(spec.image), replicas_text(model, version))
            lines.append(f"  {ids('version', name, version)}({label})")
        lines += _route_lines(env, name, model, ids)
    return lines + _openai_lines(env, ids)


def _openai_lines(env: Env, ids: NodeIds) -> list[str]:
    """The OpenAI host: one arrow per served name (the body's `model`) to the model it reaches."""
    if env.openai is None:
        return []
    host = ids("openai", env.openai.host)
    lines = [f"  {host}([{_label(env.openai.host, 'OpenAI API, by body model')}])", f"  gw --> {host}"]
    for served in served_names(env.models):
        label = _label(f"model {served.name}", *(["LoRA adapter"] if served.adapter else []))
        lines.append(f"  {host} -->|{label}| {ids('model', served.model)}")
    return lines


def _route_lines(env: Env, name: str, model: Model, ids: NodeIds) -> list[str]:
    """A model's routes in match order, each with its arrows to the versions it sends to or mirrors."""
    lines = []
    for route in plan_routes(name, model):
        rnode = ids("route", name, route.name)
        conditions = match_lines(route) or ["all other requests"]
        extra = ["fault injected"] if route.fault else []
        lines.append(f"  {rnode}[{_label(f'route {route.name}', *conditions, *extra)}]")
        lines.append(f"  {ids('model', name)} --> {rnode}")
        for dest in route.destinations:
            arrow = "-.->" if dest.weight == 0 else "-->"
            lines.append(f"  {rnode} {arrow}|{_label(_share(dest))}| {ids('version', name, dest.version)}")
        if route.mirror:
            share = f"mirror {route.mirror.percent:g}%"
            lines.append(f"  {rnode} -.->|{_label(share)}| {ids('version', name, route.mirror.version)}")
    return lines


def _table(env: Env) -> list[str]:
    """Weights, A/B routes and mirror percentages of every version of every model."""
    lines = [
        "| model | version | weight | A/B routes | mirror | replicas | image |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, model in sorted(env.models.items()):
        for version, spec in model.versions.items():
            routes = ", ".join(r.name for r in model.routes if r.version == version) or "-"
            mirror = f"{model.mirror.percent:g}%" if model.mirror and model.mirror.version == version else "-"
            cells = [name, version, f"{spec.weight}%", routes, mirror, replicas_text(model, version), f"`{spec.image}`"]
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    if env.openai is not None:
        lines += ["", f"OpenAI-compatible host `{env.openai.host}` (the body's `model`; anything else: 404):", "",
                  "| served name | model | kind |", "|---|---|---|"]
        lines += [f"| {_cell(s.name)} | {s.model} | {'LoRA adapter' if s.adapter else 'model'} |"
                  for s in served_names(env.models)]
    return lines


def render_traffic_map(fleet: Fleet) -> str:
    """Markdown with one Mermaid flowchart and one weights table per environment."""
    source = Path(fleet.source).name
    out = [
        "# Traffic map",
        "",
        f"Generated by `model-serving synth` from `{source}`; do not edit. Per environment: the gateway,",
        "the external hosts and prefixes, each model's routes in match order (match rules, weights,",
        "mirrors) and its versions (image, replicas). Dashed arrows carry no live traffic (weight 0 or mirror).",
    ]
    for env in fleet.environments.values():
        out += ["", f"## {env.name} (namespace `{env.namespace}`)", "", "```mermaid", *_diagram(env), "```", ""]
        out += _table(env)
    return "\n".join(out) + "\n"
