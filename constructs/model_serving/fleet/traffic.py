"""Who gets which version: A/B rules, sticky cohorts, shadow traffic and staged rollouts."""
from __future__ import annotations

import itertools
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from model_serving.fleet.base import (
    CookieToken,
    Duration,
    Name,
    Regex,
    Spec,
    UrlPath,
)
from model_serving.fleet.resilience import Retries

HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE")


class StringMatch(Spec):
    """One of exact / prefix / regex (RE2); a plain string in YAML means exact."""

    exact: str | None = Field(None, description="The value equals this string.")
    prefix: str | None = Field(None, description="The value starts with this string.")
    regex: Regex | None = Field(None, description="The whole value matches this RE2 regular expression.")

    @model_validator(mode="before")
    @classmethod
    def _plain_string_is_exact(cls, data: Any) -> Any:
        return {"exact": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _exactly_one(self) -> StringMatch:
        if sum(v is not None for v in (self.exact, self.prefix, self.regex)) != 1:
            raise ValueError("give exactly one of exact, prefix or regex; fix: e.g. {exact: beta}")
        return self


class Match(Spec):
    """Request attributes an A/B rule matches on (all given conditions must hold)."""

    headers: dict[str, StringMatch] = Field({}, description="Request headers and the values they must have.")
    cookies: dict[CookieToken, CookieToken] = Field(
        {}, max_length=1,
        description="One cookie and its exact value (Envoy's RE2 has no look-ahead, so one regex "
        "cannot find several cookies in any order).",
    )
    query_params: dict[str, StringMatch] = Field({}, description="Query parameters and the values they must have.")
    uri: StringMatch | None = Field(None, description="The request path (not allowed with the model's prefix).")

    @model_validator(mode="after")
    def _not_empty(self) -> Match:
        if not (self.headers or self.cookies or self.query_params or self.uri):
            raise ValueError("a match needs headers, cookies, queryParams or uri; fix: add one condition")
        if "cookie" in {h.lower() for h in self.headers} and self.cookies:
            raise ValueError("match both headers.cookie and cookies; fix: use cookies only")
        return self


class JwtClaim(Spec):
    """A claim of the gateway-validated JWT that must hold this exact value (Istio `@request.auth.claims`)."""

    name: str = Field(
        pattern=r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$", description="The claim; dots reach nested claims (e.g. groups, org.tier)."
    )
    value: str = Field(min_length=1, description="The value it must have (for a list claim: one of its items).")


class Route(Spec):
    """An A/B rule: requests matching `match` go to `version` (or follow the weights).

    `match` reads what the client sent, so any internet client can forge it: a rule that pins a
    version can be limited to in-mesh callers (`from: mesh`) or to a JWT claim (`jwtClaim`).
    """

    name: Name = Field(description="The route's name, unique within the model (shown in plans and the traffic map).")
    match: Match = Field(description="Which requests take this route.")
    version: Name | None = Field(None, description="The version that gets every matching request.")
    weighted: bool = Field(False, description="Matching requests follow the version weights (instead of `version`).")
    timeout: Duration | None = Field(
        None, description="This route's timeout; `none` for no timeout. Default: the model's timeout."
    )
    retries: Retries | None = Field(None, description="This route's retries. Default: the model's retries.")
    from_: Literal["anyone", "mesh"] | None = Field(
        None, alias="from",
        description="Who may take this route: `mesh` (in-mesh callers only; the gateway never offers it) or `anyone` "
        "(said on purpose: no warning). Default: anyone, with a warning if it pins a weight-0 version.",
    )
    jwt_claim: JwtClaim | None = Field(
        None, description="Only gateway requests whose validated JWT carries this claim (needs the environment's jwt)."
    )

    @field_validator("timeout", mode="before")
    @classmethod
    def _no_timeout(cls, value: Any) -> Any:
        return None if value == "none" else value

    @model_validator(mode="after")
    def _one_target(self) -> Route:
        if (self.version is None) == (not self.weighted):
            raise ValueError(
                f"route {self.name!r} needs exactly one target; fix: set version: <name> or weighted: true"
            )
        if self.jwt_claim is not None and self.from_ is not None:
            raise ValueError(f"route {self.name!r} sets both from and jwtClaim; fix: keep one")
        return self


class Sticky(Spec):
    """Keep a user on the version they landed on, with a response cookie (no controller)."""

    cookie: CookieToken | None = Field(None, description="The cookie's name. Default: `<model>-version`.")
    max_age: Duration = Field("24h", description="How long a user stays in their cohort.")


class Mirror(Spec):
    """Shadow traffic: copy `percent` of live requests to `version`; its responses are discarded."""

    version: Name = Field(description="The version that receives the copies.")
    percent: float = Field(ge=0, le=100, description="The share of live requests copied, 0 to 100.")


class Rollout(Spec):
    """Staged promotion kept in Git: the canary's weight follows `steps` (`model-serving promote`)."""

    stable: Name = Field(description="The version that takes the rest of the traffic, and all of it after a rollback.")
    canary: Name | None = Field(None, description="The version being promoted. Default: none (nothing to promote).")
    steps: list[int] = Field(
        [10, 25, 50, 100], min_length=1, description="The canary's weights in order, strictly increasing, each 1 to 100."
    )

    @field_validator("steps")
    @classmethod
    def _increasing(cls, steps: list[int]) -> list[int]:
        if any(not 0 < s <= 100 for s in steps) or any(b <= a for a, b in itertools.pairwise(steps)):
            raise ValueError(f"steps {steps[:10]} must be strictly increasing, each 1 to 100; fix: e.g. [10, 25, 50, 100]")
        return steps


class Consumer(Spec):
    """A mesh client allowed to call the model directly (not through the gateway).

    `namespace` alone admits every workload of that namespace; with `serviceAccount`, only that
    identity. `methods` and `paths` narrow what it may call (Istio matches paths exactly, or by
    prefix when they end in `*`).
    """

    namespace: Name = Field(description="The caller's namespace.")
    service_account: Name | None = Field(None, description="The caller's service account. Default: any in the namespace.")
    methods: list[str] = Field([], description="HTTP methods it may use. Default: all.")
    paths: list[UrlPath] = Field([], description="Paths it may call, exact or ending in `*`. Default: all.")

    @model_validator(mode="before")
    @classmethod
    def _a_mapping(cls, data: Any) -> Any:
        if isinstance(data, str):
            raise ValueError(
                f"consumer {data[:40]!r} is not a mapping; fix: write {{namespace: {data[:40]}}} "
                "(add serviceAccount: <name> to admit one identity only)"
            )
        return data

    @field_validator("methods")
    @classmethod
    def _known_methods(cls, methods: list[str]) -> list[str]:
        bad = [m for m in methods if m not in HTTP_METHODS]
        if bad:
            raise ValueError(f"unknown HTTP method {bad[0][:20]!r}; fix: use one of {', '.join(HTTP_METHODS)}")
        return methods

    @field_validator("paths")
    @classmethod
    def _istio_paths(cls, paths: list[str]) -> list[str]:
        for path in paths:
            # Istio's paths know only exact and prefix ("/v1/*") matches: any other '*' is a literal.
            if "*" in path[:-1]:
                raise ValueError(
                    f"path {path[:60]!r} has '*' before its end, which Istio would match literally; "
                    "fix: use an exact path or a prefix ending in '*', such as /v1/*"
                )
        return paths
