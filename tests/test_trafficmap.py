"""dist/TRAFFIC.md: what the traffic map says, drawn from the fleet model (rendering: test_trafficmap_render)."""
from __future__ import annotations

import copy
import re

from helpers import ROOT
from model_serving.commands.synth import render_files
from model_serving.commands.trafficmap import NodeIds, mermaid_text, render_traffic_map
from model_serving.fleet.load import parse_fleet

IMAGE = "registry.example.com/ml/{}:1.0.0@sha256:" + "ab" * 32


def _fleet(data: dict):
    return parse_fleet(copy.deepcopy(data), source="serving.yaml")


def _blocks(markdown: str) -> list[str]:
    return re.findall(r"^```mermaid\n(.*?)^```$", markdown, flags=re.DOTALL | re.MULTILINE)


def _rich() -> dict:
    """Two environments; a prefix-routed model with a mirror, a model with an A/B route and autoscaling."""
    return {
        "environments": {
            "production": {"namespace": "ml", "gateway": {"name": "edge", "hosts": ["api.example.com", "chat.example.com"],
                                                          "tls": {"credentialName": "edge-tls"}}},
            "staging": {"namespace": "ml-staging", "gateway": {"hosts": ["*.staging.example.com"], "plainHttp": True},
                        "models": {"chat": {"host": "chat.staging.example.com"},
                                   "fraud": {"host": "fraud.staging.example.com"}}},
        },
        "models": {
            "fraud": {
                "host": "api.example.com",
                "prefix": "/models/fraud/",
                "versions": {"v1": {"image": IMAGE.format("fraud"), "weight": 100, "replicas": 3},
                             "v2": {"image": IMAGE.format("fraud"), "weight": 0, "replicas": 1}},
                "mirror": {"version": "v2", "percent": 5},
            },
            "chat": {
                "host": "chat.example.com",
                "versions": {"v1": {"image": "registry.example.com/ml/chat:1", "weight": 80},
                             "v2": {"image": "registry.example.com/ml/chat:2", "weight": 20}},
                "routes": [{"name": "beta", "match": {"headers": {"x-group": "beta"}, "uri": {"prefix": "/v2"}},
                            "version": "v2"}],
                "autoscaling": {"minReplicas": 2, "maxReplicas": 6, "cpuUtilization": 70},
            },
        },
    }


def test_synth_writes_the_traffic_map_next_to_the_manifests(reference) -> None:
    fleet, outputs = reference
    files = render_files(fleet, outputs)
    assert files["TRAFFIC.md"] == render_traffic_map(fleet)
    assert (ROOT / "dist" / "TRAFFIC.md").read_text() == files["TRAFFIC.md"]
    assert not files["TRAFFIC.md"].endswith((".yaml", ".yml", ".json"))  # kubectl apply -f dist skips it


def test_reference_map_has_the_gateway_host_model_routes_and_versions(reference) -> None:
    text = render_traffic_map(reference[0])
    (diagram,) = _blocks(text)
    assert diagram.startswith("flowchart LR\n")
    assert 'gw{{"gateway ai-services/ai-model-gateway<br/>HTTPS"}}' in diagram
    host = "host_ai_model_example_com"
    assert f'{host}(["ai-model.example.com"])' in diagram and f"gw --> {host}" in diagram
    assert f'{host} -->|"/"| model_ai_model' in diagram and 'model_ai_model[["ai-model"]]' in diagram
    assert 'mesh -->|"ai-model.ai-services.svc.cluster.local"| model_ai_model' in diagram
    assert 'route_ai_model_default["route default<br/>all other requests"]' in diagram
    assert 'route_ai_model_default -->|"90%"| version_ai_model_v1' in diagram
    assert 'route_ai_model_default -->|"10%"| version_ai_model_v2' in diagram
    assert 'version_ai_model_v1("v1<br/>ai-model#58;1.0.0@sha256#58;4f1c3a0e2b9d<br/>2 replicas")' in diagram
    assert "| ai-model | v1 | 90% | - | - | 2 replicas | `registry.example.com/ai/ai-model:1.0.0@sha256:4f1c" in text
    assert "| ai-model | v2 | 10% | - | - | 2 replicas |" in text


def test_map_has_one_diagram_and_table_per_environment() -> None:
    text = render_traffic_map(_fleet(_rich()))
    assert len(_blocks(text)) == 2
    assert text.index("## production (namespace `ml`)") < text.index("## staging (namespace `ml-staging`)")
    assert text.count("| model | version | weight | A/B routes | mirror | replicas | image |") == 2
    staging = _blocks(text)[1]
    assert 'host_chat_staging_example_com(["chat.staging.example.com"])' in staging
    assert 'host_fraud_staging_example_com -->|"/models/fraud/"| model_fraud' in staging and '<br/>HTTP"}}' in staging


