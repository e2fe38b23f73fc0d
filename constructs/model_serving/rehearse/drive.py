"""Requests through the rehearsal proxy, as real clients send them, and what came back.

Each client is its own keep-alive connection with its own cookie jar, sending its share of the
requests one after another (a browser or SDK session); clients run concurrently. The jar keeps
cookies the way a browser does for the scheme the client believes it uses: a `Secure` cookie is
only sent back on an https server (the rehearsal serves HTTPS as plain HTTP, but the client
behaves as over TLS), and `Max-Age=0` deletes.
"""
from __future__ import annotations

import asyncio
import json
import math
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.cookiejar import CookieJar, DefaultCookiePolicy
from http.cookies import CookieError, SimpleCookie
from typing import Any, Literal, Protocol
from urllib.parse import urlencode

import httpx

from model_serving.rehearse.common import REQUEST_HEADER, RUN_HEADER
from model_serving.rehearse.standin import Record
from model_serving.rehearse.wire import WireConnection, WireError, WireResponse


@dataclass(frozen=True)
class RequestSpec:
    """What to send, how often and from how many clients; `model` (mesh) or `host` (gateway)."""

    model: str | None = None
    host: str | None = None
    port: int | None = None  # the Service port (mesh) or Gateway server port (gateway)
    path: str = "/"
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    cookies: tuple[tuple[str, str], ...] = ()
    query: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    requests: int = 100
    clients: int = 10
    # Requests in flight at once (default: one per client, at most 32). Stand-ins are Python:
    # far more in flight only queues in Envoy, where the circuit breakers (e.g. 64 pending
    # requests per cluster) would start answering 503 to what is really the rehearsal's own load.
    concurrency: int | None = None
    timeout: float = 120.0  # per request, in real seconds (not scaled)
    client: Literal["wire", "httpx"] = "wire"  # see wire.py for why the lean client is the default


@dataclass(frozen=True)
class Target:
    """Where a run's requests go: a listener port and the Host header to send."""

    port: int
    host: str
    secure: bool  # the client believes it speaks https (an HTTPS gateway server)
    label: str


@dataclass(frozen=True)
class Outcome:
    """One request as its client saw it."""

    client: int
    status: str  # "200"; "200-cut" when the body broke off; "reset" (no response) or "timeout"
    model: str | None
    version: str | None
    replica: str | None
    seconds: float
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def served_by(self) -> str | None:
        """`<model>/<version>` of the stand-in that answered, if one did."""
        return f"{self.model}/{self.version}" if self.version is not None else None


@dataclass
class RunResult:
    """Everything a run measured: client outcomes and the stand-ins' records of the run."""

    target: Target
    spec: RequestSpec
    outcomes: list[Outcome]
    records: list[Record] = field(default_factory=list)

    @property
    def versions(self) -> Counter[str]:
        """Responses per `<model>/<version>` (from the response's version header)."""
        return Counter(o.served_by for o in self.outcomes if o.served_by)

    @property
    def mirrored(self) -> Counter[str]:
        """Mirrored copies per `<model>/<version>`, as the stand-ins received them."""
        return Counter(f"{r.model}/{r.version}" for r in self.records if r.shadow)

    @property
    def statuses(self) -> Counter[str]:
        """Responses per status (see Outcome.status)."""
        return Counter(o.status for o in self.outcomes)

    @property
    def switched(self) -> int:
        """Clients that were answered by more than one version."""
        seen: dict[int, set[str]] = {}
        for o in self.outcomes:
            if o.served_by:
                seen.setdefault(o.client, set()).add(o.served_by)
        return sum(1 for versions in seen.values() if len(versions) > 1)

    def latency_ms(self, version: str | None = None) -> dict[str, float]:
        """p50 and p99 latency in milliseconds (nearest rank), of one version or of all requests."""
        values = sorted(o.seconds * 1000 for o in self.outcomes if version is None or o.served_by == version)
        if not values:
            return {"p50": 0.0, "p99": 0.0}
        def pick(q: float) -> float:
            return values[min(len(values) - 1, max(0, math.ceil(q * len(values)) - 1))]

        return {"p50": round(pick(0.50), 1), "p99": round(pick(0.99), 1)}

    def first_bodies(self) -> dict[str, Any]:
        """The first response body per status (JSON when it parses)."""
        out: dict[str, Any] = {}
        for o in self.outcomes:
            if o.status not in out:
                out[o.status] = _decoded(o.body)
        return out

    def to_json(self, *, show_body: bool = False) -> dict[str, Any]:
        """One run in rehearse's JSON shape."""
        clients = len({o.client for o in self.outcomes})
        out: dict[str, Any] = {
            "model": self.spec.model or self.spec.host, "requests": len(self.outcomes),
            "versions": dict(sorted(self.versions.items())), "mirrored": dict(sorted(self.mirrored.items())),
            "statuses": dict(sorted(self.statuses.items())), "clients": {"count": clients, "switched": self.switched},
            "latency_ms": self.latency_ms()}
        if show_body:
            out["body"] = self.first_bodies()
        return out


