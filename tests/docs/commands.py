"""Find the commands shown in the documentation and check them without running them.

What counts as a command: every line of a `bash`/`sh`/`shell`/`console` code block,
lines of an unlabelled block that start with a known command, and inline code that
starts with one (`glassml-...`, `make ...`, `python -m glassml...`, `python scripts/...`).

How each is checked:
- `glassml-<name>` with a Hydra entry point (glassml.cli.<name>, conf/<name>.yaml): the
  overrides are composed against conf/ with Hydra's compose API, every interpolation is
  resolved and every `_target_` is imported. No job runs. Sweeps (`-m a=1,2 b=x,y`,
  choice(), range(), interval(); an interval contributes its two bounds): sweeps over
  config groups are composed once per value of the longest, the others cycled
  alongside; every further value of a sweep over a plain key is set into the first
  composed config, which is resolved again.
- other entry points, `python -m glassml...` and `python scripts/x.py`: the module or
  script must exist, and an argparse command line must parse (parse_args is stopped
  before the program runs).
- `make <target> VAR=...`: the target must exist; `make -n` prints its recipe with the
  variables expanded, and the glassml commands in it are checked as above.
- `pip install -e ".[extra]"`: the extras must exist in pyproject.toml.
- Python code blocks: the code must parse, its imports must import and every name it
  uses must be defined (ruff's F821).

Placeholders: `<anything>` stands for a value and becomes the word(s) inside it; as the
whole value of a config group (`download=<source>`) it is composed with every option
of the group. A lone `...` argument and a literal `key=value` mean "more arguments" and
are dropped; `key=...` gets a dummy value; `[key=value]` is an optional argument,
checked without its brackets. Shell variables (`$SLURM_ARRAY_TASK_ID`)
become 1. A program name with `*` (`glassml-*`) is a pattern, not a command. In the
example commands of YAML comments, a remark in parentheses at the end
("glassml-x a=1    (or: make x)", also over the following lines) is not part of the
command.

Requirements: a command that needs a GPU, a SLURM cluster or the network must sit in a
code block marked `% needs: gpu, slurm, network` (docs/_ext/glassml_needs.py); the
requirement is inferred from the composed config (trainer accelerator, launcher,
engine device, ...), so a page cannot forget it.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import runpy
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "conf"
sys.path.insert(0, str(ROOT / "docs" / "_ext"))

from glassml_needs import NEEDS, parse_marker  # noqa: E402

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

COMMAND_LANGS = {"bash", "sh", "shell", "console", "shell-session"}
KNOWN = ("glassml-", "make", "python", "pip")
HTML_MARKER = re.compile(r"^\s*<!--\s*(needs:[^>]*?)\s*-->\s*$")
PLACEHOLDER = re.compile(r"<([^<>=\n]+)>")
SHELL_VAR = re.compile(r"\$\{?[A-Z_][A-Z0-9_]*\}?")
PH = "ph_"  # prefix of a filled-in placeholder
OPTIONAL = re.compile(r"^\[[^\[\]=]+=[^\[\]]*\]$")
# a remark after an example command in a YAML comment: "glassml-x a=1    (or: make x)",
# possibly continued on the next comment lines
REMARK = re.compile(r"\s+\(.*\)\s*$")


@dataclass
class Command:
    """One command line shown somewhere, with the requirements its block declares."""

    text: str
    source: str  # "docs/training.md:42"
    needs: set[str] = field(default_factory=set)
    in_block: bool = True


@dataclass
class Result:
    compositions: int = 0  # Hydra compositions
    values: int = 0  # further sweep values set into a composed config
    errors: list[str] = field(default_factory=list)
    needs: set[str] = field(default_factory=set)
    checked: bool = True  # False: a command of another program, shown for reference


# ------------------------------------------------------------------ extraction


def _marker_above(lines: list[str], start: int) -> tuple[set[str], str | None]:
    """Requirements declared right above line `start` (blank lines skipped)."""
    i = start - 1
    while i >= 0 and not lines[i].strip():
        i -= 1
    if i < 0:
        return set(), None
    text = lines[i].strip()
    if text.startswith("%"):
        words = parse_marker(text[1:])
    elif m := HTML_MARKER.match(text):
        words = parse_marker(m[1])
    else:
        return set(), None
    if words is None:
        return set(), None
    bad = [w for w in words if w not in NEEDS]
    return set(words), (f"unknown requirement(s) {bad}, expected {sorted(NEEDS)}" if bad else None)


def _logical_lines(code: str) -> Iterator[tuple[int, str]]:
    """Lines with backslash continuations joined; (offset of the first line, text)."""
    buf, first = "", 0
    for k, line in enumerate(code.splitlines()):
        if not buf:
            first = k
        if line.rstrip().endswith("\\"):
            buf += line.rstrip()[:-1] + " "
            continue
        yield first, buf + line
        buf = ""
    if buf:
        yield first, buf


def _is_command(line: str) -> bool:
    words = line.split()
    while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
        words = words[1:]
    return bool(words) and words[0].startswith(KNOWN)


def extract(path: Path) -> tuple[list[Command], list[tuple[str, str]], list[str]]:
    """Commands, Python snippets (source, code) and marker errors of one markdown page."""
    from markdown_it import MarkdownIt

    text = path.read_text()
    lines = text.splitlines()
    rel = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else path.name
    md = MarkdownIt("commonmark").enable("table")
    commands: list[Command] = []
    snippets: list[tuple[str, str]] = []
    problems: list[str] = []
    for tok in md.parse(text):
        if tok.type == "fence" and tok.map:
            info = tok.info.strip()
            lang = info.split()[0] if info else ""
            if lang in ("{code-block}", "{code}"):
                lang = info.split()[1] if len(info.split()) > 1 else ""
            needs, err = _marker_above(lines, tok.map[0])
            if err:
                problems.append(f"{rel}:{tok.map[0]}: {err}")
            body_line = tok.map[0] + 2
            shell_or_python = lang in COMMAND_LANGS or lang in ("", "python", "py", "python3")
            for k, line in enumerate(tok.content.splitlines()):
                if shell_or_python and line.lstrip().startswith(("```", "~~~")):
                    problems.append(
                        f"{rel}:{body_line + k}: a fence inside a code block: the block above "
                        "is not closed (a closing fence must stand alone on its line)"
                    )
            if lang in ("python", "py", "python3"):
                snippets.append((f"{rel}:{body_line}", tok.content))
            elif lang in COMMAND_LANGS or lang == "":
                for k, line in _logical_lines(tok.content):
                    line = line.strip().removeprefix("$ ")
                    if not line or line.startswith("#"):
                        continue
                    if lang == "" and not _is_command(line):
                        continue
                    commands.append(Command(line, f"{rel}:{body_line + k}", needs))
            elif needs:
                problems.append(f"{rel}:{tok.map[0]}: a needs marker above a {lang} block")
        elif tok.type == "inline" and tok.map:
            for child in tok.children or []:
                if child.type == "code_inline" and _is_command(child.content):
                    where = f"{rel}:{tok.map[0] + 1}"
                    commands.append(Command(child.content, where, set(), in_block=False))
    return commands, snippets, problems


def config_examples() -> list[Command]:
    """Example commands in the header comments of conf/*.yaml (shown in the config reference)."""
    from glassml_confref import config_files, parse_config

    out = []
    for p in config_files():
        for text in parse_config(p).examples():
            line = " ".join(s.rstrip("\\").strip() for s in text.splitlines())
            line = REMARK.sub("", line)
            if _is_command(line):
                out.append(Command(line, f"conf/{p.relative_to(CONF).as_posix()}", in_block=False))
    return out


# ------------------------------------------------------------------ words


def _split_compound(line: str) -> list[str]:
    """Split on ; && || | outside quotes."""
    parts, buf, quote, i = [], "", None, 0
    while i < len(line):
        c = line[i]
        if quote:
            quote = None if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c == "#" and (not buf or buf[-1].isspace()):
            break
        elif line.startswith(("&&", "||"), i) or c in ";|":
            parts.append(buf)
            buf = ""
            i += 2 if line.startswith(("&&", "||"), i) else 1
            continue
        buf += c
        i += 1
    parts.append(buf)
    return [p.strip() for p in parts if p.strip()]


def words_of(line: str) -> list[list[str]]:
    """Shell words of each simple command of a line, placeholders filled in."""
    line = PLACEHOLDER.sub(lambda m: PH + "_".join(m[1].split()), line)
    line = SHELL_VAR.sub("1", line)
    out = []
    for part in _split_compound(line):
        words = shlex.split(part, comments=True)
        while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
            words = words[1:]  # VAR=value before the command
        if words:
            out.append(words)
    return out


# ------------------------------------------------------------------ Hydra


@cache
def scripts() -> dict[str, str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return data["project"]["scripts"]


@cache
def extras() -> set[str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return set(data["project"].get("optional-dependencies", {}))


def hydra_config_of(entry: str) -> str | None:
    """Primary config of a Hydra entry point: glassml.cli.<name> composes conf/<name>.yaml."""
    target = scripts().get(entry, "")
    module = target.split(":")[0]
    if module.startswith("glassml.cli.") and (CONF / f"{module.rsplit('.', 1)[1]}.yaml").exists():
        return module.rsplit(".", 1)[1]
    return None


def _group_options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def _sweep_values(override) -> list[str]:
    """String values of one (possibly sweep) override, as Hydra would hand them out."""
    from hydra.core.override_parser.types import IntervalSweep, Sweep

    value = override.value()
    if isinstance(value, IntervalSweep):
        lo, hi = value.start, value.end
        is_int = "int" in getattr(value, "tags", set()) or (
            isinstance(lo, int) and isinstance(hi, int)
        )
        return [str(int(lo)), str(int(hi))] if is_int else [repr(float(lo)), repr(float(hi))]
    if isinstance(value, Sweep):
        return list(override.sweep_string_iterator())
    return [override.get_value_element_as_str()]


def _is_group(key: str) -> bool:
    """`model`, `hydra/launcher`, `experiment`: overrides that choose a config file."""
    key = key.lstrip("+~")
    return "/" in key or (CONF / key).is_dir()


def expand(overrides: list[str]) -> tuple[list[list[str]], list[tuple[str, list[str]]]]:
    """What to compose so that every value of every sweep is checked at least once.

    Returns override lists to compose (group choices and the first value of every
    value sweep; the group sweeps zipped, the shorter ones cycled) and, per value sweep,
    its further values, which are set into the first composed config.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    columns: list[list[str]] = []
    further: list[tuple[str, list[str]]] = []
    for text in overrides:
        key, sep, value = text.partition("=")
        if sep and value == "...":
            text = f"{key}=placeholder"
        elif sep and value.startswith(PH) and (CONF / key.replace(".", "/")).is_dir():
            columns.append([f"{key}={opt}" for opt in _group_options(key.replace(".", "/"))])
            continue
        (parsed,) = parser.parse_overrides([text])
        values = [f"{key}={v}" for v in _sweep_values(parsed)]
        if _is_group(key) or len(values) == 1:
            columns.append(values)
        else:
            columns.append(values[:1])
            further.append((key, values[1:]))
    n = max((len(c) for c in columns), default=1)
    return [[c[i % len(c)] for c in columns] for i in range(n)], further


def _locate_targets(node, errors: list[str]) -> None:
    if isinstance(node, dict):
        target = node.get("_target_")
        if isinstance(target, str) and not _locatable(target):
            errors.append(f"_target_ {target!r} cannot be imported")
        for v in node.values():
            _locate_targets(v, errors)
    elif isinstance(node, list):
        for v in node:
            _locate_targets(v, errors)


@cache
def _locatable(target: str) -> bool:
    from hydra.utils import get_object

    try:
        get_object(target)
    except Exception:
        return False
    return True


def _needs_of(cfg) -> set[str]:
    """What a composed config needs to run: a GPU, a SLURM cluster."""
    from omegaconf import OmegaConf

    c = OmegaConf.to_container(cfg, resolve=False)
    needs = set()
    trainer = c.get("trainer") or {}
    if str(trainer.get("accelerator", "")).lower() in ("gpu", "cuda"):
        needs.add("gpu")
    strategy = (
        str((trainer.get("strategy") or {}).get("_target_", ""))
        if isinstance(trainer.get("strategy"), dict)
        else ""
    )
    if "DDP" in strategy and str(trainer.get("accelerator", "auto")).lower() != "cpu":
        needs.add("gpu")
    if str((c.get("simulator") or {}).get("device", "")).lower() == "cuda":
        needs.add("gpu")
    if str(c.get("device", "")).lower() == "cuda":
        needs.add("gpu")
    net = ((c.get("model") or {}).get("net") or {}) if isinstance(c.get("model"), dict) else {}
    if isinstance(net, dict) and net.get("backend") == "cueq":
        needs.add("gpu")
    launcher = str(((c.get("hydra") or {}).get("launcher") or {}).get("_target_", ""))
    if "slurm" in launcher.lower():
        needs.add("slurm")
    return needs


@contextlib.contextmanager
def hydra_on_conf():
    """Hydra initialised on the project's conf/ (as the entry points see it)."""
    from hydra import initialize_config_dir

    from glassml.training.config import config_dir, register_resolvers

    register_resolvers()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        yield


def _error(err: Exception) -> str:
    first = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {first}"


def _check_resolved(cfg) -> list[str]:
    """Resolve every interpolation and import every `_target_` of a composed config."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    HydraConfig.instance().set_config(cfg)
    try:
        container = OmegaConf.to_container(cfg, resolve=True)
    except Exception as err:  # noqa: BLE001 - any failure is the finding
        return [_error(err)]
    errors: list[str] = []
    hydra_node = container.pop("hydra")
    _locate_targets(container, errors)
    _locate_targets({k: hydra_node.get(k) for k in ("launcher", "sweeper")}, errors)
    return errors


_COMPOSED: dict[tuple[str, tuple[str, ...]], tuple[object, str | None]] = {}


def compose(config_name: str, overrides: list[str]):
    """Compose one override list (inside hydra_on_conf); (config or None, error or None).
    Results are kept: the same command shown on several pages is composed once."""
    from hydra import compose as hydra_compose
    from omegaconf import open_dict

    key = (config_name, tuple(overrides))
    if key in _COMPOSED:
        return _COMPOSED[key]
    try:
        cfg = hydra_compose(config_name, overrides=overrides, return_hydra_config=True)
        with open_dict(cfg):
            # what Hydra sets when a job starts
            cfg.hydra.runtime.output_dir = str(ROOT / "outputs" / "docs-check")
            cfg.hydra.job.num = 0
            cfg.hydra.job.id = "0"
        errors = _check_resolved(cfg)
        result = (cfg, "; ".join(errors) or None)
    except Exception as err:  # noqa: BLE001 - any failure is the finding
        result = (None, _error(err))
    _COMPOSED[key] = result
    return result


def check_further_values(cfg, further: list[tuple[str, list[str]]]) -> tuple[set[str], list[str]]:
    """Set each further sweep value into a copy of the composed config and resolve it."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf

    parser = OverridesParser.create()
    needs: set[str] = set()
    errors: list[str] = []
    for _key, texts in further:
        for text in texts:
            (parsed,) = parser.parse_overrides([text])
            trial = cfg.copy()
            try:
                OmegaConf.update(trial, parsed.key_or_group, parsed.value(), force_add=False)
            except Exception as err:  # noqa: BLE001
                errors.append(f"{text}: {_error(err)}")
                continue
            errors += [f"{text}: {e}" for e in _check_resolved(trial)]
            needs |= _needs_of(trial)
    return needs, errors


# ------------------------------------------------------------------ argparse programs


class _Parsed(Exception):
    pass


@contextlib.contextmanager
def _stop_after_parse():
    """ArgumentParser.parse_args parses, then stops the program (nothing else runs)."""
    original = argparse.ArgumentParser.parse_known_args

    def parse_known_args(self, args=None, namespace=None):
        result = original(self, args, namespace)
        raise _Parsed(result)

    argparse.ArgumentParser.parse_known_args = parse_known_args
    try:
        yield
    finally:
        argparse.ArgumentParser.parse_known_args = original


def check_argparse(run, argv: list[str], name: str) -> str | None:
    """Run `run()` with sys.argv = argv until it has parsed its arguments."""
    old = sys.argv
    sys.argv = [name, *argv]
    try:
        with _stop_after_parse(), contextlib.redirect_stderr(sys.stdout):
            run()
    except _Parsed:
        return None
    except SystemExit as err:
        return f"{name} {' '.join(argv)}: arguments rejected (exit {err.code})"
    finally:
        sys.argv = old
    return f"{name}: finished without parsing a command line (not an argparse program?)"


# ------------------------------------------------------------------ make


@cache
def make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return {m[1] for m in re.finditer(r"^([A-Za-z0-9_.-]+)\s*:(?!=)", text, re.M)}


def make_recipe(args: list[str]) -> list[str]:
    """The recipe `make` would run (make -n, the install step treated as done)."""
    make = shutil.which("make")
    if make is None:
        raise RuntimeError("`make` is not installed: the docs checks need it")
    stamp = ".venv/.installed"
    proc = subprocess.run(
        [make, "-n", "-o", stamp, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(ROOT)},
    )
    if proc.returncode:
        raise RuntimeError(proc.stderr.strip() or proc.stdout.strip())
    text = proc.stdout.replace("\\\n", " ")
    return [ln.strip() for ln in text.splitlines() if ln.strip()]


# ------------------------------------------------------------------ the checker


def check_words(words: list[str], depth: int = 0) -> Result:
    """Check one simple command (its shell words)."""
    res = Result()
    prog = Path(words[0]).name
    args = words[1:]
    if "*" in prog:  # a pattern such as glassml-*, not a command
        res.checked = False
        return res
    if prog.startswith("glassml-"):
        return check_entry_point(prog, args)
    if prog == "make":
        return check_make(args, depth)
    if prog.startswith("python"):
        return check_python(args)
    if prog == "pip":
        return check_pip(args)
    res.checked = False
    return res


def check_entry_point(prog: str, args: list[str]) -> Result:
    import importlib

    res = Result()
    if prog not in scripts():
        res.errors.append(f"{prog}: no such entry point in pyproject.toml [project.scripts]")
        return res
    module_name, func = scripts()[prog].split(":")
    config = hydra_config_of(prog)
    if config is None and not args:
        return res  # the name alone (in a sentence): it exists, nothing to parse
    if config is None:
        module = importlib.import_module(module_name)
        err = check_argparse(getattr(module, func), args, prog)
        if err:
            res.errors.append(err)
        return res
    module = importlib.import_module(module_name)
    args = [a for a in args if a not in ("...", "key=value")]  # "more arguments"
    if hasattr(module, "translate_argv"):
        args = module.translate_argv(args)
    flags = [a for a in args if a.startswith("-")]
    unknown = [f for f in flags if f not in ("-m", "--multirun")]
    if unknown:
        res.errors.append(f"{prog}: flags {unknown} are not checked (use overrides)")
    overrides = [a for a in args if not a.startswith("-") and a not in ("...", "key=value")]
    # [key=value]: an optional argument, checked as given
    overrides = [a[1:-1] if OPTIONAL.match(a) else a for a in overrides]
    try:
        combos, further = expand(overrides)
    except Exception as err:  # noqa: BLE001
        res.errors.append(f"{prog}: overrides do not parse: {err}")
        return res
    with hydra_on_conf():
        for k, combo in enumerate(combos):
            cfg, err = compose(config, combo)
            res.compositions += 1
            if err:
                res.errors.append(f"{prog} {' '.join(combo)}: {err}")
                break
            res.needs |= _needs_of(cfg)
            if config == "data" and cfg.get("command", "download") == "download":
                res.needs.add("network")  # glassml-data download
            if k == 0 and further:
                needs, errors = check_further_values(cfg, further)
                res.values += sum(len(v) for _, v in further)
                res.needs |= needs
                res.errors += [f"{prog} {' '.join(combo)} {e}" for e in errors]
    return res


def check_make(args: list[str], depth: int) -> Result:
    res = Result()
    targets = [a for a in args if "=" not in a and not a.startswith("-")]
    for t in targets:
        if t not in make_targets():
            res.errors.append(f"make {t}: no such target in the Makefile")
    if res.errors or depth > 0:
        return res
    try:
        recipe = make_recipe(args)
    except RuntimeError as err:
        res.errors.append(f"make {' '.join(args)}: {err}")
        return res
    for line in recipe:
        for words in words_of(line):
            if Path(words[0]).name.startswith(("glassml-", "python")):
                sub = check_words([Path(words[0]).name, *words[1:]], depth + 1)
                res.compositions += sub.compositions
                res.values += sub.values
                res.needs |= sub.needs
                res.errors += [f"make {' '.join(args)} -> {e}" for e in sub.errors]
    return res


def check_python(args: list[str]) -> Result:
    import importlib
    import importlib.util

    res = Result()
    if args[:1] == ["-m"] and len(args) > 1:
        module = args[1]
        if importlib.util.find_spec(module) is None:
            res.errors.append(f"python -m {module}: no such module")
            return res
        if module.startswith("glassml"):
            imported = importlib.import_module(module)
            # its main() is what `python -m` runs; re-executing the module would warn
            main = getattr(imported, "main", None) or (
                lambda: runpy.run_module(module, run_name="__main__")
            )
            err = check_argparse(main, args[2:], module)
            if err:
                res.errors.append(err)
        else:
            res.checked = False
        return res
    if args and args[0].endswith(".py"):
        script = ROOT / args[0]
        if not script.exists():
            res.errors.append(f"python {args[0]}: no such script")
        elif "argparse" in script.read_text():
            err = check_argparse(
                lambda: runpy.run_path(str(script), run_name="__main__"), args[1:], args[0]
            )
            if err:
                res.errors.append(err)
        if any("cuda" in a for a in args[1:]):
            res.needs.add("gpu")
        return res
    res.checked = False
    return res


def check_pip(args: list[str]) -> Result:
    res = Result(needs={"network"})
    for a in args:
        if m := re.match(r"^\.\[(.+)\]$", a):
            missing = set(m[1].split(",")) - extras()
            if missing:
                res.errors.append(f"pip install {a}: no extra {sorted(missing)} in pyproject.toml")
    return res


def check_command(cmd: Command) -> Result:
    """Check a command line; requirements it has must be declared by its block."""
    total = Result(checked=False)
    try:
        parts = words_of(cmd.text)
    except ValueError as err:
        total.errors.append(f"{cmd.source}: cannot split {cmd.text!r}: {err}")
        return total
    for words in parts:
        res = check_words(words)
        total.checked |= res.checked
        total.compositions += res.compositions
        total.values += res.values
        total.needs |= res.needs
        total.errors += [f"{cmd.source}: {e}" for e in res.errors]
    missing = total.needs - cmd.needs
    if cmd.in_block and missing:
        marker = ", ".join(sorted(cmd.needs | total.needs))
        total.errors.append(
            f"{cmd.source}: `{cmd.text}` needs {sorted(missing)}: put `% needs: {marker}` "
            "on the line above its code block"
        )
    return total


def check_snippet(source: str, code: str) -> list[str]:
    """A Python snippet parses, imports what it imports, and defines every name it uses."""
    import ast
    import importlib

    try:
        tree = ast.parse(code)
    except SyntaxError as err:
        return [f"{source}: does not parse: {err}"]
    errors = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                try:
                    importlib.import_module(alias.name)
                except ImportError as err:
                    errors.append(f"{source}: import {alias.name}: {err}")
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            try:
                module = importlib.import_module(node.module)
            except ImportError as err:
                errors.append(f"{source}: from {node.module}: {err}")
                continue
            for alias in node.names:
                if alias.name != "*" and not hasattr(module, alias.name):
                    try:
                        importlib.import_module(f"{node.module}.{alias.name}")
                    except ImportError:
                        errors.append(f"{source}: {node.module} has no {alias.name}")
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    proc = subprocess.run(
        [ruff, "check", "--no-cache", "--isolated", "--select", "F821", "--output-format",
         "concise", "--stdin-filename", "snippet.py", "-"],
        input=code, capture_output=True, text=True,
    )  # fmt: skip
    if proc.returncode:
        found = [ln for ln in proc.stdout.splitlines() if "F821" in ln]
        errors += [f"{source}: {ln.split(':', 3)[-1].strip()}" for ln in found] or [
            f"{source}: ruff failed: {proc.stderr.strip()}"
        ]
    return errors


def pages() -> list[Path]:
    """README.md and every markdown page of docs/ (generated pages excluded)."""
    docs = ROOT / "docs"
    skip = ("_build", "reference/api", "reference/config/")
    found = [
        p
        for p in sorted(docs.rglob("*.md"))
        if not any(s in p.relative_to(docs).as_posix() + "/" for s in skip)
    ]
    return [ROOT / "README.md", *found]
