"""jsii values that recur in every object (quantities, int-or-strings), made once per process.

Each Python -> Node (jsii) call costs ~0.4 ms, and the same few values recur in every
Deployment. The caches are keyed by plain values, never by a construct, so they hold no chart.
"""
from __future__ import annotations

from functools import cache

import cdk8s_plus_27 as kplus

k8s = kplus.k8s


@cache
def quantity(text: str) -> k8s.Quantity:
    """A Kubernetes quantity such as `500m` or `8Gi`."""
    return k8s.Quantity.from_string(text)


@cache
def int_or_string(value: int | str) -> k8s.IntOrString:
    """A Kubernetes IntOrString: a number, or a name (such as a named port)."""
    if isinstance(value, int):
        return k8s.IntOrString.from_number(value)
    return k8s.IntOrString.from_string(value)
