"""`model-serving`: synth, analyze, and Git-kept traffic changes (promote, rollback, set-weights)."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import NoReturn, Sequence

DEFAULT_CONFIG = os.environ.get("MODEL_SERVING_CONFIG", "serving.yaml")
DEFAULT_OUT = os.environ.get("MODEL_SERVING_OUT", "dist")


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line naming the fix."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {self.prog}: {message}; fix: see `{self.prog} --help`\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="model-serving", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    synth = sub.add_parser("synth", help="synthesize serving.yaml into dist/ (kept as is on any error)")
    synth.add_argument("--config", default=DEFAULT_CONFIG, help="fleet file (default: %(default)s)")
    synth.add_argument("--out", default=DEFAULT_OUT, help="output folder (default: %(default)s)")
    synth.add_argument("--link-into", default=None, help=argparse.SUPPRESS)  # cdk8s CLI's scratch outdir
    synth.add_argument(
        "--validate",
        action="store_true",
        default=os.environ.get("MODEL_SERVING_VALIDATE") == "1",
        help="also check Istio CRD schemas + CEL rules and strict Kubernetes schemas (MODEL_SERVING_VALIDATE=1)",
    )

    analyze = sub.add_parser("analyze", help="check manifests (files or folders of YAML) like istioctl analyze")
    analyze.add_argument("paths", nargs="+", metavar="PATH")
    analyze.add_argument("--output", "-o", choices=("text", "json"), default="text")
    analyze.add_argument("--default-namespace", default="default", help="namespace of objects without one")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `model-serving` command (and of main.py for cdk8s)."""
    args = _parser().parse_args(argv)
    if args.command == "synth":
        from .synth import run

        return run(
            Path(args.config),
            Path(args.out),
            link_into=Path(args.link_into) if args.link_into else None,
            validate=args.validate,
        )
    if args.command == "analyze":
        from .analyze import run as analyze

        return analyze(args.paths, output=args.output, default_namespace=args.default_namespace)
    raise AssertionError(args.command)  # argparse guarantees a known command
