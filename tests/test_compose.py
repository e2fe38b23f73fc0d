"""Composing in Python: the chart is a cdk8s construct that other apps can use as is."""
from __future__ import annotations

import cdk8s
import yaml

from helpers import by_kind


def test_a_chart_composes_into_another_cdk8s_app() -> None:
    from model_serving import ModelServingChart, parse_fleet

    fleet = parse_fleet({
        "environments": {"dev": {"namespace": "ml-dev", "gateway": {"hosts": ["m.example.com"], "plainHttp": True}}},
        "models": {"m": {"host": "m.example.com", "versions": {
            "v1": {"image": "registry.example.com/m:1", "weight": 60},
            "v2": {"image": "registry.example.com/m:2", "weight": 40},
        }}},
    })
    app = cdk8s.App()
    chart = ModelServingChart(app, "dev", env=fleet.environments["dev"])
    cdk8s.ApiObject(chart, "extra", api_version="v1", kind="ConfigMap", metadata=cdk8s.ApiObjectMetadata(name="notes"))
    objects = [o for o in yaml.safe_load_all(app.synth_yaml()) if o]
    (vs,) = by_kind(objects, "VirtualService")
    assert [(d["destination"]["subset"], d["weight"]) for d in vs["spec"]["http"][0]["route"]] == [("v1", 60), ("v2", 40)]
    assert by_kind(objects, "ConfigMap")[0]["metadata"]["name"] == "notes"


def test_the_package_imports_without_starting_cdk8s() -> None:
    import subprocess
    import sys

    code = "import sys, model_serving; model_serving.parse_fleet; print('cdk8s' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
