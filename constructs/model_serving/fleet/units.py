"""Parsers for Kubernetes quantities and Istio/Go durations."""
from __future__ import annotations

import re
from typing import Final

_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_FACTORS = {
    None: 1.0, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
    "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50, "Ei": 2.0**60,
}


def parse_quantity(text: str) -> float:
    """The value of a Kubernetes quantity such as `500m`, `2` or `8Gi`; ValueError if malformed."""
    match = _QUANTITY.match(str(text))
    if not match:
        raise ValueError(f"{text!r} is not a Kubernetes quantity; fix: write it like 500m, 2 or 8Gi")
    return float(match.group(1)) * _FACTORS[match.group(2)]


_UNIT_SECONDS: Final[dict[str, float]] = {
    "h": 3600.0,
    "m": 60.0,
    "s": 1.0,
    "ms": 1e-3,
    "us": 1e-6,
    "µs": 1e-6,
    "ns": 1e-9,
}
# Longest units first so "ms" is not read as "m" followed by junk.
_PART: Final = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|us|µs|ns|h|m|s)")


def parse_duration(text: str) -> float:
    """Return the seconds in an Istio duration such as `1h2m3.5s`; raise ValueError on anything else."""
    if not isinstance(text, str):
        raise ValueError(f'duration must be a string like "30s", got {text!r}')
    value = text.strip()
    if value == "0":
        return 0.0
    if not value:
        raise ValueError("duration is empty")
    total = 0.0
    position = 0
    for part in _PART.finditer(value):
        if part.start() != position:
            break
        total += float(part.group(1)) * _UNIT_SECONDS[part.group(2)]
        position = part.end()
    if position != len(value) or position == 0:
        raise ValueError(f'invalid duration {text!r}: expected e.g. "500ms", "30s", "1h2m3.5s"')
    return total
