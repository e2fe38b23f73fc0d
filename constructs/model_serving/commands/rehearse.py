"""`model-serving rehearse`: run the synthesized routes in a real Envoy against stand-in model
servers, and measure who gets which version.

With --model or --host (or any request option), it sends one kind of request and reports it.
Without, it runs the `rehearse:` expectations of the config and exits 1 naming every one that
failed. Input mistakes print one line `error: <where>: <what>; fix: <how>` and exit 2.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the command's heavy imports happen only when it runs
    from model_serving.fleet.fleet import Fleet
    from model_serving.rehearse.drive import RequestSpec, RunResult
    from model_serving.rehearse.expectations import Verdict
    from model_serving.rehearse.standin import Behaviour

STANDIN_HELP = """how stand-ins answer, per version or replica (repeatable): SELECTOR=ITEM[,ITEM...].
SELECTOR: v2 | v1#0 (replica 0 of v1) | llm/v2 | llm/v1#0 | llm/* .
ITEM: latency:DURATION (before the response) | stream:DURATION (SSE tokens spread over it) |
tokens:N | 5xx:RATE[:STATUS] (share of requests answered STATUS, default 503) |
reset[:RATE] (TCP reset before any response byte) | down (nothing listens).
Durations are scaled by --time-scale. Example: --standin v2=5xx:0.5 --standin v1#0=down"""


class UsageError(Exception):
    """A command-line mistake; str() is `<where>: <what>; fix: <how>`."""


def add_parser(sub: argparse._SubParsersAction[Any]) -> argparse.ArgumentParser:
    """Register `rehearse` on the CLI's subcommands (called by commands/cli.py)."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "rehearse", help="run the routes on a real Envoy against stand-in model servers, and measure",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command's options."""
    parser.add_argument("--config", default=None, help="fleet file (default: serving.yaml)")
    parser.add_argument("--env", default=None, help="environment (default: the first)")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--model", default=None, help="send to the model's in-mesh host (mesh routes)")
    target.add_argument("--host", default=None, help="send through the gateway for this external host")
    parser.add_argument("--port", type=int, default=None, help="the Service or Gateway server port (default: HTTPS first)")
    parser.add_argument("--path", default=None, help="request path (default: /)")
    parser.add_argument("--method", default=None, help="HTTP method (default: POST with --body, else GET)")
    parser.add_argument("--header", action="append", default=[], metavar="'K: V'", help="request header (repeatable)")
    parser.add_argument("--cookie", action="append", default=[], metavar="K=V", help="a cookie every client starts with")
    parser.add_argument("--query", action="append", default=[], metavar="K=V", help="query parameter (repeatable)")
    parser.add_argument("--body", default=None, metavar="JSON", help="JSON request body")
    parser.add_argument("--requests", type=int, default=None, help="requests per run (default: 200; expectations 2000)")
    parser.add_argument("--clients", type=int, default=10, help="clients, each with its own cookie jar (default: 10)")
    parser.add_argument("--latency", default=None, metavar="DURATION", help="every stand-in's response time, e.g. 45s")
    parser.add_argument("--time-scale", default="1", metavar="X", help="multiply every duration (config and stand-ins)")
    parser.add_argument("--standin", action="append", default=[], metavar="SPEC", help=STANDIN_HELP)
    parser.add_argument("--show-body", action="store_true", help="include the first response body per status")
    parser.add_argument("--output", "-o", choices=("text", "json"), default="text")


def run(args: argparse.Namespace, default_config: str = "serving.yaml") -> int:
    """Run the command; 0 ok, 1 a declared expectation failed, 2 bad input or no rehearsal."""
    from model_serving.fleet.load import ConfigError
    from model_serving.rehearse.runner import RehearsalError
    from model_serving.rehearse.translate import TranslationError

    try:
        return _run(args, default_config)
    except UsageError as error:
        message = str(error)
    except ConfigError as error:
        message = str(error)
    except (TranslationError, RehearsalError) as error:
        message = f"rehearse: {error}" if "; fix:" in str(error) else f"rehearse: {error}; fix: see README (Rehearse)"
    print(f"error: {message}", file=sys.stderr)
    return 2


