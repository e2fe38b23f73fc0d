"""Git-kept traffic changes: `promote`, `rollback` and `set-weights` edit serving.yaml in place.

The edit is decided on the validated fleet (a `Plan` of effective weights), applied to a
round-trip ruamel.yaml document, and written back so that every line the edit does not touch
stays byte-identical. The edited text is validated with `parse_fleet` and compared with the
plan before anything is written; then dist/ is re-synthesized, and serving.yaml is restored if
that synth fails.
"""
from __future__ import annotations

import difflib
import io
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError as RuamelError
from ruamel.yaml.representer import RoundTripRepresenter
from ruamel.yaml.scalarstring import ScalarString
from ruamel.yaml.tokens import CommentToken

from model_serving.checks.traffic import Objects, read_dir, traffic_view
from model_serving.errors import InputError
from model_serving.fleet.fleet import Fleet
from model_serving.fleet.load import ConfigError, load_fleet, parse_fleet
from model_serving.fleet.model import Model
from model_serving.yamlio import YamlError, load_config

ASSIGNMENT_FIX = "write VERSION=WEIGHT with a whole number from 0 to 100, e.g. v1=50"
# (mapping, sequence, offset) indentations tried, most common first, until one reproduces the file.
INDENTS = [
    (m, o + 2, o)
    for m in (2, 4, 3)
    for o in (0, 2, m, 1, 3)
    if o <= m
]


# --- round-trip YAML ------------------------------------------------------------------------


class _Null:
    """An explicit `null` written by an edit (ruamel writes a bare None as an empty value)."""


class _Representer(RoundTripRepresenter):
    """ruamel's round-trip representer, plus `_Null` (a subclass, so no global registration)."""


_Representer.add_representer(_Null, lambda rep, _: rep.represent_scalar("tag:yaml.org,2002:null", "null"))


def round_trip(text: str, *, source: str = "serving.yaml") -> tuple[YAML, Any, str]:
    """Load `text` for editing: (configured YAML, document, dump of the untouched document).

    The indentation is the one (of the common styles) whose dump reproduces the file, so an
    untouched file round-trips byte-identically; quotes are kept and long lines never re-wrapped.
    """
    best: tuple[int, YAML, Any, str] | None = None
    for mapping, sequence, offset in dict.fromkeys(INDENTS):
        rt = YAML(typ="rt")
        rt.preserve_quotes = True
        rt.width = 1 << 16  # never fold long lines (images with digests, flow mappings)
        rt.indent(mapping=mapping, sequence=sequence, offset=offset)
        rt.Representer = _Representer
        try:
            doc = rt.load(text)
        except RuamelError as error:
            mark = getattr(error, "problem_mark", None)
            line = f"line {mark.line + 1}: " if mark else ""
            problem = getattr(error, "problem", None) or "invalid YAML"
            raise ConfigError(f"{source}: {line}{problem}; fix: correct the YAML syntax") from None
        base = dump(rt, doc)
        if base == text:
            return rt, doc, base
        score = _matching_lines(text.splitlines(keepends=True), base.splitlines(keepends=True))
        if best is None or score > best[0]:
            best = (score, rt, doc, base)
    assert best is not None
    return best[1], best[2], best[3]


def dump(rt: YAML, doc: Any) -> str:
    """The document as YAML text."""
    out = io.StringIO()
    rt.dump(doc, out)
    return out.getvalue()


def _matching_lines(a: list[str], b: list[str]) -> int:
    return sum(block.size for block in difflib.SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks())


