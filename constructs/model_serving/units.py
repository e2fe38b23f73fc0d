"""Durations and quantities: the one parser of each, with the bounds Istio and Kubernetes accept."""
from __future__ import annotations

import re
from typing import Final

from model_serving.errors import shown

_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_FACTORS = {
    None: 1.0, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
    "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50, "Ei": 2.0**60,
}


def parse_quantity(text: str) -> float:
    """The value of a Kubernetes quantity such as `500m`, `2` or `8Gi`; ValueError if malformed."""
    match = _QUANTITY.match(str(text))
    if not match:
        raise ValueError(f"{shown(text)} is not a Kubernetes quantity; fix: write it like 500m, 2 or 8Gi")
    return float(match.group(1)) * _FACTORS[match.group(2)]


_UNIT_SECONDS: Final[dict[str, float]] = {
    "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9,
}
# Go's time.ParseDuration grammar (what Istio's validation and CEL's duration() use), units
# longest first so "ms" is not read as "m" followed by junk.
GO_DURATION_PATTERN: Final = r"^(0|((\d+(\.\d*)?|\.\d+)(ms|us|µs|ns|h|m|s))+)$"
_DURATION: Final = re.compile(GO_DURATION_PATTERN)
_PART: Final = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|us|µs|ns|h|m|s)")
MIN_ISTIO_SECONDS: Final = 1e-3  # every Istio duration field: duration(self) >= duration('1ms')
MAX_GO_SECONDS: Final = (2**63 - 1) / 1e9  # Go's time.Duration: about 2562047h47m16.85s
DURATION_FIX: Final = "write it like 500ms, 30s, 5m or 1h30m"


def parse_duration(text: str) -> float:
    """The seconds in a Go/Istio duration such as `1h2m3.5s` (or "0"); ValueError on anything else."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        raise ValueError(f"{shown(text)} is a number, not a duration; fix: add a unit, e.g. {text}s")
    if not isinstance(text, str) or not _DURATION.match(text):
        raise ValueError(f"{shown(text)} is not a duration; fix: {DURATION_FIX}")
    return sum(float(n) * _UNIT_SECONDS[unit] for n, unit in _PART.findall(text))


def istio_duration(text: str) -> float:
    """A duration Istio accepts: parseable, at least 1ms, at most Go's maximum; ValueError otherwise."""
    seconds = parse_duration(text)
    if seconds < MIN_ISTIO_SECONDS:
        raise ValueError(f"{shown(text)} is below Istio's minimum duration of 1ms; fix: use 1ms or more")
    if seconds > MAX_GO_SECONDS:
        raise ValueError(f"{shown(text)} is beyond the longest duration Go can hold (about 2562047h); fix: use a shorter one")
    return seconds