def _run(args: argparse.Namespace, default_config: str) -> int:
    from model_serving.fleet.load import load_fleet

    scale = _positive_float("--time-scale", args.time_scale)
    default, behaviours = _behaviours(args.latency, args.standin)
    request = _request_spec(args)  # validates every request option before any slow step
    fleet = load_fleet(Path(args.config or default_config))
    env = _environment(fleet, args.env)
    _check_selectors(fleet, env, list(behaviours))
    if request is None and not fleet.rehearse:
        raise UsageError(f"{fleet.source}: no --model/--host and no `rehearse:` expectations; "
                         "fix: pass --model or --host, or declare expectations (see README)")
    specs = [request] if request is not None else _expectation_specs(fleet, args)
    for i, spec in enumerate(specs):
        field = "model" if spec.model is not None else "host"
        _check_target(fleet, env, spec, f"--{field}" if request is not None else f"{fleet.source}: rehearse[{i}].{field}")
    objects = _synthesize(fleet, env)
    from model_serving.rehearse.runner import Rehearsal

    with Rehearsal(objects, time_scale=scale, behaviours=behaviours, default=default) as rehearsal:
        results = [rehearsal.run(spec) for spec in specs]
        version, notes = rehearsal.envoy_version, rehearsal.translation.notes
    if request is not None:
        from model_serving.rehearse.overhead import lua_overhead

        overhead = lua_overhead(objects, request, results[0], time_scale=scale, behaviours=behaviours, default=default)
        _print(args.output, version, env, results, [], args.show_body, notes, overhead)
        return 0
    from model_serving.rehearse.expectations import judge

    verdicts = [judge(e, r) for e, r in zip(fleet.rehearse, results, strict=True)]
    _print(args.output, version, env, results, verdicts, args.show_body, notes)
    for verdict in verdicts:
        if not verdict.passed:
            print(f"rehearse: expectation {verdict.expectation.name!r} failed: {'; '.join(verdict.failures)}",
                  file=sys.stderr)
    return 0 if all(v.passed for v in verdicts) else 1


def _positive_float(option: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):  # nan and inf too: every scaled duration must stay a finite number
        raise UsageError(f"{option}: {text!r} is not a positive number; fix: e.g. {option} 0.01")
    return value


def _duration(option: str, text: str) -> float:
    from model_serving.units import parse_duration

    try:
        return parse_duration(text)
    except ValueError:
        raise UsageError(f"{option}: {text!r} is not a duration; fix: write it like 500ms, 30s or 2m") from None


def _pairs(option: str, values: list[str], separator: str, example: str) -> tuple[tuple[str, str], ...]:
    form = "'Name: value'" if separator == ":" else "NAME=VALUE"
    out = []
    for value in values:
        key, found, rest = value.partition(separator)
        if not found or not key.strip():
            raise UsageError(f"{option}: {value!r} is not {form}; fix: write it like {example}")
        out.append((key.strip().lower() if separator == ":" else key.strip(), rest.strip()))
    return tuple(out)


def _request_spec(args: argparse.Namespace) -> RequestSpec | None:
    """The ad-hoc request, or None when no request option was given (then: expectations)."""
    from model_serving.rehearse.drive import RequestSpec

    for option, value in (("--requests", args.requests), ("--clients", args.clients)):
        if value is not None and value < 1:
            raise UsageError(f"{option}: {value} is not a positive count; fix: use 1 or more")
    headers = _pairs("--header", args.header, ":", "--header 'x-user-cohort: beta'")
    cookies = _pairs("--cookie", args.cookie, "=", "--cookie ab-group=b")
    query = _pairs("--query", args.query, "=", "--query variant=b")
    body = _body(args.body)
    if args.path is not None and not args.path.startswith("/"):
        raise UsageError(f"--path: {args.path!r} does not start with '/'; fix: write it as /{args.path}")
    given = (args.model, args.host, args.path, args.method, args.body, args.port)
    if all(v is None for v in given) and not (headers or cookies or query):
        return None
    if args.model is None and args.host is None:
        raise UsageError("--model/--host: request options need a target; fix: add --model <name> or --host <host>")
    if body is not None and not any(k == "content-type" for k, _ in headers):
        headers += (("content-type", "application/json"),)
    method = (args.method or ("POST" if body is not None else "GET")).upper()
    return RequestSpec(model=args.model, host=args.host, port=args.port, path=args.path or "/", method=method,
                       headers=headers, cookies=cookies, query=query, body=body, requests=args.requests or 200,
                       clients=args.clients)


def _body(text: str | None) -> bytes | None:
    if text is None:
        return None
    try:
        json.loads(text)
    except ValueError as error:
        raise UsageError(f"--body: not JSON ({error}); fix: pass a JSON document, e.g. --body '{{\"stream\": true}}'") from None
    return text.encode()


def _behaviours(latency: str | None, specs: list[str]) -> tuple[Behaviour, dict[str, Behaviour]]:
    """The default behaviour (--latency) and one per --standin selector."""
    from model_serving.rehearse.standin import Behaviour

    default = Behaviour(latency=_duration("--latency", latency)) if latency else Behaviour()
    out: dict[str, Behaviour] = {}
    for spec in specs:
        selector, found, items = spec.partition("=")
        if not found or not selector or not items:
            raise UsageError(f"--standin: {spec!r} is not SELECTOR=ITEM; fix: write it like --standin v2=5xx:0.5")
        behaviour = out.get(selector, default)
        for item in items.split(","):
            behaviour = _standin_item(behaviour, item.strip(), spec)
        out[selector] = behaviour
    return default, out