def merge_lines(original: str, base: str, edited: str) -> str | None:
    """Apply the line changes base -> edited onto `original`, which `base` re-renders.

    Lines the edit does not touch are taken from `original` verbatim, so whatever ruamel.yaml
    would normalize elsewhere (`True`, `~`, a `---` marker) stays as written. None when a
    changed line has no verbatim counterpart in `original`.
    """
    if base == original:
        return edited
    old = original.splitlines(keepends=True)
    ren = base.splitlines(keepends=True)
    new = edited.splitlines(keepends=True)
    where: dict[int, int] = {}  # line of base -> the same line of original
    for tag, b1, b2, o1, _ in difflib.SequenceMatcher(None, ren, old, autojunk=False).get_opcodes():
        if tag == "equal":
            where.update({b1 + k: o1 + k for k in range(b2 - b1)})
    out = list(old)
    hunks = difflib.SequenceMatcher(None, ren, new, autojunk=False).get_opcodes()
    for tag, b1, b2, e1, e2 in reversed(hunks):
        if tag == "equal":
            continue
        if b2 > b1:
            mapped = [where.get(k) for k in range(b1, b2)]
            lines = [k for k in mapped if k is not None]
            if len(lines) < len(mapped) or lines != list(range(lines[0], lines[0] + len(lines))):
                return None
            start, end = lines[0], lines[-1] + 1
        elif b1 - 1 in where:
            start = end = where[b1 - 1] + 1
        elif b1 in where:
            start = end = where[b1]
        elif b1 == 0:
            start = end = 0
        else:
            return None
        out[start:end] = new[e1:e2]
    return "".join(out)


# --- plans: the intended effective weights --------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """An intended traffic change of one model: effective weights before and after."""

    model: str
    before: dict[str, int]
    after: dict[str, int]
    new_stable: str | None = None  # promotion completes: this becomes rollout.stable, canary removed
    note: str = ""

    @property
    def changes_weights(self) -> bool:
        """Whether any version's weight changes."""
        return self.before != self.after


def parse_assignments(args: Sequence[str], *, command: str = "model-serving set-weights") -> dict[str, int]:
    """Parse `VERSION=WEIGHT` arguments; a malformed one is a one-line ConfigError naming it."""
    weights: dict[str, int] = {}
    for arg in args:
        name, sep, value = arg.partition("=")
        name, value = name.strip(), value.strip()
        if not sep:
            raise ConfigError(f"{command}: {arg!r}: no '=' between version and weight; fix: {ASSIGNMENT_FIX}")
        if not name:
            raise ConfigError(f"{command}: {arg!r}: the version name is missing; fix: {ASSIGNMENT_FIX}")
        if not value:
            raise ConfigError(f"{command}: {arg!r}: the weight is missing; fix: {ASSIGNMENT_FIX}")
        if not re.fullmatch(r"[+-]?\d+", value):
            raise ConfigError(f"{command}: {arg!r}: weight {value!r} is not a whole number; fix: {ASSIGNMENT_FIX}")
        weight = int(value)
        if not 0 <= weight <= 100:
            raise ConfigError(f"{command}: {arg!r}: weight {weight} is outside 0-100; fix: {ASSIGNMENT_FIX}")
        if name in weights:
            raise ConfigError(f"{command}: {arg!r}: version {name} is named twice; fix: give each version once")
        weights[name] = weight
    return weights


def _weights(model: Model) -> dict[str, int]:
    return {name: version.weight for name, version in model.versions.items()}


def _rollout_fix(model: Model) -> str:
    stable = model.stable
    canary = next((n for n in model.versions if n != stable), "v2")
    steps = ", ".join(str(s) for s in (model.rollout.steps if model.rollout else [10, 25, 50, 100]))
    return f"add rollout: {{stable: {stable}, canary: {canary}, steps: [{steps}]}}"


def plan_set_weights(name: str, model: Model, weights: Mapping[str, int], *, where: str) -> Plan:
    """Set exactly the named weights; the others keep theirs (the sum is checked by validation)."""
    unknown = [v for v in weights if v not in model.versions]
    if unknown:
        raise ConfigError(
            f"{where}.versions: unknown version {unknown[0]!r} in {unknown[0]}={weights[unknown[0]]}; "
            f"fix: use one of {', '.join(model.versions)}"
        )
    before = _weights(model)
    return Plan(model=name, before=before, after={**before, **weights})