def test_prefix_mirror_ab_route_and_autoscaling_are_drawn_and_tabled() -> None:
    text = render_traffic_map(_fleet(_rich()))
    production = _blocks(text)[0]
    assert 'host_api_example_com -->|"/models/fraud/"| model_fraud' in production
    assert 'route_fraud_default -.->|"0%"| version_fraud_v2' in production  # weight 0: dashed, no live traffic
    assert 'route_fraud_default -.->|"mirror 5%"| version_fraud_v2' in production
    assert 'route_chat_beta["route beta<br/>uri starts with /v2<br/>header x-group = beta"]' in production
    assert 'route_chat_beta -->|"100%"| version_chat_v2' in production
    assert "2-6 (autoscaled)" in production
    assert "| fraud | v2 | 0% | - | 5% | 1 replica |" in text
    assert "| chat | v2 | 20% | beta | - | 2-6 (autoscaled) | `registry.example.com/ml/chat:2` |" in text


def test_routes_appear_in_match_order() -> None:
    production = _blocks(render_traffic_map(_fleet(_rich())))[0]
    assert production.index("route beta") < production.index("route default")


def test_map_is_deterministic_and_ignores_model_order() -> None:
    data = _rich()
    again = copy.deepcopy(data)
    again["models"] = dict(reversed(list(again["models"].items())))
    assert render_traffic_map(_fleet(data)) == render_traffic_map(_fleet(data)) == render_traffic_map(_fleet(again))


def test_labels_escape_everything_mermaid_or_html_would_interpret() -> None:
    escaped = mermaid_text('a"b#c;d:e<f>&g`h$$i$j')
    assert escaped == "a#34;b#35;c#59;d#58;e#60;f#62;#38;g#96;h#36;#8288;#36;i#36;j"
    assert re.fullmatch(r"[A-Za-z0-9 .,\-_/%@+=()\[\]?!'#;]*", mermaid_text("".join(map(chr, range(32, 0x250)))))


def test_quotes_and_arrows_in_matches_stay_inside_their_label() -> None:
    data = _rich()
    data["models"]["chat"]["routes"][0]["match"] = {"headers": {'x-"odd"': {"regex": '^a"\\];b-->c\\["x$'}}}
    production = _blocks(render_traffic_map(_fleet(data)))[0]
    for line in production.splitlines():
        # Every label is one quoted string: the only double quotes are the label delimiters.
        assert line.count('"') in (0, 2, 4), line
    assert "header x-#34;odd#34; matches #94;a#34;#92;]#59;b--#62;c#92;[#34;x#36;" in production


def test_table_cells_escape_pipes() -> None:
    data = _rich()
    data["models"]["chat"]["versions"]["v1"]["image"] = "registry.example.com/ml/chat:1|x"
    assert "`registry.example.com/ml/chat:1\\|x`" in render_traffic_map(_fleet(data))


def test_removing_a_version_leaves_no_arrow_that_names_another_version() -> None:
    data = _rich()
    data["models"]["chat"]["versions"]["v3"] = {"image": "registry.example.com/ml/chat:3", "weight": 0}
    before = _blocks(render_traffic_map(_fleet(data)))[0]
    del data["models"]["chat"]["versions"]["v2"]
    data["models"]["chat"]["versions"]["v1"]["weight"] = 100
    data["models"]["chat"]["routes"] = []
    after = _blocks(render_traffic_map(_fleet(data)))[0]
    # Positional ids would have given v3 the id v2 had: the diff would show v2 still drawn.
    assert "version_chat_v2" in before and "version_chat_v2" not in after
    assert "version_chat_v3" in before and "version_chat_v3" in after
    removed = set(before.splitlines()) - set(after.splitlines())
    assert all("v3" not in line for line in removed)


def test_node_ids_are_unique_and_in_mermaids_id_charset() -> None:
    ids = NodeIds()
    assert ids("version", "ai-model", "v2") == "version_ai_model_v2"
    assert ids("version", "ai_model", "v2") == "version_ai_model_v2_2"  # sanitizes alike: numbered
    assert ids("version", "ai-model", "v2") == "version_ai_model_v2"  # stable for the same names
    assert ids("host", "*.example.com") == "host_example_com"
    assert ids("route", "m", "été") == "route_m_t"
    for diagram in _blocks(render_traffic_map(_fleet(_rich()))):
        declared = re.findall(r"^  (\S+?)[\[({]", diagram, flags=re.MULTILINE)
        assert len(declared) == len(set(declared))
        assert all(re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", node) for node in declared)
