"""Command-line front end: `python -m model_serving.checks.analyze dist/`."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from typing import TextIO

from .analyzer import analyze
from .findings import ERROR, INFO, WARNING, Finding
from .loader import AnalyzeInputError, load_manifests

OUTPUTS = ("text", "json")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 or word == "info" else f"{count} {word}s"


def summary(findings: Sequence[Finding], *, objects: int) -> str:
    """`Analyzed 12 objects: 1 error, 0 warnings, 2 info.` (or `no issues found.`)."""
    if not findings:
        return f"Analyzed {_plural(objects, 'object')}: no issues found."
    levels = Counter(finding.level for finding in findings)
    counts = ", ".join(
        _plural(levels[level], word) for level, word in ((ERROR, "error"), (WARNING, "warning"), (INFO, "info"))
    )
    return f"Analyzed {_plural(objects, 'object')}: {counts}."


def run(
    paths: Sequence[str],
    *,
    output: str = "text",
    out: TextIO = sys.stdout,
    default_namespace: str = "default",
) -> int:
    """Analyze the manifests under `paths` and print the findings; 1 if any Error, 2 on unreadable input, else 0."""
    if output not in OUTPUTS:
        print(f"error: analyze: unknown output {output!r}; fix: use one of {', '.join(OUTPUTS)}", file=sys.stderr)
        return 2
    try:
        objects = load_manifests(paths)
    except AnalyzeInputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    findings = analyze(objects, default_namespace=default_namespace)
    if output == "json":
        out.write(json.dumps([asdict(finding) for finding in findings], indent=2) + "\n")
    else:
        for finding in findings:
            out.write(f"{finding}\n")
        out.write(summary(findings, objects=len(objects)) + "\n")
    return 1 if any(finding.level == ERROR for finding in findings) else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments and call `run`; the return value is the process exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m model_serving.checks.analyze",
        description="Check Kubernetes + Istio manifests the way `istioctl analyze` would, offline.",
    )
    parser.add_argument("paths", nargs="+", help="manifest files or folders (*.yaml, *.yml, searched recursively)")
    parser.add_argument("-o", "--output", choices=OUTPUTS, default="text", help="output format (default: text)")
    parser.add_argument(
        "--default-namespace",
        default="default",
        help="namespace of objects that declare none (default: default)",
    )
    args = parser.parse_args(argv)
    return run(args.paths, output=args.output, out=sys.stdout, default_namespace=args.default_namespace)
