"""The whole-analyzer surface: the clean set, ordering, Finding, run() and load_manifests()."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from model_serving.checks.analyze import (
    ALL_CODES,
    AnalyzeInputError,
    Finding,
    analyze,
    load_manifests,
    run,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "analyze"
CODES_MD = Path(__file__).resolve().parents[2] / "constructs" / "model_serving" / "checks" / "analyze" / "CODES.md"


# --- the clean set and ordering -------------------------------------------------------------


def test_clean_set_has_no_findings() -> None:
    objects = load_manifests([FIXTURES / "clean.yaml"])
    assert len(objects) == 8
    assert analyze(objects) == []


def test_findings_are_sorted_by_level_then_resource_then_code() -> None:
    paths = [FIXTURES / name for name in ("base.yaml", "service_port_names.yaml", "vs_weights_not_100.yaml")]
    paths.append(FIXTURES / "dr_unknown_host.yaml")
    findings = analyze(load_manifests(paths))
    assert [(f.level, f.code) for f in findings] == [
        ("Error", "MS1002"),
        ("Warning", "IST0174"),
        ("Info", "IST0118"),
        ("Info", "IST0118"),
    ]
    assert analyze(reversed(load_manifests(paths))) == findings


def test_finding_prints_as_one_istioctl_style_line() -> None:
    finding = Finding(
        code="IST0101",
        level="Error",
        resource="VirtualService ai-services/ai-model",
        message='subset "v3" is not defined\nby any DestinationRule',
        fix="add the subset",
    )
    assert str(finding) == (
        "Error [IST0101] (VirtualService ai-services/ai-model) "
        'subset "v3" is not defined by any DestinationRule. Fix: add the subset'
    )


def test_cluster_scoped_resources_have_no_namespace_in_their_name() -> None:
    # Every Namespace without injection is reported (IST0102), sorted by resource.
    findings = analyze(load_manifests([FIXTURES / "namespace_not_injected.yaml"]))
    assert [f.resource for f in findings] == ["Namespace ai-services", "Namespace blank", "Namespace empty"]


def test_non_istio_gateway_kinds_and_unknown_versions_are_ignored() -> None:
    objects = load_manifests([FIXTURES / "base.yaml"])
    objects += [
        # A Gateway API Gateway is not an Istio Gateway a VirtualService could bind to.
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "Gateway",
            "metadata": {"name": "api", "namespace": "ai-services"},
        },
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "VirtualService",
            "metadata": {"name": "via-api", "namespace": "ai-services"},
            "spec": {
                "hosts": ["ai-model.example.com"],
                "gateways": ["api"],
                "http": [{"route": [{"destination": {"host": "ai-model"}}]}],
            },
        },
        # Not a served Istio version: ignored rather than half-understood.
        {
            "apiVersion": "networking.istio.io/v2",
            "kind": "VirtualService",
            "metadata": {"name": "future", "namespace": "ai-services"},
            "spec": {"http": [{"route": [{"destination": {"host": "nowhere"}}]}]},
        },
    ]
    findings = analyze(objects)
    assert {(f.code, f.resource) for f in findings} == {("IST0101", "VirtualService ai-services/via-api")}


@pytest.mark.parametrize(
    "spec",
    [
        {"hosts": "ai-model", "http": {"route": "x"}},
        {"hosts": [None, 3], "gateways": [None], "http": [None, {"route": [None, {"destination": "x"}], "match": "y"}]},
        {
            "http": [
                {"route": [{"destination": {"host": 7}, "weight": "10"}], "retries": {"attempts": "3"}, "timeout": None}
            ]
        },
        ["not", "a", "mapping"],
    ],
)
def test_malformed_objects_do_not_crash_the_analyzer(spec: object) -> None:
    objects: list[Any] = load_manifests([FIXTURES / "base.yaml"])
    for kind in ("VirtualService", "DestinationRule", "Gateway", "ServiceEntry", "PeerAuthentication", "Service"):
        group = "security.istio.io/v1" if kind == "PeerAuthentication" else "networking.istio.io/v1"
        objects.append(
            {
                "apiVersion": "v1" if kind == "Service" else group,
                "kind": kind,
                "metadata": {"name": "odd", "namespace": "ai-services"},
                "spec": spec,
            }
        )
    objects += ["not an object", {"kind": "Pod"}, {"apiVersion": "v1", "kind": "Service", "metadata": None}]
    findings = analyze(objects)
    assert all(isinstance(f, Finding) for f in findings)
    assert findings == analyze(objects)


def test_every_code_is_documented_in_codes_md() -> None:
    table = {
        match.group(1): match.group(2)
        for match in re.finditer(
            r"^\| ((?:IST|MS)\d{4}) \| (\w+) \|", CODES_MD.read_text(encoding="utf-8"), re.MULTILINE
        )
    }
    assert table == {code.code: code.level for code in ALL_CODES}


# --- run() ----------------------------------------------------------------------------------


def test_run_prints_nothing_but_the_summary_for_the_clean_set() -> None:
    out = io.StringIO()
    assert run([str(FIXTURES / "clean.yaml")], out=out) == 0
    assert out.getvalue() == "Analyzed 8 objects: no issues found.\n"


def test_run_prints_one_line_per_finding_and_returns_1_on_errors() -> None:
    out = io.StringIO()
    code = run([str(FIXTURES / "base.yaml"), str(FIXTURES / "vs_destination_unknown_subset.yaml")], out=out)
    lines = out.getvalue().splitlines()
    assert code == 1
    assert lines[0].startswith('Error [IST0101] (VirtualService ai-services/ai-model-v3) subset "v3"')
    assert lines[-1] == "Analyzed 8 objects: 1 error, 0 warnings, 0 info."
    assert len(lines) == 2


def test_run_returns_0_when_only_warnings_and_info() -> None:
    out = io.StringIO()
    assert run([str(FIXTURES / "base.yaml"), str(FIXTURES / "service_port_names.yaml")], out=out) == 0
    assert out.getvalue().splitlines()[-1] == "Analyzed 8 objects: 0 errors, 0 warnings, 2 info."


def test_run_json_prints_an_array_of_findings() -> None:
    out = io.StringIO()
    code = run([str(FIXTURES / "base.yaml"), str(FIXTURES / "vs_mesh_hosts_conflict.yaml")], output="json", out=out)
    payload = json.loads(out.getvalue())
    assert code == 1
    assert [item["resource"] for item in payload] == [
        "VirtualService ai-services/ai-model",
        "VirtualService ai-services/ai-model-canary",
    ]
    assert all(set(item) == {"code", "level", "resource", "message", "fix"} for item in payload)
    assert {item["code"] for item in payload} == {"IST0109"}


def test_run_json_prints_an_empty_array_when_clean() -> None:
    out = io.StringIO()
    assert run([str(FIXTURES / "clean.yaml")], output="json", out=out) == 0
    assert json.loads(out.getvalue()) == []


def test_run_reads_folders(tmp_path: Path) -> None:
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "clean.yml").write_text((FIXTURES / "clean.yaml").read_text())
    (tmp_path / "notes.txt").write_text("not yaml: [")
    out = io.StringIO()
    assert run([str(tmp_path)], out=out) == 0
    assert out.getvalue() == "Analyzed 8 objects: no issues found.\n"


def test_fails_when_input_is_unreadable_with_exit_code_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("kind: Service\nmetadata: {name: [oops\n")
    out = io.StringIO()
    assert run([str(broken)], out=out) == 2
    error = capsys.readouterr().err
    assert out.getvalue() == ""
    assert error.count("\n") == 1 and str(broken) in error and "invalid YAML" in error
    assert error.startswith("error: ") and "; fix: correct the YAML syntax" in error


def test_fails_when_output_format_is_unknown(capsys: pytest.CaptureFixture[str]) -> None:
    assert run([str(FIXTURES / "clean.yaml")], output="xml", out=io.StringIO()) == 2
    assert "xml" in capsys.readouterr().err


# --- load_manifests() -----------------------------------------------------------------------


def test_load_manifests_skips_empty_documents_and_expands_lists(tmp_path: Path) -> None:
    manifest = tmp_path / "list.yaml"
    manifest.write_text(
        "---\n---\n"
        "apiVersion: v1\nkind: List\nitems:\n"
        "  - {apiVersion: v1, kind: Namespace, metadata: {name: a}}\n"
        "  - {apiVersion: v1, kind: Namespace, metadata: {name: b}}\n"
        "---\n"
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: c}\n"
    )
    assert [obj["metadata"]["name"] for obj in load_manifests([manifest])] == ["a", "b", "c"]


def test_load_manifests_walks_folders_recursively_in_sorted_order(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "two.yml").write_text("{apiVersion: v1, kind: Namespace, metadata: {name: two}}\n")
    (tmp_path / "a.yaml").write_text("{apiVersion: v1, kind: Namespace, metadata: {name: one}}\n")
    (tmp_path / "ignored.json").write_text("{}")
    assert [obj["metadata"]["name"] for obj in load_manifests([tmp_path])] == ["one", "two"]


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("kind: [unclosed\n", "invalid YAML"),
        ("- just\n- a list\n", "document 1 is a list, expected a mapping"),
        ("{kind: Namespace}\n---\nplain text\n", "document 2 is a str"),
        ("kind: List\nitems: [1, 2]\n", "List whose items are not all mappings"),
    ],
)
def test_fails_when_manifest_is_not_valid_objects(tmp_path: Path, content: str, needle: str) -> None:
    manifest = tmp_path / "bad.yaml"
    manifest.write_text(content)
    with pytest.raises(AnalyzeInputError) as raised:
        load_manifests([manifest])
    message = str(raised.value)
    assert needle in message and str(manifest) in message and "\n" not in message


def test_fails_when_path_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(AnalyzeInputError, match="no such file or directory"):
        load_manifests([tmp_path / "missing.yaml"])


def test_fails_when_folder_has_no_manifests(tmp_path: Path) -> None:
    with pytest.raises(AnalyzeInputError, match=r"no \*\.yaml or \*\.yml files found"):
        load_manifests([tmp_path])


def test_fails_when_file_is_not_utf8(tmp_path: Path) -> None:
    manifest = tmp_path / "latin1.yaml"
    manifest.write_bytes(b"kind: Namespace\nmetadata: {name: caf\xe9}\n")
    with pytest.raises(AnalyzeInputError, match="is not UTF-8 text; fix: save the file as UTF-8"):
        load_manifests([manifest])
