"""Who gets which version: the ordered HTTP routes of a model, decided in plain Python.

The traffic constructs translate these plans one-to-one into VirtualService routes; the
traffic map and tests read the same plans. Order matters (Istio takes the first match):
A/B rules, then sticky-cohort cookies, then the weighted default.
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from model_serving.fleet.model import Model
from model_serving.fleet.resilience import Fault, Retries
from model_serving.fleet.traffic import Mirror, Route, StringMatch
from model_serving.units import parse_duration


@dataclass(frozen=True)
class Destination:
    """A version that receives a route's traffic, with its weight in a split."""

    version: str
    weight: int | None = None
    set_cookie: str | None = None  # Set-Cookie added to responses (sticky cohorts)


@dataclass(frozen=True)
class RoutePlan:
    """One VirtualService HTTP route, in the domain's terms."""

    name: str
    destinations: tuple[Destination, ...]
    headers: dict[str, StringMatch] = field(default_factory=dict)
    query_params: dict[str, StringMatch] = field(default_factory=dict)
    uri: StringMatch | None = None
    gateway: str | None = None  # restrict the match to one gateway (prefix routing)
    rewrite: str | None = None
    mirror: Mirror | None = None
    # None: no route timeout. Istio's default for HTTP routes is none, and its CRD rejects "0s".
    timeout: str | None = None
    retries: Retries | None = None
    fault: Fault | None = None
    only: str | None = None  # "mesh" or "gateway": the one side that offers this route (Route.from_, jwt_claim)

    @property
    def has_match(self) -> bool:
        """Whether the route only takes some requests (otherwise it is the catch-all)."""
        return bool(self.headers or self.query_params or self.uri or self.gateway)


JWT_CLAIM = "@request.auth.claims."


def cookie_regex(cookie: str, value: str) -> str:
    """A regex on the Cookie header that finds `cookie=value` among other cookies."""
    # Names and values are [A-Za-z0-9._-] (config enforces it): only '.' needs escaping.
    pair = f"{cookie}={value}".replace(".", "\\.")
    return f"^(.*?;\\s*)?({pair})(;.*)?$"


def sticky_cookie_name(model_name: str, model: Model) -> str | None:
    """The cookie that pins a user to a canary, or None when the model is not sticky."""
    if model.sticky is None:
        return None
    return model.sticky.cookie or f"{model_name}-version"


def cohort_value(model: Model, version: str) -> str:
    """The cookie value of a version's cohort: `<version>.<rollout>`, where `<rollout>` changes with
    any weight or image, so a re-weighted or new rollout draws every user afresh by the new weights
    instead of recapturing an old cohort (whose cookie then matches no sticky route)."""
    state = ";".join(f"{n}={v.weight}@{v.image}" for n, v in sorted(model.versions.items()))
    return f"{version}.{hashlib.sha256(state.encode()).hexdigest()[:8]}"


def plan_routes(model_name: str, model: Model) -> list[RoutePlan]:
    """The ordered routes for a model's traffic (mesh and gateway alike; see `edge_routes`).

    A/B rules that name a version come first, in declared order. Every weighted route (rules
    with `weighted: true`, then the default) is preceded by its sticky variants when the model
    is sticky: the same match plus the cohort cookie, sending returning users to their version.
    """
    cookie = sticky_cookie_name(model_name, model)
    set_cookie = _set_cookie(cookie, model)
    routes: list[RoutePlan] = []
    for rule in model.routes:
        plan = _ab_route(rule, model, set_cookie=set_cookie)
        if rule.weighted and cookie:
            routes.extend(_sticky_variants(plan, model, cookie))
        routes.append(plan)

    default = RoutePlan(
        name="default",
        destinations=_weighted(model, set_cookie=set_cookie),
        timeout=model.timeout,
        retries=model.retries,
        fault=model.fault,
    )
    if cookie:
        routes.extend(_sticky_variants(default, model, cookie))
    routes.append(default)

    if model.mirror:
        routes = [
            r if any(d.version == model.mirror.version for d in r.destinations) and len(r.destinations) == 1
            else replace(r, mirror=model.mirror)
            for r in routes
        ]
    return routes


def _ab_route(rule: Route, model: Model, *, set_cookie: str | None) -> RoutePlan:
    """The route of one A/B rule: its match (a cookie becomes a regex on the Cookie header), its target."""
    headers = dict(rule.match.headers)
    for name, value in rule.match.cookies.items():  # at most one (config enforces it)
        headers["cookie"] = StringMatch(regex=cookie_regex(name, value))
    if rule.jwt_claim is not None:  # istiod matches it on the JWT the gateway validated, not on a header
        headers[f"{JWT_CLAIM}{rule.jwt_claim.name}"] = StringMatch(exact=rule.jwt_claim.value)
    return RoutePlan(
        name=rule.name,
        destinations=(Destination(rule.version),) if rule.version else _weighted(model, set_cookie=set_cookie),
        headers=headers,
        query_params=dict(rule.match.query_params),
        uri=rule.match.uri,
        timeout=rule.timeout if "timeout" in rule.model_fields_set else model.timeout,
        retries=rule.retries or model.retries,
        fault=model.fault,
        only="mesh" if rule.from_ == "mesh" else "gateway" if rule.jwt_claim else None,
    )


def _set_cookie(cookie: str | None, model: Model) -> str | None:
    """The Set-Cookie template (with `{value}`) that enrols a user in a cohort. No `Secure`: the
    in-mesh host is plain HTTP, where clients would drop it (`edge_routes` adds it for HTTPS)."""
    sticky = model.sticky
    if cookie is None or sticky is None:
        return None
    return f"{cookie}={{value}}; Max-Age={int(parse_duration(sticky.max_age))}; Path=/; HttpOnly; SameSite=Lax"


def _sticky_variants(plan: RoutePlan, model: Model, cookie: str) -> list[RoutePlan]:
    """Copies of a weighted route that keep returning users on the version they were given.

    Every live version has one, stable included, so each user is drawn once and the share of
    users follows the weights. A version at weight 0 has none: its users fall through to the
    weighted route, whose Set-Cookie replaces their stale cookie (the cohort is released).
    """
    prefix = "" if plan.name == "default" else f"{plan.name}-"
    return [
        replace(
            plan,
            name=f"{prefix}sticky-{name}",
            destinations=(Destination(name),),
            headers={**plan.headers, "cookie": StringMatch(regex=cookie_regex(cookie, cohort_value(model, name)))},
        )
        for name, version in model.versions.items()
        if version.weight > 0
    ]


def _weighted(model: Model, *, set_cookie: str | None) -> tuple[Destination, ...]:
    """Every version with its weight; weight-0 versions stay listed so a diff shows the change."""
    return tuple(
        Destination(
            name,
            weight=version.weight,
            set_cookie=set_cookie.format(value=cohort_value(model, name)) if set_cookie and version.weight > 0 else None,
        )
        for name, version in model.versions.items()
    )


def edge_routes(routes: Sequence[RoutePlan], *, prefix: str | None, gateway: str, secure: bool) -> list[RoutePlan]:
    """The same routes as served at the gateway: under `prefix` (rewritten to `/`) when given, and
    with `Secure` cohort cookies when the gateway speaks HTTPS."""
    out = []
    for r in routes:
        if secure:
            r = replace(r, destinations=tuple(
                replace(d, set_cookie=f"{d.set_cookie}; Secure") if d.set_cookie else d for d in r.destinations))
        out.append(replace(r, uri=StringMatch(prefix=prefix), gateway=gateway, rewrite="/") if prefix else r)
    return out
