"""`model-serving`: synth, analyze, and Git-kept traffic changes (promote, rollback, set-weights)."""
from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

DEFAULT_CONFIG = os.environ.get("MODEL_SERVING_CONFIG", "serving.yaml")
DEFAULT_OUT = os.environ.get("MODEL_SERVING_OUT", "dist")


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line naming the fix."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {self.prog}: {message}; fix: see `{self.prog} --help`\n")


def _add_synth(sub: argparse._SubParsersAction) -> None:
    synth_help = "synthesize serving.yaml into dist/ (kept as is on any error)"
    synth_text = (
        f"{synth_help}: one manifest file per environment and TRAFFIC.md, checked by the traffic-graph "
        "analyzer first. Exit 0 written; 1 synthesis or a check of the output failed; 2 a mistake in the config, "
        "the arguments or the set-up."
    )
    synth = sub.add_parser("synth", help=synth_help, description=synth_text)
    synth.add_argument("--config", default=DEFAULT_CONFIG, help="fleet file (default: %(default)s)")
    synth.add_argument("--out", default=DEFAULT_OUT, help="output folder (default: %(default)s)")
    synth.add_argument("--link-into", default=None, help=argparse.SUPPRESS)  # cdk8s CLI's scratch outdir
    synth.add_argument(
        "--validate",
        action="store_true",
        default=os.environ.get("MODEL_SERVING_VALIDATE") == "1",
        help="also check Istio CRD schemas + CEL rules and strict Kubernetes schemas (MODEL_SERVING_VALIDATE=1)",
    )
    synth.add_argument(
        "--allow-break",
        action="store_true",
        default=os.environ.get("MODEL_SERVING_ALLOW_BREAK") == "1",
        help="emergencies only: drop a version dist/ still routes to in one step (MODEL_SERVING_ALLOW_BREAK=1)",
    )


def _add_analyze(sub: argparse._SubParsersAction) -> None:
    analyze_help = "check manifests (files or folders of YAML) like istioctl analyze"
    analyze_text = (
        f"{analyze_help} does without a cluster: route destinations, subsets, gateways, exportTo, injection "
        "and more (codes: constructs/model_serving/checks/analyze/CODES.md). Exit 0 no errors, 1 errors, 2 unreadable input."
    )
    analyze = sub.add_parser("analyze", help=analyze_help, description=analyze_text)
    analyze.add_argument("paths", nargs="+", metavar="PATH", help="manifest files or folders (*.yaml, *.yml, recursively)")
    analyze.add_argument("--output", "-o", choices=("text", "json"), default="text", help="default: %(default)s")
    analyze.add_argument("--default-namespace", default="default", help="namespace of objects without one")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="model-serving", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_synth(sub)

    plan_help = "what a fresh synth would change against dist/, in plain words (exit 0 none, 1 changes, 2 error)"
    plan = sub.add_parser("plan", help=plan_help, description=plan_help)
    plan.add_argument("--config", default=DEFAULT_CONFIG, help="fleet file (default: %(default)s)")
    plan.add_argument("--out", default=DEFAULT_OUT, help="output folder to compare with (default: %(default)s)")
    plan.add_argument("--ref", default=None, help="compare with the output folder as committed at this git ref")
    plan.add_argument("--format", choices=("text", "markdown"), default="text", help="markdown: for a PR comment")

    _add_analyze(sub)

    from model_serving.commands.rehearse import add_parser as add_rehearse

    add_rehearse(sub)

    # Git-kept traffic changes: edit serving.yaml in place (comments and layout kept), then synth.
    edits = {
        "promote": "move rollout.canary to its next step, or complete the promotion, then synth",
        "rollback": "send all live traffic back (to rollout.stable, else the heaviest version in the committed "
                    "output, or to the weights at --to REF), then synth",
        "set-weights": "set version weights (the others keep theirs; the sum must be 100), then synth",
    }
    for name, text in edits.items():
        edit = sub.add_parser(name, help=text, description=text)
        edit.add_argument("model", metavar="MODEL")
        if name == "set-weights":
            edit.add_argument("assignments", nargs="+", metavar="VERSION=WEIGHT")
        if name == "rollback":
            edit.add_argument("--to", default=None, metavar="REF",
                              help="restore the model's weights as in the output folder at this git ref")
        edit.add_argument("--config", default=DEFAULT_CONFIG, help="fleet file, edited in place (default: %(default)s)")
        edit.add_argument("--out", default=DEFAULT_OUT, help="output folder (default: %(default)s)")
        edit.add_argument("--env", default=None, help="environment whose weights to edit (when several override them)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `model-serving` command (and of main.py for cdk8s)."""
    args = _parser().parse_args(argv)
    if args.command == "synth":
        from model_serving.commands.synth import run

        return run(
            Path(args.config),
            Path(args.out),
            link_into=Path(args.link_into) if args.link_into else None,
            validate=args.validate,
            allow_break=args.allow_break,
        )
    if args.command == "plan":
        from model_serving.commands.plan import run as plan

        return plan(Path(args.config), Path(args.out), ref=args.ref, output=args.format)
    if args.command == "analyze":
        from model_serving.checks.analyze import run as analyze

        return analyze(args.paths, output=args.output, default_namespace=args.default_namespace)
    if args.command == "rehearse":
        from model_serving.commands.rehearse import run as rehearse

        return rehearse(args, DEFAULT_CONFIG)
    if args.command in ("promote", "rollback", "set-weights"):
        from model_serving.commands.edit import run as edit

        return edit(
            args.command,
            model=args.model,
            config=Path(args.config),
            outdir=Path(args.out),
            env=args.env,
            assignments=getattr(args, "assignments", ()),
            to=getattr(args, "to", None),
        )
    raise AssertionError(args.command)  # argparse guarantees a known command
