"""Stand-in model servers: one small asyncio HTTP/1.1 server per pod replica, on 127.0.0.1.

Each answers as its model, version and replica (`x-model`, `x-version`, `x-replica` headers and a
`rehearsal` object in every JSON body), on the paths model servers serve: Open Inference Protocol
(`/v2/health/ready`, `/v2/health/live`, `/v2/models/<m>/infer`), `/health`, and OpenAI's
`/v1/chat/completions`, `/v1/completions`, `/v1/embeddings` and `/v1/models` in OpenAI's wire
format (so the real OpenAI SDK parses them, streaming included). Any other path gets a JSON echo
of what arrived, so rewrites are visible.

Plain asyncio streams, not a web framework: a scenario needs exact control over the socket (a
reset before any response byte, a closed port), and HTTP/1.1 keep-alive like a real server.
"""
from __future__ import annotations

import asyncio
import json
import random
import socket
import struct
import time
import uuid
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from typing import Any

from model_serving.rehearse.common import MIRROR_HEADER, REQUEST_HEADER, RUN_HEADER

_MAX_HEAD = 1 << 20


@dataclass(frozen=True)
class Behaviour:
    """How a stand-in answers: durations in seconds (before the time scale), rates in 0..1."""

    latency: float = 0.0  # before the response headers
    stream: float = 0.0  # an SSE stream's tokens are spread over this long
    tokens: int = 8
    error_rate: float = 0.0  # answer `error_status` to this share of requests
    error_status: int = 503
    reset_rate: float = 0.0  # reset the connection (RST) before any response byte
    down: bool = False  # nothing listens on the replica's port

    def scaled(self, factor: float) -> Behaviour:
        """The same behaviour with every duration multiplied by `factor`."""
        return replace(self, latency=self.latency * factor, stream=self.stream * factor)


@dataclass(frozen=True)
class Identity:
    """Who a stand-in is: one pod replica of one version of one model."""

    model: str
    version: str
    replica: str
    namespace: str = ""


@dataclass
class Record:
    """One request as a stand-in saw it (a mirrored copy is a record of its own)."""

    replica: str
    model: str
    version: str
    method: str
    path: str
    host: str
    run: str
    request: str
    shadow: bool
    outcome: str = "open"  # ok | error | reset | cut
    status: int = 0


@dataclass
class Recorder:
    """Every request every stand-in received, and how many are still being answered."""

    records: list[Record] = field(default_factory=list)
    in_flight: int = 0

    def of_run(self, run: str) -> list[Record]:
        """The records of one run (requests carry the run id in `x-rehearse-run`)."""
        return [r for r in self.records if r.run == run]


@dataclass(frozen=True)
class _Request:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    keep_alive: bool

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    def json(self) -> Any:
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None


class StandIn:
    """One replica's server; its behaviour can change between runs without a restart."""

    def __init__(self, identity: Identity, behaviour: Behaviour, recorder: Recorder) -> None:
        self.identity = identity
        self.behaviour = behaviour
        self.recorder = recorder
        self.port = 0
        self._server: asyncio.base_events.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._random = random.Random(identity.replica)

    async def start(self) -> int:
        """Listen on an ephemeral loopback port (or only reserve one, when down); return it."""
        if self.behaviour.down:
            self.port = _closed_port()
            return self.port
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0, limit=_MAX_HEAD)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        """Stop listening and drop open connections (Python 3.11's server keeps them open)."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
            task.add_done_callback(self._connections.discard)
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    break
                if not await self._answer(request, writer) or not request.keep_alive:
                    break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass
        except asyncio.CancelledError:
            # Stopping: end quietly (asyncio's stream callback would report a cancelled handler).
            pass
        finally:
            writer.close()

    async def _answer(self, request: _Request, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; False when the connection must not be reused."""
        record = self._record(request)
        self.recorder.in_flight += 1
        try:
            behaviour = self.behaviour
            if self._random.random() < behaviour.reset_rate:
                record.outcome = "reset"
                _reset(writer)
                return False
            if behaviour.latency > 0:
                await asyncio.sleep(behaviour.latency)
            if self._random.random() < behaviour.error_rate:
                record.outcome, record.status = "error", behaviour.error_status
                await _send_json(writer, behaviour.error_status, _error_body(behaviour.error_status), self._headers())
                return True
            record.status = 200
            record.outcome = await self._respond(request, writer, behaviour)
            return record.outcome == "ok"
        except ConnectionError:
            record.outcome = "cut"
            return False
        finally:
            self.recorder.in_flight -= 1

    def _record(self, request: _Request) -> Record:
        host = request.headers.get("host", "")
        record = Record(
            replica=self.identity.replica,
            model=self.identity.model,
            version=self.identity.version,
            method=request.method,
            path=request.target,
            host=host,
            run=request.headers.get(RUN_HEADER, ""),
            request=request.headers.get(REQUEST_HEADER, ""),
            # A mirrored copy: the translation's marker header, or Envoy's `-shadow` Host suffix
            # (which istiod 1.30 turns off by default).
            shadow=MIRROR_HEADER in request.headers or host.rsplit(":", 1)[0].endswith("-shadow"),
        )
        self.recorder.records.append(record)
        return record

    def _headers(self) -> list[tuple[str, str]]:
        ident = self.identity
        return [("x-model", ident.model), ("x-version", ident.version), ("x-replica", ident.replica)]

    def _stamp(self) -> dict[str, str]:
        ident = self.identity
        return {"model": ident.model, "version": ident.version, "replica": ident.replica}

    async def _respond(self, request: _Request, writer: asyncio.StreamWriter, behaviour: Behaviour) -> str:
        body = request.json()
        wants_stream = isinstance(body, dict) and body.get("stream") is True
        path = request.path
        if wants_stream and path in ("/v1/chat/completions", "/v1/completions"):
            chat = path == "/v1/chat/completions"
            model = str(body.get("model") or self.identity.model)
            return await self._stream(writer, behaviour, chat=chat, model=model)
        payload = openai_or_oip(request.method, path, body, self.identity)
        if payload is None:
            payload = {"method": request.method, "path": request.target, "host": request.headers.get("host", "")}
        payload["rehearsal"] = self._stamp()
        await _send_json(writer, 200, payload, self._headers())
        return "ok"

    async def _stream(self, writer: asyncio.StreamWriter, behaviour: Behaviour, *, chat: bool, model: str) -> str:
        """Server-sent events: `tokens` chunks spread over `stream` seconds, then [DONE]."""
        head = _head(200, [*self._headers(), ("content-type", "text/event-stream"), ("cache-control", "no-cache"),
                            ("transfer-encoding", "chunked")])
        writer.write(head)
        await writer.drain()
        ident = f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex[:24]}"
        pause = behaviour.stream / max(behaviour.tokens, 1)
        for index in range(behaviour.tokens):
            last = index == behaviour.tokens - 1
            event = _chunk(ident, model, index, last=last, chat=chat)
            event["rehearsal"] = self._stamp()
            writer.write(_chunked(f"data: {json.dumps(event)}\n\n".encode()))
            await writer.drain()
            if pause > 0:
                await asyncio.sleep(pause)
        writer.write(_chunked(b"data: [DONE]\n\n") + b"0\r\n\r\n")
        await writer.drain()
        return "ok"


