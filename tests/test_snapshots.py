"""Snapshots guard the synthesized output: any change to dist/ shape shows up in review."""
from __future__ import annotations


def test_reference_fleet_snapshot(reference, snapshot) -> None:
    _, outputs = reference
    assert {o.filename: o.text for o in outputs} == snapshot
