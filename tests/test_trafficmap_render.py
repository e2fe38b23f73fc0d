"""The traffic map really renders: every diagram goes through the `mermaid` package in headless Chromium.

One Chromium launch renders all diagrams of the page (`make render-tools` installs Debian's
chromium; `npm ci` installs mermaid). A diagram that does not parse yields no SVG, so a syntax
error in the generated Mermaid cannot pass.
"""
from __future__ import annotations

import html
import json
import re
import subprocess
from pathlib import Path

import pytest

from helpers import ROOT, load_yaml, synth_data
from model_serving.commands.trafficmap import (
    WORD_JOINER,
    render_traffic_map,
    short_image,
)

CHROMIUM = Path("/usr/bin/chromium")
MERMAID = ROOT / "node_modules" / "mermaid" / "dist" / "mermaid.min.js"
NASTY_REGEX = r"^(.*?;\s*)?(x=v2)(;.*)?$"
NASTY_VALUE = 'style:a#b;c "q" <br/> #quot; $$x$$ `tick` %% end'
BROKEN = 'flowchart LR\n  a["x" --> --> b'

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><script src="{mermaid}"></script></head>
<body><pre id="result">pending</pre>
<script type="application/json" id="diagrams">{diagrams}</script>
<script>
(async () => {{
  const results = [];
  mermaid.initialize({{startOnLoad: false, securityLevel: "strict"}});
  const diagrams = JSON.parse(document.getElementById("diagrams").textContent);
  for (const [i, code] of diagrams.entries()) {{
    try {{
      const {{svg}} = await mermaid.render("diagram" + i, code);
      const holder = document.createElement("div");
      holder.innerHTML = svg;
      document.body.appendChild(holder);
      holder.querySelectorAll("br").forEach((br) => br.replaceWith("\\n"));
      const labels = [...holder.querySelectorAll(".nodeLabel, .edgeLabel")].map((e) => e.textContent);
      results.push({{svg: holder.querySelector("svg") !== null, text: holder.textContent, labels}});
    }} catch (error) {{
      results.push({{svg: false, error: String((error && error.message) || error)}});
    }}
  }}
  document.getElementById("result").textContent = JSON.stringify(results);
}})();
</script></body></html>
"""


def mermaid_blocks(markdown: str) -> list[str]:
    """The Mermaid diagrams of a Markdown document, in order."""
    return re.findall(r"^```mermaid\n(.*?)^```$", markdown, flags=re.S | re.M)


def render_in_chromium(diagrams: list[str], workdir: Path) -> list[dict]:
    """Render diagrams with mermaid in one headless Chromium run; one result per diagram."""
    assert CHROMIUM.exists(), "headless Chromium is missing; fix: run `make render-tools` (installs Debian's chromium)"
    assert MERMAID.exists(), "mermaid is missing; fix: run `make setup` (npm ci installs it from package-lock.json)"
    page = workdir / "page.html"
    payload = json.dumps(diagrams).replace("</", "<\\/")
    page.write_text(PAGE.format(mermaid=MERMAID.as_uri(), diagrams=payload))
    command = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
        "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
        f"--user-data-dir={workdir / 'profile'}", "--virtual-time-budget=10000", "--dump-dom", page.as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    found = re.search(r'<pre id="result">(.*?)</pre>', done.stdout, flags=re.S)
    assert found and found.group(1) != "pending", f"the page did not finish rendering: {done.stderr[-2000:]}"
    return json.loads(html.unescape(found.group(1)))


def _nasty_config(base: dict) -> dict:
    model = base["models"]["ai-model"]
    model["routes"] = [
        {"name": "cohort", "match": {"headers": {"cookie": {"regex": NASTY_REGEX}}}, "version": "v2"},
        {"name": "odd", "match": {"headers": {"x-style": {"exact": NASTY_VALUE}}}, "version": "v1"},
    ]
    return base


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple[str, dict]]]:
    """Every traffic map of the repo (serving.yaml and examples/), a nasty one and a broken diagram."""
    fleets = {"serving.yaml": synth_data(load_yaml(ROOT / "serving.yaml"), source="serving.yaml")[0]}
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        fleets[f"examples/{path.name}"] = synth_data(load_yaml(path), source=f"examples/{path.name}")[0]
    fleets["nasty"] = synth_data(_nasty_config(load_yaml(ROOT / "serving.yaml")))[0]
    cases: list[tuple[str, str, str]] = []  # (fleet, environment, diagram)
    for name, fleet in fleets.items():
        blocks = mermaid_blocks(render_traffic_map(fleet))
        assert len(blocks) == len(fleet.environments), name
        cases += [(name, env, block) for env, block in zip(fleet.environments, blocks, strict=False)]
    cases.append(("broken", "-", BROKEN))
    results = render_in_chromium([c[2] for c in cases], tmp_path_factory.mktemp("mermaid"))
    out: dict[str, list[tuple[str, dict]]] = {}
    for (name, env, _), result in zip(cases, results, strict=True):
        out.setdefault(name, []).append((env, result))
    out["_fleets"] = list(fleets.items())  # type: ignore[list-item]
    return out


def test_every_traffic_map_renders_an_svg_with_every_model_and_version(rendered) -> None:
    fleets = dict(rendered["_fleets"])
    assert "serving.yaml" in fleets and "examples/fleet.yaml" in fleets
    for name, fleet in fleets.items():
        for env_name, result in rendered[name]:
            assert result["svg"], f"{name} {env_name}: {result.get('error')}"
            labels = result["labels"]
            env = fleet.environments[env_name]
            for model_name, model in env.models.items():
                assert model_name in labels, (name, env_name, model_name, labels)
                for version, spec in model.versions.items():
                    node = [line.split("\n") for line in labels if line.split("\n")[:2] == [version, short_image(spec.image)]]
                    assert node, (name, env_name, model_name, version, labels)
            assert any(label.startswith(f"gateway {env.namespace}/{env.gateway_name}") for label in labels)


def test_reference_map_shows_the_weights_on_the_edges(rendered) -> None:
    (_, result), = rendered["serving.yaml"]
    assert {"90%", "10%"} <= set(result["labels"])
    assert "route default\nall other requests" in result["labels"]


def test_header_names_and_regexes_are_shown_verbatim_and_break_nothing(rendered) -> None:
    (_, result), = rendered["nasty"]
    assert result["svg"], result.get("error")
    assert f"route cohort\nheader cookie matches {NASTY_REGEX}" in result["labels"]
    # `$$` is kept from turning into KaTeX math by an invisible word joiner between the dollars.
    labels = [label.replace(WORD_JOINER, "") for label in result["labels"]]
    assert f"route odd\nheader x-style = {NASTY_VALUE}" in labels


def test_fails_when_the_diagram_has_a_syntax_error(rendered) -> None:
    (_, result), = rendered["broken"]
    assert result["svg"] is False
    assert "Parse error" in result["error"]
