"""Parsers for Kubernetes quantities and Istio/Go durations."""
from __future__ import annotations

import re

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s)")
_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_FACTORS = {
    None: 1.0, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
    "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50, "Ei": 2.0**60,
}


def parse_duration(text: str) -> float:
    """Seconds in a duration such as `1h30m`, `2.5s` or `500ms`; ValueError if malformed."""
    pos, total = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _SECONDS[match.group(2)]
        pos = match.end()
    if not text or pos != len(text):
        raise ValueError(f"{text!r} is not a duration; fix: write it like 500ms, 30s, 5m or 1h30m")
    return total


def parse_quantity(text: str) -> float:
    """The value of a Kubernetes quantity such as `500m`, `2` or `8Gi`; ValueError if malformed."""
    match = _QUANTITY.match(str(text))
    if not match:
        raise ValueError(f"{text!r} is not a Kubernetes quantity; fix: write it like 500m, 2 or 8Gi")
    return float(match.group(1)) * _FACTORS[match.group(2)]