def plan_promote(name: str, model: Model, *, where: str) -> Plan:
    """Move the canary to its next step, or complete the promotion once it has taken every step."""
    rollout = model.rollout
    if rollout is None:
        raise ConfigError(f"{where}: no rollout to promote; fix: {_rollout_fix(model)}")
    if rollout.canary is None:
        raise ConfigError(f"{where}.rollout.canary: no canary to promote; fix: {_rollout_fix(model)}")
    before = _weights(model)
    canary, stable, steps = rollout.canary, rollout.stable, rollout.steps
    current = before[canary]
    if current >= 100 or current >= steps[-1]:
        after = {v: 100 if v == canary else 0 for v in before}
        return Plan(
            model=name,
            before=before,
            after=after,
            new_stable=canary,
            note=f"promotion complete: {canary} is now rollout.stable, rollout.canary removed; "
            f"{stable} stays deployed at 0%",
        )
    step = min(s for s in steps if s > current)
    after = {v: step if v == canary else 100 - step if v == stable else 0 for v in before}
    return Plan(model=name, before=before, after=after, note=f"step {steps.index(step) + 1} of {len(steps)}")


@dataclass(frozen=True)
class History:
    """Earlier output to roll back to: manifest files by name, and where they came from."""

    objects: Objects
    label: str  # e.g. "HEAD:dist/" or "v1.4:dist/"
    explicit: bool = False  # named by --to: its weights win over rollout.stable


def weights_in(history: History, env: str, model: str, *, where: str) -> dict[str, int]:
    """The model's weights in its catch-all route of `<env>.k8s.yaml` in `history`."""
    view = traffic_view(history.objects.get(f"{env}.k8s.yaml", []))
    routes = view.models[model].routes if model in view.models else []
    plain = [r for r in routes if not r.match]
    if not plain:
        raise ConfigError(f"{where}: {history.label} has no routes of {model} in {env}.k8s.yaml; "
                          "fix: pass --to <git ref> of a commit whose dist/ routes the model")
    return {subset: 100 if weight is None else weight for subset, weight in plain[-1].split}


def plan_rollback(name: str, model: Model, *, where: str, env: str = "", history: History | None = None) -> Plan:
    """All live traffic back: to the weights of an explicit `--to` ref; else to rollout.stable;
    else to the version with the most weight in the committed output. Mirrors and A/B routes stay."""
    before = _weights(model)
    if model.rollout is not None and not (history and history.explicit):
        stable = model.rollout.stable
        return Plan(model=name, before=before, after={v: 100 if v == stable else 0 for v in before},
                    note=f"rolled back to stable {stable}")
    if history is None:
        raise ConfigError(f"{where}: no rollout.stable and no committed output to roll back to; "
                          f"fix: pass --to <git ref>, or add rollout: {{stable: {model.stable}}}")
    then = weights_in(history, env, name, where=where)
    gone = sorted(v for v, w in then.items() if w and v not in before)
    if gone:
        raise ConfigError(f"{where}.versions: {gone[0]} took {then[gone[0]]}% at {history.label} but is no longer "
                          f"deployed; fix: add it back first, or roll back to a later ref")
    if history.explicit:
        after = {v: then.get(v, 0) for v in before}
        return Plan(model=name, before=before, after=after, note=f"weights of {history.label}")
    heaviest = max(then, key=lambda v: then[v])
    after = {v: 100 if v == heaviest else 0 for v in before}
    return Plan(model=name, before=before, after=after, note=f"rolled back to {heaviest}, the heaviest in {history.label}")


def describe(plan: Plan, *, environments: Sequence[str] = ()) -> str:
    """One line for humans, e.g. `ai-model: v1 90% -> 75%, v2 10% -> 25% (step 2 of 4)`."""
    head = plan.model + (f" ({', '.join(environments)})" if environments else "")
    changes = ", ".join(
        f"{v} {plan.before[v]}% -> {plan.after[v]}%" for v in plan.after if plan.before[v] != plan.after[v]
    )
    if plan.new_stable:
        return f"{head}: {changes + '; ' if changes else ''}{plan.note}"
    if not changes:
        now = ", ".join(f"{v} {w}%" for v, w in plan.after.items())
        return f"{head}: no change ({now})"
    return f"{head}: {changes}" + (f" ({plan.note})" if plan.note else "")


# --- where the edit goes --------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """The block to edit: the top-level model (env None) or one environment's override of it."""

    model: str
    env: str | None
    affected: tuple[str, ...]  # environments whose effective weights follow the edited block

    @property
    def where(self) -> str:
        """The edited block as a field path, for messages."""
        prefix = f"environments.{self.env}." if self.env else ""
        return f"{prefix}models.{self.model}"


