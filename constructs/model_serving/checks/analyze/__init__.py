"""An offline, `istioctl analyze`-style checker for Kubernetes + Istio manifest dicts.

    findings = analyze(load_manifests(["dist/"]))

Codes are listed in CODES.md next to this file.
"""

from model_serving.units import parse_duration

from .analyzer import analyze
from .cli import run
from .findings import ALL_CODES, Code, Finding
from .loader import AnalyzeInputError, load_manifests

__all__ = [
    "ALL_CODES",
    "AnalyzeInputError",
    "Code",
    "Finding",
    "analyze",
    "load_manifests",
    "parse_duration",
    "run",
]