def openai_or_oip(method: str, path: str, body: Any, identity: Identity) -> dict[str, Any] | None:
    """The JSON a model server answers on a known inference path, or None for any other path."""
    model = str(body.get("model")) if isinstance(body, dict) and body.get("model") else identity.model
    now = int(time.time())
    if path in ("/v2/health/ready", "/v2/health/live", "/health"):
        return {"ready": True, "live": True}
    if path.startswith("/v2/models/") and path.endswith("/infer"):
        name = path[len("/v2/models/"):-len("/infer")].split("/versions/")[0]
        return {"model_name": name, "model_version": identity.version, "id": uuid.uuid4().hex,
                "outputs": [{"name": "output-0", "shape": [1], "datatype": "FP32", "data": [0.5]}]}
    if path == "/v1/chat/completions":
        message = {"role": "assistant", "content": f"Hello from {identity.model} {identity.version}."}
        return {"id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "object": "chat.completion", "created": now, "model": model,
                "choices": [{"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}],
                "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}}
    if path == "/v1/completions":
        choice = {"index": 0, "text": f"Hello from {identity.model} {identity.version}.", "finish_reason": "stop",
                  "logprobs": None}
        return {"id": f"cmpl-{uuid.uuid4().hex[:24]}", "object": "text_completion", "created": now, "model": model,
                "choices": [choice], "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}}
    if path == "/v1/embeddings":
        return {"object": "list", "model": model, "usage": {"prompt_tokens": 5, "total_tokens": 5},
                "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2, 0.3, 0.4]}]}
    if path == "/v1/models" and method == "GET":
        return {"object": "list", "data": [{"id": identity.model, "object": "model", "created": now,
                                            "owned_by": "rehearsal"}]}
    return None


def _chunk(ident: str, model: str, index: int, *, last: bool, chat: bool) -> dict[str, Any]:
    """One streamed token in OpenAI's chunk format (chat or legacy completions)."""
    token = f"token{index} "
    finish = "stop" if last else None
    if chat:
        delta = {"role": "assistant", "content": token} if index == 0 else {"content": token}
        choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        kind = "chat.completion.chunk"
    else:
        choice = {"index": 0, "text": token, "finish_reason": finish, "logprobs": None}
        kind = "text_completion"
    return {"id": ident, "object": kind, "created": int(time.time()), "model": model, "choices": [choice]}


def _error_body(status: int) -> dict[str, Any]:
    """An OpenAI-style error, which the SDK raises as its own exception type."""
    return {"error": {"message": f"stand-in answered {status}", "type": "server_error", "code": str(status)}}


async def _read_request(reader: asyncio.StreamReader) -> _Request | None:
    """Read one HTTP/1.1 request (content-length or chunked body); None at a clean end of stream."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as error:
        if error.partial.strip():
            raise
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, target, version = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = await _read_chunked(reader)
    else:
        body = await reader.readexactly(int(headers.get("content-length", "0") or 0))
    connection = headers.get("connection", "").lower()
    keep_alive = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
    return _Request(method, target, headers, body, keep_alive)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0].strip(), 16)
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                pass
            return b"".join(parts)
        parts.append((await reader.readexactly(size + 2))[:-2])


def _head(status: int, headers: list[tuple[str, str]]) -> bytes:
    reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Status"
    lines = [f"HTTP/1.1 {status} {reason}", *(f"{k}: {v}" for k, v in headers), "", ""]
    return "\r\n".join(lines).encode("latin-1")


async def _send_json(writer: asyncio.StreamWriter, status: int, payload: Any, headers: list[tuple[str, str]]) -> None:
    body = json.dumps(payload).encode()
    writer.write(_head(status, [*headers, ("content-type", "application/json"), ("content-length", str(len(body)))]) + body)
    await writer.drain()


def _chunked(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST (SO_LINGER 0) so the peer sees a reset, not an orderly close."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def _closed_port() -> int:
    """A loopback port nothing listens on (connections to it are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
