"""Declared expectations, checked with a stated statistical tolerance.

A share of `p` percent over `n` requests passes when the count lies inside the exact binomial
acceptance interval at a two-sided false-failure probability of 1e-6 per checked version:
a correct policy fails a check about once in a million runs. 0 % and 100 % are exact: one stray
response fails them.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import lru_cache

from model_serving.fleet.expectations import Expectation
from model_serving.rehearse.drive import RequestSpec, RunResult

FALSE_FAILURE = 1e-6
DEFAULT_REQUESTS = 2000


@lru_cache(maxsize=256)
def binomial_bounds(n: int, p: float, alpha: float = FALSE_FAILURE) -> tuple[int, int]:
    """The smallest interval [lo, hi] of counts with P(X < lo) <= alpha/2 and P(X > hi) <= alpha/2
    for X ~ Binomial(n, p): exact, from the log-pmf (no normal approximation)."""
    if p <= 0:
        return 0, 0
    if p >= 1:
        return n, n
    log_p, log_q = math.log(p), math.log1p(-p)
    pmf = [math.exp(math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * log_p + (n - k) * log_q)
           for k in range(n + 1)]
    lo, tail = 0, 0.0
    while lo < n and tail + pmf[lo] <= alpha / 2:
        tail += pmf[lo]
        lo += 1
    hi, tail = n, 0.0
    while hi > 0 and tail + pmf[hi] <= alpha / 2:
        tail += pmf[hi]
        hi -= 1
    return lo, hi


def share_holds(count: int, n: int, percent: float, alpha: float = FALSE_FAILURE) -> bool:
    """Whether `count` of `n` is consistent with `percent` (0 and 100 exactly)."""
    lo, hi = binomial_bounds(n, percent / 100.0, alpha)
    return lo <= count <= hi


@dataclass
class Verdict:
    """One expectation's outcome: the run, and every failed check in words."""

    expectation: Expectation
    result: RunResult
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when every expected share held."""
        return not self.failures


def spec_for(expectation: Expectation, requests: int | None = None, clients: int = 10) -> RequestSpec:
    """The request spec an expectation describes."""
    request = expectation.request
    body = request.body
    payload = None if body is None else body.encode() if isinstance(body, str) else json.dumps(body).encode()
    headers = tuple(request.headers.items())
    if payload is not None and not isinstance(body, str) and "content-type" not in {k.lower() for k, _ in headers}:
        headers += (("content-type", "application/json"),)
    method = request.method or ("POST" if payload is not None else "GET")
    return RequestSpec(model=expectation.model, host=expectation.host, path=request.path, method=method.upper(),
                       headers=headers, cookies=tuple(request.cookies.items()), query=tuple(request.query.items()),
                       body=payload, requests=requests or expectation.requests or DEFAULT_REQUESTS, clients=clients)


def judge(expectation: Expectation, result: RunResult) -> Verdict:
    """Check each expected share against the measured one (`v2` matches any model's v2 behind a
    host; `model/v2` one model's)."""
    verdict = Verdict(expectation, result)
    n = len(result.outcomes)
    served = result.versions
    for key, percent in expectation.expect.items():
        count = sum(c for version, c in served.items() if version == key or version.endswith(f"/{key}"))
        if not share_holds(count, n, percent):
            lo, hi = binomial_bounds(n, percent / 100.0)
            verdict.failures.append(
                f"{key} got {100 * count / max(n, 1):.1f} % ({count}/{n}), expected {percent:g} % "
                f"(accepted {lo}..{hi} of {n})")
    return verdict
