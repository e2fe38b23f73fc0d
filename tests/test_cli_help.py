"""Every subcommand's --help says what it does, not only how to call it."""
from __future__ import annotations

import pytest

from model_serving.commands.cli import main


@pytest.mark.parametrize(
    ("command", "says"),
    [
        ("synth", "one manifest file per environment and TRAFFIC.md"),
        ("analyze", "like istioctl analyze does without a cluster"),
        ("plan", "what a fresh synth would change against dist/"),
        ("promote", "move rollout.canary to its next step"),
    ],
)
def test_help_describes_the_command(command: str, says: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    usage, _, rest = capsys.readouterr().out.partition("\n\n")
    assert usage.startswith(f"usage: model-serving {command}")
    assert says in " ".join(rest.split())
