"""Shared pieces of the translation: errors, refusals, durations under the time scale, host names."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from model_serving.units import parse_duration

DOMAIN = "svc.cluster.local"
# Headers of the rehearsal itself: the runner tags each request with its run and request id, and
# the translation marks mirrored copies (istiod 1.30 keeps their Host unchanged, see routes.py).
RUN_HEADER = "x-rehearse-run"
REQUEST_HEADER = "x-rehearse-request"
MIRROR_HEADER = "x-rehearse-mirror"


class TranslationError(ValueError):
    """An Istio field the rehearsal cannot reproduce; str() is one line naming the object and field."""


def where(obj: Mapping[str, Any]) -> str:
    """`Kind namespace/name`, the way the errors and notes name an object."""
    meta = obj.get("metadata") or {}
    return f"{obj.get('kind', '?')} {meta.get('namespace', 'default')}/{meta.get('name', '?')}"


def refuse(at: str, what: str, fix: str = "remove it or rehearse without it") -> TranslationError:
    """The error for a field that is not translated: never ignore a field silently."""
    return TranslationError(f"{at}: {what}; fix: {fix}")


def only(data: Mapping[str, Any] | None, allowed: Iterable[str], at: str) -> Mapping[str, Any]:
    """`data` itself, after refusing any key the translation does not know."""
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise refuse(at, f"expected a mapping, got {type(data).__name__}", "correct the manifest")
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise refuse(f"{at}.{unknown[0]}", "not translated by the rehearsal (see README: What rehearse proves)")
    return data


@dataclass(frozen=True)
class Scale:
    """Durations from the manifests, multiplied by the rehearsal's time scale, in Envoy's format."""

    factor: float = 1.0

    def seconds(self, text: str | None, at: str) -> float | None:
        """The scaled seconds of an Istio duration (None stays None)."""
        if text is None:
            return None
        try:
            return parse_duration(str(text)) * self.factor
        except ValueError as error:
            raise refuse(at, str(error), "write a duration like 500ms, 30s or 1m") from None

    def duration(self, text: str | None, at: str) -> str | None:
        """An Envoy duration string for an Istio duration, scaled; never below 1 ms unless zero."""
        value = self.seconds(text, at)
        return None if value is None else envoy_duration(value)


def envoy_duration(seconds: float) -> str:
    """Seconds as Envoy's JSON duration ("0.300s"); a positive value is at least 1 ms."""
    if seconds <= 0:
        return "0s"
    millis = max(1, round(seconds * 1000))
    return f"{millis // 1000}.{millis % 1000:03d}s"


def fqdn(host: str, namespace: str) -> str:
    """A host as istiod resolves it (ResolveShortnameToFQDN): only a name without any dot is
    completed with the namespace and cluster domain; `name.ns` is taken as already qualified."""
    host = host.lower()
    if host == "*" or "." in host:
        return host
    return f"{host}.{namespace}.{DOMAIN}"


def host_matches(pattern: str, host: str) -> bool:
    """Whether Istio host `pattern` (exact, `*` or `*.suffix`) covers `host`."""
    if pattern == "*" or pattern == host:
        return True
    return pattern.startswith("*.") and host.endswith(pattern[1:])


def intersect_hosts(left: Iterable[str], right: Iterable[str]) -> list[str]:
    """Istio's host-name intersection: each pair keeps the more specific side (host.Names.Intersection)."""
    out: list[str] = []
    right = list(right)
    for a in left:
        for b in right:
            chosen = a if host_matches(b, a) else b if host_matches(a, b) else None
            if chosen is not None and chosen not in out:
                out.append(chosen)
    return out


def fractional(percent: float) -> dict[str, Any]:
    """An Istio Percent as Envoy's FractionalPercent per million (istiod: translatePercentToFractionalPercent)."""
    return {"numerator": int(float(percent) * 10000), "denominator": "MILLION"}


def typed(type_name: str, **fields: Any) -> dict[str, Any]:
    """A typed_config: the `@type` URL plus fields."""
    return {"@type": f"type.googleapis.com/{type_name}", **fields}