def _override(doc: Mapping[str, Any], env: str, model: str) -> Any:
    overrides = (doc.get("environments") or {}).get(env) or {}
    return (overrides.get("models") or {}).get(model)


def overrides_weights(doc: Mapping[str, Any], env: str, model: str) -> bool:
    """Whether environment `env` sets the weight of any version of `model` itself."""
    override = _override(doc, env, model)
    versions = override.get("versions") if isinstance(override, Mapping) else None
    if not isinstance(versions, Mapping):
        return False
    return any(isinstance(v, Mapping) and "weight" in v for v in versions.values())


def choose_target(doc: Mapping[str, Any], model: str, env: str | None, *, source: str) -> Target:
    """Edit where the effective weights come from; with several environments, ask for --env if unclear."""
    models = doc.get("models") or {}
    if model not in models:
        raise ConfigError(f"{source}: models: unknown model {model!r}; fix: use one of {', '.join(models)}")
    envs = list(doc.get("environments") or {})
    if env is not None and env not in envs:
        raise ConfigError(f"{source}: environments: unknown environment {env!r}; fix: use one of {', '.join(envs)}")
    overriding = [e for e in envs if overrides_weights(doc, e, model)]
    inherit = tuple(e for e in envs if e not in overriding)
    if env is None:
        if len(envs) == 1 or not overriding:
            env = envs[0]
        else:
            several = len(overriding) > 1
            which = f"environments {', '.join(overriding)} override" if several else f"environment {overriding[0]} overrides"
            raise ConfigError(
                f"{source}: environments: {which} the weights of {model}, so the edit is ambiguous; "
                f"fix: add --env with one of {', '.join(envs)}"
            )
    if env in overriding:
        return Target(model=model, env=env, affected=(env,))
    return Target(model=model, env=None, affected=(env, *(e for e in inherit if e != env)))


# --- applying a plan to the document --------------------------------------------------------


def _set(mapping: CommentedMap, key: str, value: Any) -> None:
    """Set a key, keeping the quoting of a replaced string and the place of comments."""
    if key in mapping:
        old = mapping[key]
        if isinstance(old, ScalarString) and isinstance(value, str):
            value = type(old)(value)
        mapping[key] = value
        return
    # ruamel keeps full-line comments with the entry above them, so a new key goes last only
    # when that cannot slip it between a trailing comment and what the comment describes.
    keys = list(mapping)
    if isinstance(value, CommentedMap) and any(_is_flow(mapping[k]) for k in keys):
        value.fa.set_flow_style()  # like its siblings: v2: {weight: 20}
    if not keys or not _trailing_comment(mapping):
        mapping[key] = value
        return
    first = mapping[keys[0]]
    token = _comment(mapping, keys[0])
    scalar_first = not isinstance(first, (dict, list)) and (token is None or "#" not in token.value.partition("\n")[2])
    mapping.insert(1 if scalar_first else 0, key, value)


def _is_flow(value: Any) -> bool:
    return isinstance(value, (CommentedMap, CommentedSeq)) and value.fa.flow_style()


def _trailing_comment(node: Any) -> bool:
    """Whether full-line comments follow the last entry of a (nested) block collection."""
    if isinstance(node, CommentedMap) and node:
        last: Any = list(node)[-1]
        item = node.ca.items.get(last) or []
        token = item[2] if len(item) > 2 else None  # a mapping entry's comment: slot 2
    elif isinstance(node, CommentedSeq) and node:
        last = len(node) - 1
        item = node.ca.items.get(last) or []
        token = item[0] if item else None  # a sequence item's comment: slot 0
    else:
        return False
    value = node[last]
    if token is not None and "#" in token.value.partition("\n")[2]:
        return True
    return _trailing_comment(value)


def _comment(mapping: CommentedMap, key: str) -> CommentToken | None:
    item = mapping.ca.items.get(key)
    return item[2] if item and len(item) > 2 else None