def _standin_item(behaviour: Behaviour, item: str, spec: str) -> Behaviour:
    name, _, value = item.partition(":")
    try:
        if name == "latency" and value:
            return replace(behaviour, latency=_duration("--standin", value))
        if name == "stream" and value:
            return replace(behaviour, stream=_duration("--standin", value))
        if name == "tokens" and value:
            return replace(behaviour, tokens=max(1, int(value)))
        if name == "5xx":
            rate, _, status = (value or "1").partition(":")
            return replace(behaviour, error_rate=_rate(rate), error_status=int(status or 503))
        if name == "reset":
            return replace(behaviour, reset_rate=_rate(value or "1"))
        if name == "down" and not value:
            return replace(behaviour, down=True)
    except ValueError:
        pass
    raise UsageError(f"--standin: {item!r} in {spec!r} is not a stand-in behaviour; fix: see `rehearse --help`")


def _rate(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise ValueError(text)
    return value


def _environment(fleet: Fleet, name: str | None) -> str:
    names = list(fleet.environments)
    if name is None:
        return names[0]
    if name not in fleet.environments:
        raise UsageError(f"--env: unknown environment {name!r} in {fleet.source}; fix: use one of {', '.join(names)}")
    return name


def _check_selectors(fleet: Fleet, env: str, selectors: Sequence[str]) -> None:
    """Every --standin selector names a stand-in of the environment (a typo would silently change nothing)."""
    models = fleet.environments[env].models
    for selector in selectors:
        model, slash, rest = selector.rpartition("/")
        version, hashed, index = rest.partition("#")
        versions = models[model].versions if model in models else {} if slash else {
            v for m in models.values() for v in m.versions}
        if not ((slash and rest == "*" and model in models) or (version in versions and (not hashed or index.isdigit()))):
            example = sorted(versions or next(iter(models.values())).versions)[0]
            raise UsageError(f"--standin: {selector!r} selects no stand-in in environment {env}; "
                             f"fix: name a version, a replica or a model's versions, e.g. {example}, {example}#0 or <model>/*")


def _check_target(fleet: Fleet, env: str, spec: RequestSpec, where: str) -> None:
    """Unknown models and hosts fail before the (slow) synthesis."""
    environment = fleet.environments[env]
    if spec.model is not None and spec.model not in environment.models:
        raise UsageError(f"{where}: unknown model {spec.model!r} in environment {env}; "
                         f"fix: use one of {', '.join(sorted(environment.models))}")
    hosts = sorted({m.host for m in environment.models.values() if m.host}
                   | ({environment.openai.host} if environment.openai else set()))
    if spec.host is not None and spec.host.lower() not in hosts:
        raise UsageError(f"{where}: no model is served on host {spec.host!r} in "
                         f"environment {env}; fix: use one of {', '.join(hosts) or '(none: the models are mesh-only)'}")


def _expectation_specs(fleet: Fleet, args: argparse.Namespace) -> list[RequestSpec]:
    from model_serving.rehearse.expectations import spec_for

    return [spec_for(e, args.requests, args.clients) for e in fleet.rehearse]


def _synthesize(fleet: Fleet, env: str) -> list[dict[str, Any]]:
    """The environment's objects, synthesized in memory (dist/ is not read or written)."""
    from model_serving.commands.synth import failure_reason, synthesize

    try:
        outputs = synthesize(fleet)
    except Exception as error:
        raise UsageError(f"{fleet.source}: synthesis failed ({failure_reason(error)}); fix: run "
                         "`model-serving synth` for details") from None
    return next(o.objects for o in outputs if o.env == env)


def _print(output: str, version: str, env: str, results: Sequence[RunResult], verdicts: Sequence[Verdict],
           show_body: bool, notes: list[str], overhead: dict[str, Any] | None = None) -> None:
    if output == "json":
        runs = [r.to_json(show_body=show_body) for r in results]
        for run, verdict in zip(runs, verdicts, strict=False):
            run["expectation"] = {"name": verdict.expectation.name, "expect": verdict.expectation.expect,
                                  "passed": verdict.passed, "failures": verdict.failures}
        if overhead is not None:  # the TrafficExtension Lua's cost, against the same run without it
            runs[0]["extension_latency_ms"] = overhead
        print(json.dumps({"envoy": version, "runs": runs}, indent=2))
        return
    from model_serving.rehearse.report import render

    print(render(version, env, results, verdicts, show_body, notes))
    if overhead is not None:
        added = overhead["added"]
        print(f"\nTrafficExtension Lua adds p50 {added['p50']} ms, p99 {added['p99']} ms (vs the same run without it)")
