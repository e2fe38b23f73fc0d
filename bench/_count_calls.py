"""Run a cdk8s app script while counting Python -> node (jsii) kernel requests.

Usage: python -O bench/_count_calls.py main.py [args...]; the counts go, as JSON, to the file
named by BENCH_JSII_CALLS. Counting wraps `_NodeProcess.send`, the one method every kernel
request (load, create, invoke, get, ...) goes through, so nothing is missed or counted twice.
It is a separate run from the timed ones: the wrapper's own overhead must not show in timings.
"""
from __future__ import annotations

import json
import os
import runpy
import sys
from collections import Counter
from typing import Any

from jsii._kernel.providers.process import _NodeProcess

_calls: Counter[str] = Counter()
_send = _NodeProcess.send


def _counting_send(self: _NodeProcess, request: Any, response_type: Any) -> Any:
    # Request classes are named after the kernel API: CreateRequest -> create, InvokeRequest -> invoke.
    _calls[type(request).__name__.removesuffix("Request").lstrip("_").lower()] += 1
    return _send(self, request, response_type)


def main() -> int:
    """Run argv[1] as __main__ with the counter installed; write the counts on the way out."""
    if len(sys.argv) < 2 or "BENCH_JSII_CALLS" not in os.environ:
        print("error: _count_calls.py: usage: BENCH_JSII_CALLS=<file> python -O bench/_count_calls.py <script> [args]; "
              "fix: pass the app script and set BENCH_JSII_CALLS", file=sys.stderr)
        return 2
    _NodeProcess.send = _counting_send  # type: ignore[method-assign]
    script, sys.argv = sys.argv[1], sys.argv[1:]
    # As `python script.py` would: the script's folder first on sys.path, not bench/.
    sys.path[0] = os.path.dirname(os.path.abspath(script))
    status: Any = 0
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as done:
        status = done.code
    finally:
        with open(os.environ["BENCH_JSII_CALLS"], "w") as out:
            json.dump({"calls": sum(_calls.values()), "by_request": dict(_calls.most_common())}, out)
    return status if isinstance(status, int) else (0 if status is None else 1)


if __name__ == "__main__":
    sys.exit(main())
