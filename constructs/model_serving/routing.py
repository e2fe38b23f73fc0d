"""Who gets which version: the ordered HTTP routes of a model, decided in plain Python.

The traffic constructs translate these plans one-to-one into VirtualService routes; the
traffic map and tests read the same plans. Order matters (Istio takes the first match):
A/B rules, then sticky-cohort cookies, then the weighted default.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from .config import Env, Fault, Mirror, Model, Retries, StringMatch
from .quantity import parse_duration


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
    timeout: str | None = None  # "0s" disables the route timeout
    retries: Retries | None = None
    fault: Fault | None = None

    @property
    def has_match(self) -> bool:
        """Whether the route only takes some requests (otherwise it is the catch-all)."""
        return bool(self.headers or self.query_params or self.uri or self.gateway)


def cookie_regex(cookie: str, value: str) -> str:
    """A regex on the Cookie header that finds `cookie=value` among other cookies."""
    return f"^(.*?;\\s*)?({cookie}={value})(;.*)?$"


def sticky_cookie_name(model_name: str, model: Model) -> str | None:
    """The cookie that pins a user to a canary, or None when the model is not sticky."""
    sticky = model.sticky_spec
    if sticky is None:
        return None
    return sticky.cookie or f"{model_name}-version"


def plan_routes(model_name: str, model: Model, *, secure_cookies: bool = True) -> list[RoutePlan]:
    """The ordered routes for a model's traffic (mesh and gateway alike)."""
    timeout = "0s" if model.timeout == "none" else model.timeout
    common = {"retries": model.retries, "fault": model.fault, "timeout": timeout}
    routes: list[RoutePlan] = []

    for rule in model.routes:
        if rule.version:
            targets: tuple[Destination, ...] = (Destination(rule.version),)
        else:
            targets = _weighted(model, set_cookie=None)
        headers = dict(rule.match.headers)
        if rule.match.cookies:
            pattern = "".join(f"(?=.*\\b{name}={value}\\b)" for name, value in rule.match.cookies.items())
            headers["cookie"] = StringMatch(regex=f"^{pattern}.*$")
        routes.append(
            RoutePlan(
                name=rule.name,
                destinations=targets,
                headers=headers,
                query_params=dict(rule.match.query_params),
                uri=rule.match.uri,
                **{
                    **common,
                    "timeout": ("0s" if rule.timeout == "none" else rule.timeout) if rule.timeout else timeout,
                    "retries": rule.retries or model.retries,
                },
            )
        )

    cookie = sticky_cookie_name(model_name, model)
    set_cookie = None
    if cookie:
        sticky = model.sticky_spec
        assert sticky is not None
        attributes = f"Max-Age={int(parse_duration(sticky.max_age))}; Path=/; HttpOnly; SameSite=Lax"
        if secure_cookies:
            attributes += "; Secure"
        set_cookie = f"{cookie}={{version}}; {attributes}"
        # Returning users keep the version they were given, while it still takes live traffic;
        # a rollback (weight 0) therefore releases the cohort at once.
        for name, version in model.versions.items():
            if name == model.stable or version.weight == 0:
                continue
            routes.append(
                RoutePlan(
                    name=f"sticky-{name}",
                    destinations=(Destination(name),),
                    headers={"cookie": StringMatch(regex=cookie_regex(cookie, name))},
                    **common,
                )
            )

    routes.append(RoutePlan(name="default", destinations=_weighted(model, set_cookie=set_cookie), **common))

    if model.mirror:
        routes = [
            r if any(d.version == model.mirror.version for d in r.destinations) and len(r.destinations) == 1
            else replace(r, mirror=model.mirror)
            for r in routes
        ]
    return routes


def _weighted(model: Model, *, set_cookie: str | None) -> tuple[Destination, ...]:
    """Every version with its weight; weight-0 versions stay listed so a diff shows the change."""
    return tuple(
        Destination(
            name,
            weight=version.weight,
            set_cookie=set_cookie.format(version=name)
            if set_cookie and name != model.stable and version.weight > 0
            else None,
        )
        for name, version in model.versions.items()
    )


def edge_routes(routes: list[RoutePlan], *, prefix: str, gateway: str) -> list[RoutePlan]:
    """The same routes served under a URI prefix at the gateway, rewritten to `/`."""
    return [
        replace(r, uri=StringMatch(prefix=prefix), gateway=gateway, rewrite="/") for r in routes
    ]


def gateway_ref(env: Env) -> str:
    """How a VirtualService names the environment's Gateway."""
    return f"{env.namespace}/{env.gateway_name}"