def _delete(mapping: CommentedMap, key: str) -> None:
    """Delete a key, keeping the full-line comments that followed it (ruamel drops them with it)."""
    keys = list(mapping)
    token = _comment(mapping, key)
    del mapping[key]
    mapping.ca.items.pop(key, None)
    rest = token.value.split("\n", 1)[1] if token is not None and "\n" in token.value else ""
    index = keys.index(key)
    if not rest.strip() or index == 0:
        return
    previous = keys[index - 1]
    item = mapping.ca.items.setdefault(previous, [None, None, None, None])
    if item[2] is None:
        item[2] = CommentToken("\n" + rest, token.start_mark, None)  # type: ignore[union-attr]
    else:
        item[2].value += rest


def _child(mapping: CommentedMap, key: str) -> CommentedMap:
    if not isinstance(mapping.get(key), Mapping):
        _set(mapping, key, CommentedMap())
    return mapping[key]


def apply_plan(doc: CommentedMap, target: Target, plan: Plan) -> None:
    """Write the plan's changed weights (and a completed promotion) into the target block."""
    top = doc["models"][plan.model]
    block = top if target.env is None else doc["environments"][target.env]["models"][plan.model]
    for version, weight in plan.after.items():
        if plan.before[version] == weight:
            continue
        versions = _child(block, "versions")
        if not isinstance(versions.get(version), Mapping):
            if target.env is None:
                env = next((e for e in doc["environments"] if _override(doc, e, plan.model)), "<env>")
                raise ConfigError(
                    f"{target.where}.versions: version {version} is declared only in environment {env}; "
                    f"fix: pass --env {env} after giving it a weight in environments.{env}.models.{plan.model}.versions.{version}"
                )
            _set(versions, version, CommentedMap())
        _set(versions[version], "weight", weight)
    if plan.new_stable:
        rollout = _child(block, "rollout")
        _set(rollout, "stable", plan.new_stable)
        inherited = top.get("rollout") if target.env is not None else None
        if isinstance(inherited, Mapping) and inherited.get("canary") is not None:
            _set(rollout, "canary", _Null())  # the override must null the canary it would inherit
        elif "canary" in rollout:
            _delete(rollout, "canary")


def _expected(model: Model, plan: Plan) -> Model:
    versions = {n: v.model_copy(update={"weight": plan.after[n]}) for n, v in model.versions.items()}
    rollout = model.rollout
    if plan.new_stable and rollout is not None:
        rollout = rollout.model_copy(update={"stable": plan.new_stable, "canary": None})
    return model.model_copy(update={"versions": versions, "rollout": rollout})


def verify(before: Fleet, after: Fleet, target: Target, plan: Plan) -> None:
    """The edited file must mean exactly the plan: nothing else changes, in any environment."""
    source = before.source
    for env, old in before.environments.items():
        new = after.environments[env]
        for name, model in old.models.items():
            wanted = _expected(model, plan) if name == plan.model and env in target.affected else model
            if new.models[name] == wanted:
                continue
            if env in target.affected:
                raise ConfigError(
                    f"{source}: environments.{env}.models.{name}: editing {target.where} does not give this environment "
                    "the planned weights (its own overrides or YAML aliases win); fix: make the change by hand"
                )
            raise ConfigError(
                f"{source}: environments.{env}.models.{name}: editing {target.where} would also change this environment; "
                f"fix: give {env} its own rollout and weights under environments.{env}.models.{name}, or make the change by hand"
            )
        if {k: v for k, v in vars(new).items() if k != "models"} != {k: v for k, v in vars(old).items() if k != "models"}:
            raise ConfigError(f"{source}: environments.{env}: the edit would change more than weights; "
                "fix: make the change by hand")


# --- the whole edit ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Edit:
    """The result of an edit: the new file text and what changed."""

    text: str
    description: str
    changed: bool
    notes: list[str] = field(default_factory=list)


def _plain(text: str, source: str) -> Any:
    # As load_fleet reads it: validation sees exactly what synth will see.
    try:
        return load_config(text, source=source)
    except YamlError as error:
        raise ConfigError(str(error)) from None