def _decoded(body: bytes) -> Any:
    text = body.decode("utf-8", "replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


class BrowserJar:
    """A client's cookies: set by responses, sent back like a browser would (see module doc)."""

    def __init__(self, secure: bool, preset: Mapping[str, str] | None = None) -> None:
        self.secure = secure
        self.cookies: dict[str, tuple[str, bool]] = {k: (v, False) for k, v in (preset or {}).items()}

    def header(self) -> str | None:
        """The Cookie header to send, if any cookie applies."""
        sent = [f"{k}={v}" for k, (v, secure) in self.cookies.items() if self.secure or not secure]
        return "; ".join(sent) or None

    def update(self, set_cookie: list[str]) -> None:
        """Store (or delete) what the response's Set-Cookie headers say."""
        for line in set_cookie:
            parsed: SimpleCookie = SimpleCookie()
            try:
                parsed.load(line)
            except CookieError:
                continue
            for name, morsel in parsed.items():
                max_age = morsel["max-age"]
                if max_age and str(max_age).lstrip("-").isdigit() and int(max_age) <= 0:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = (morsel.value, bool(morsel["secure"]))


def _no_cookies() -> httpx.Cookies:
    """An httpx cookie store that keeps nothing: BrowserJar does the cookie work."""
    return httpx.Cookies(CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])))


class _Session(Protocol):
    async def send(self, spec: RequestSpec, headers: list[tuple[str, str]]) -> WireResponse: ...

    async def aclose(self) -> None: ...


class _WireSession:
    """A client on the lean asyncio client (see wire.py)."""

    def __init__(self, port: int) -> None:
        self.connection = WireConnection(port)

    async def send(self, spec: RequestSpec, headers: list[tuple[str, str]]) -> WireResponse:
        target = spec.path + (("&" if "?" in spec.path else "?") + urlencode(spec.query) if spec.query else "")
        return await self.connection.request(spec.method, target, headers, spec.body, spec.timeout)

    async def aclose(self) -> None:
        self.connection.close()


class _HttpxSession:
    """A client on httpx (slower; for cross-checks and callers who want httpx's behaviour)."""

    def __init__(self, port: int, timeout: float) -> None:
        self.http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=timeout, cookies=_no_cookies(),
                                      follow_redirects=False)

    async def send(self, spec: RequestSpec, headers: list[tuple[str, str]]) -> WireResponse:
        try:
            async with self.http.stream(spec.method, spec.path, params=list(spec.query), content=spec.body,
                                        headers=headers) as response:
                chunks, complete = [], True
                try:
                    async for chunk in response.aiter_raw():
                        chunks.append(chunk)
                except httpx.TransportError:
                    complete = False
                items = tuple((k.lower(), v) for k, v in response.headers.multi_items())
                return WireResponse(response.status_code, items, b"".join(chunks), complete)
        except httpx.TransportError as error:
            raise WireError(str(error) or type(error).__name__) from None

    async def aclose(self) -> None:
        await self.http.aclose()


async def drive(spec: RequestSpec, target: Target, run: str) -> list[Outcome]:
    """Send `spec.requests` requests over `spec.clients` concurrent clients; return every outcome."""
    clients = max(1, min(spec.clients, spec.requests))
    gate = asyncio.Semaphore(max(1, spec.concurrency or min(clients, 32)))
    outcomes: list[Outcome] = []

    async def client(number: int) -> None:
        jar = BrowserJar(target.secure, dict(spec.cookies))
        session: _Session = (_HttpxSession(target.port, spec.timeout) if spec.client == "httpx"
                             else _WireSession(target.port))
        try:
            for i in range(number, spec.requests, clients):
                async with gate:
                    outcomes.append(await _one(session, jar, spec, target, number, f"{run}:{i}", run))
        finally:
            await session.aclose()

    await asyncio.gather(*(client(n) for n in range(clients)))
    return outcomes


async def _one(session: _Session, jar: BrowserJar, spec: RequestSpec, target: Target, client: int,
               request_id: str, run: str) -> Outcome:
    """One request, read to the end of its body; a broken body or connection is an outcome too."""
    # A `host` header in the spec overrides the target's (e.g. a short Service name on the mesh).
    host = next((v for k, v in spec.headers if k.lower() == "host"), target.host)
    headers = [("host", host), (RUN_HEADER, run), (REQUEST_HEADER, request_id),
               *((k, v) for k, v in spec.headers if k.lower() != "host")]
    cookie = jar.header()
    if cookie:
        headers.append(("cookie", cookie))
    started = time.perf_counter()
    try:
        response = await session.send(spec, headers)
    except (TimeoutError, WireError) as error:
        reason = "timeout" if isinstance(error, asyncio.TimeoutError) else "reset"
        return Outcome(client, reason, None, None, None, time.perf_counter() - started, str(error).encode())
    jar.update(response.header_list("set-cookie"))
    status = str(response.status) if response.complete else f"{response.status}-cut"
    return Outcome(client, status, response.header("x-model"), response.header("x-version"),
                   response.header("x-replica"), time.perf_counter() - started, response.body, response.headers)
