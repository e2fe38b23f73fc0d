"""Whatever fails during a synth, the output folder stays byte-identical and the error is readable."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from helpers import ROOT, tree
from model_serving.commands import synth

REAL_SYNTHESIZE = synth.synthesize


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "serving.yaml", tmp_path / "serving.yaml")
    shutil.copytree(ROOT / "dist", tmp_path / "dist")
    return tmp_path



def _run(workdir: Path, **kwargs) -> int:
    return synth.run(workdir / "serving.yaml", workdir / "dist", quiet=True, **kwargs)


def test_fails_when_a_construct_raises_and_keeps_dist(workdir: Path, monkeypatch, capsys) -> None:
    def broken(fleet):
        raise RuntimeError("Passed to parameter props of new Foo: Unable to deserialize\n  details...")

    monkeypatch.setattr(synth, "synthesize", broken)
    before = tree(workdir / "dist")
    assert _run(workdir) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {workdir / 'serving.yaml'}: synthesis failed (RuntimeError: Passed to parameter props of new Foo: "
                   f"Unable to deserialize); {workdir / 'dist'} left unchanged"]
    assert tree(workdir / "dist") == before


def _with_broken_subset(fleet):
    outputs = REAL_SYNTHESIZE(fleet)
    for obj in outputs[0].objects:
        if obj["kind"] == "VirtualService":
            obj["spec"]["http"][0]["route"][1]["destination"]["subset"] = "v3"
    return outputs


def test_fails_when_the_analyzer_finds_an_error_and_keeps_dist(workdir: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(synth, "synthesize", _with_broken_subset)
    before = tree(workdir / "dist")
    assert _run(workdir) == 1
    err = capsys.readouterr().err
    assert "IST0101" in err and 'subset "v3"' in err and "left unchanged" in err
    assert tree(workdir / "dist") == before


def _with_schema_error(fleet):
    outputs = REAL_SYNTHESIZE(fleet)
    for obj in outputs[0].objects:
        if obj["kind"] == "DestinationRule":
            obj["spec"]["trafficPolicy"]["loadBalancer"]["simple"] = "FASTEST"
    return outputs


def test_fails_when_schema_validation_fails_and_keeps_dist(workdir: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(synth, "synthesize", _with_schema_error)
    before = tree(workdir / "dist")
    assert _run(workdir, validate=True) == 1
    err = capsys.readouterr().err
    assert "schema: DestinationRule ai-services/ai-model: spec.trafficPolicy.loadBalancer.simple" in err
    assert tree(workdir / "dist") == before


def test_validated_synth_of_the_reference_writes_dist(workdir: Path) -> None:
    shutil.rmtree(workdir / "dist")
    assert _run(workdir, validate=True) == 0
    assert tree(workdir / "dist") == tree(ROOT / "dist")


def test_a_failed_write_leaves_no_staging_folder_behind(workdir: Path, monkeypatch) -> None:
    def fail_rename(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(synth.os, "rename", fail_rename)
    before = tree(workdir / "dist")
    with pytest.raises(OSError):
        synth.write_atomically({"x.yaml": "a: 1\n"}, workdir / "dist")
    assert tree(workdir / "dist") == before
    assert sorted(p.name for p in workdir.iterdir()) == ["dist", "serving.yaml"]