def edit_text(
    text: str,
    command: str,
    model: str,
    *,
    weights: Mapping[str, int] | None = None,
    env: str | None = None,
    source: str = "serving.yaml",
    history: History | None = None,
) -> Edit:
    """Apply `command` to the serving.yaml text; raise ConfigError (one line) on any mistake."""
    original, crlf = text, "\r\n" in text
    if crlf:
        text = text.replace("\r\n", "\n")  # ruamel writes \n; compare and merge in one convention
    rt, doc, base = round_trip(text, source=source)
    before = parse_fleet(_plain(text, source), source=source)
    target = choose_target(doc, model, env, source=source)
    current = before.environments[target.affected[0]].models[model]
    where = f"{source}: {target.where}"
    if command == "promote":
        plan = plan_promote(model, current, where=where)
    elif command == "rollback":
        plan = plan_rollback(model, current, where=where, env=target.affected[0], history=history)
    elif command == "set-weights":
        plan = plan_set_weights(model, current, weights or {}, where=where)
    else:
        raise ValueError(f"unknown command {command!r}")
    environments = target.affected if len(before.environments) > 1 else ()
    description = describe(plan, environments=environments)
    if not plan.changes_weights and not plan.new_stable:
        return Edit(text=original, description=description, changed=False)

    apply_plan(doc, target, plan)
    edited = dump(rt, doc)
    notes: list[str] = []
    merged = merge_lines(text, base, edited)
    if merged is None or _plain(merged, source) != _plain(edited, source):
        merged = edited  # still correct, but ruamel's layout: say so
        notes.append(f"{source}: could not keep every line as written; review `git diff {source}`")
    verify(before, parse_fleet(_plain(merged, source), source=source), target, plan)
    if crlf:
        merged = merged.replace("\n", "\r\n")
    return Edit(text=merged, description=description, changed=True, notes=notes)


def committed_output(outdir: Path, ref: str | None) -> History | None:
    """The output to roll back to: `ref`'s (a one-line InputError if unknown), else HEAD's, else the
    files in `outdir` outside a git repository; None when there is none."""
    from model_serving.commands.plan import read_ref

    if ref is not None:
        try:
            return History(read_ref(ref, outdir), f"{ref}:{outdir.name}/", explicit=True)
        except InputError as error:  # worded for plan's --ref: say --to
            raise InputError(str(error).replace("--ref: ", "--to: ", 1)) from None
    try:
        return History(read_ref("HEAD", outdir), f"HEAD:{outdir.name}/")
    except InputError:  # not a git repository, or no commit yet: the files are the record
        objects = read_dir(outdir)
        return History(objects, f"{outdir.as_posix().rstrip('/')}/") if objects else None


def _replace_file(path: Path, data: bytes) -> None:
    """Write `data` to `path` in one rename, keeping its mode (and a symlink pointing at it)."""
    path = path.resolve()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        shutil.copymode(path, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run(
    command: str,
    *,
    model: str,
    config: Path,
    outdir: Path,
    env: str | None = None,
    assignments: Sequence[str] = (),
    to: str | None = None,
) -> int:
    """Edit serving.yaml, then re-synthesize dist/; on any failure both stay as they were."""
    from model_serving.commands.synth import run as synth

    try:
        weights = parse_assignments(assignments) if command == "set-weights" else None
        load_fleet(config)  # an unreadable or invalid file fails exactly as synth reports it
        history = committed_output(outdir, to) if command == "rollback" else None
        original = config.read_bytes()
        try:
            text = original.decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigError(f"{config}: the file is not UTF-8 text; fix: save it as UTF-8") from None
        result = edit_text(text, command, model, weights=weights, env=env, source=str(config), history=history)
    except (ConfigError, InputError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not result.changed:
        print(result.description)  # the result: stdout; notes, warnings and errors: stderr
        return 0
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    _replace_file(config, result.text.encode("utf-8"))
    try:
        code = synth(config, outdir)
    except OSError as error:
        _replace_file(config, original)
        print(f"error: {outdir}: cannot write ({error.strerror}); {config} restored; fix: check the --out path", file=sys.stderr)
        return 1
    except BaseException:
        _replace_file(config, original)
        raise
    if code != 0:
        _replace_file(config, original)
        print(f"error: {config}: synth failed, so the edit was undone and {outdir} left unchanged; "
            "fix: see above", file=sys.stderr)
        return code
    print(result.description)
    return 0
