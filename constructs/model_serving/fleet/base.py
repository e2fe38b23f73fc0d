"""Building blocks of the fleet schema: the config base class and the constrained value types.

Each type validates one kind of value the way the cluster will (Kubernetes names, Istio
durations, RE2 regexes) so a mistake fails at load time in one line, not at `kubectl apply`.
"""
from __future__ import annotations

import re
from typing import Annotated, Any

import re2
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel

from model_serving.errors import shown
from model_serving.units import istio_duration

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
HOSTNAME = re.compile(rf"^({_LABEL}\.)*{_LABEL}$")
HOST_PATTERN = re.compile(rf"^(\*|(\*\.)?({_LABEL}\.)*{_LABEL})$")
COOKIE_TOKEN = re.compile(r"^[A-Za-z0-9._-]+$")
INT32_MAX = 2**31 - 1
# Ports the injected sidecar and istio-agent listen on (admin, outbound, inbound, HBONE, agent,
# health, DNS, Prometheus): a model serving on one of them would collide with its own proxy.
SIDECAR_PORTS = range(15000, 15091)


class Spec(BaseModel):
    """Base for config sections: camelCase keys, unknown keys rejected, immutable."""

    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True,
        validate_default=False,
    )


def _dns_label(value: str) -> str:
    if not DNS_LABEL.match(value):
        raise ValueError(
            f"{shown(value)} is not a DNS-1123 label; fix: use lower-case letters, digits and '-', "
            "starting and ending with a letter or digit, at most 63 characters"
        )
    return value


def _hostname(value: str) -> str:
    if value == "*" or value.startswith("*."):
        raise ValueError(f"{shown(value)} is a wildcard; fix: give the model one exact host such as models.example.com")
    if len(value) > 253 or not HOSTNAME.match(value):
        raise ValueError(f"{shown(value)} is not a host name; fix: use a DNS name such as models.example.com")
    return value


def _host_pattern(value: str) -> str:
    if len(value) > 253 or not HOST_PATTERN.match(value):
        raise ValueError(f"{shown(value)} is not a host name; fix: use a DNS name such as models.example.com, or *.example.com")
    return value


def _path(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError(f"{shown(value)} does not start with '/'; fix: write it as /{value[:40]}")
    return value


def _prefix(value: str) -> str:
    _path(value)
    if not value.endswith("/"):
        # Without the slash `/models/ai` also matches `/models/aiX`, and rewriting it to `/`
        # turns `/models/ai/v1` into `//v1`.
        raise ValueError(f"{shown(value)} does not end with '/'; fix: write it as {value[:40]}/")
    return value


def _duration(value: Any) -> str:
    istio_duration(value)
    return str(value)


def _duration_input(value: Any) -> Any:
    # A bare number would otherwise fail as "not a string"; say which unit is missing instead.
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise ValueError(f"{value} is a number, not a duration; fix: add a unit, e.g. {value}s")
    return value


_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # else RE2 logs each bad pattern to stderr besides our one error line


def _re2(value: str) -> str:
    try:
        re2.compile(value, _RE2_OPTIONS)
    except re2.error as error:
        detail = error.args[0].decode(errors="replace") if error.args and isinstance(error.args[0], bytes) else str(error)
        raise ValueError(
            f"regex {shown(value)} is not valid RE2, the syntax Istio accepts ({detail[:80]}); "
            "fix: drop look-arounds, backreferences and possessive quantifiers"
        ) from None
    return value


def _port(value: int) -> int:
    if value in SIDECAR_PORTS:
        raise ValueError(f"port {value} is one the Istio sidecar uses (15000-15090); fix: serve on another port such as 8080")
    return value


def _cookie_token(value: str) -> str:
    if not COOKIE_TOKEN.match(value):
        raise ValueError(f"{shown(value)} has characters outside [A-Za-z0-9._-]; fix: use a plain token")
    return value


Name = Annotated[str, AfterValidator(_dns_label)]
Host = Annotated[str, AfterValidator(_hostname)]
HostPattern = Annotated[str, AfterValidator(_host_pattern)]
Duration = Annotated[
    str, BeforeValidator(_duration_input), AfterValidator(_duration), Field(json_schema_extra={"format": "duration"})
]
UrlPath = Annotated[str, AfterValidator(_path)]
UrlPrefix = Annotated[str, AfterValidator(_prefix)]
Regex = Annotated[str, AfterValidator(_re2)]
ModelPort = Annotated[int, Field(gt=0, lt=65536), AfterValidator(_port)]
Replicas = Annotated[int, Field(ge=0, le=INT32_MAX)]
Percent = Annotated[float, Field(gt=0, le=100)]
CookieToken = Annotated[str, AfterValidator(_cookie_token)]
