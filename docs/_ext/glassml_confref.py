"""Config reference generated from conf/ at build time, so it is always current.

Every YAML file under conf/ is read with its comments: the comment block at the top of a
file describes the file (indented comment lines are example commands), a comment block
right above a key or at the end of its line describes that key. `builder-inited` writes
one page per config group under docs/reference/config/ (git-ignored); each page holds a
heading per option and a `glassml-config` directive that renders the file's table.

The parser is shared with tests/docs/, which composes the example commands of the
comments with Hydra.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "conf"
OUT_DIR = Path("reference") / "config"  # relative to the docs source directory

# Entry points and the primary config each composes (conf/<name>.yaml).
PRIMARY_INTRO = (
    "The entry points compose one primary config each (`glassml-<name>` reads "
    "`conf/<name>.yaml`); its defaults list picks one option of every group below, and any "
    "key can be overridden on the command line (`key=value`, `group=option`)."
)


@dataclass
class Entry:
    """One key of a config file: dotted path, default as written, and its comments."""

    path: str
    value: str | None  # None for a mapping or list that has its own rows
    comment: str


@dataclass
class ConfigFile:
    """A parsed YAML config: header comment, package line, defaults list and keys."""

    rel: str  # path relative to conf/, e.g. "model/bapst.yaml"
    package: str | None = None
    header: list[str] = field(default_factory=list)  # comment lines, without "# "
    defaults: list[Entry] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)

    @property
    def option(self) -> str:
        return self.rel.rsplit("/", 1)[-1].removesuffix(".yaml")

    @property
    def group(self) -> str:
        return self.rel.rsplit("/", 1)[0] if "/" in self.rel else ""

    def examples(self) -> list[str]:
        """Example command lines of the header (indented comment lines), continuations joined."""
        return [text for kind, text in header_blocks(self.header) if kind == "code"]


def _comment_text(line: str) -> str:
    """'#  text' -> ' text' (one space after '#' dropped; further indentation kept)."""
    text = line.strip()[1:]
    return text[1:] if text.startswith(" ") else text


def header_blocks(header: list[str]) -> list[tuple[str, str]]:
    """Split header comment lines into ('text', paragraph) and ('code', command) blocks."""
    blocks: list[tuple[str, str]] = []
    for line in header:
        kind = "code" if line.startswith("  ") else "text"
        text = line.strip()
        if not text:
            blocks.append(("break", ""))
            continue
        if blocks and blocks[-1][0] == kind:
            prev = blocks[-1][1]
            if kind == "code":
                joined = f"{prev}\n    {text}"
                remark = text.startswith("(") or prev.count("(") > prev.count(")")
                if remark:  # a remark in parentheses under the command belongs to it
                    blocks[-1] = (kind, joined)
                    continue
            elif prev.endswith("-") and prev[-2:-1].isalpha():
                joined = prev + text  # a word broken at the end of a comment line
            else:
                joined = f"{prev} {text}"
            if kind == "code" and not prev.endswith("\\"):
                blocks.append((kind, text))
                continue
            blocks[-1] = (kind, joined)
        else:
            blocks.append((kind, text))
    return [b for b in blocks if b[0] != "break"]


def _comment_above(lines: list[str], lineno: int, stop: int) -> list[str]:
    """Contiguous comment lines directly above line `lineno` (not above `stop`)."""
    out: list[str] = []
    i = lineno - 1
    while i >= stop and lines[i].lstrip().startswith("#"):
        out.append(_comment_text(lines[i]))
        i -= 1
    return [s.strip() for s in reversed(out)]


def _after(lines: list[str], line: int, column: int) -> str:
    """The '# ...' comment after position (line, column), if any."""
    rest = lines[line][column:].strip() if line < len(lines) else ""
    rest = rest.removeprefix(":").strip()
    return rest[1:].strip() if rest.startswith("#") else ""


def _is_block(node: yaml.Node) -> bool:
    return isinstance(node, yaml.CollectionNode) and bool(node.value) and not node.flow_style


def _inline_comment(lines: list[str], key: yaml.Node | None, value: yaml.Node) -> str:
    """End-of-line comment of a value: after the value, or after `key:` for a block value."""
    if _is_block(value):
        return _after(lines, key.end_mark.line, key.end_mark.column) if key is not None else ""
    return _after(lines, value.end_mark.line, value.end_mark.column)


def _source(lines: list[str], node: yaml.Node) -> str:
    """The value as written in the file (multi-line flow values joined on one line)."""
    if node.start_mark.line == node.end_mark.line:
        return lines[node.start_mark.line][node.start_mark.column : node.end_mark.column].strip()
    first = lines[node.start_mark.line][node.start_mark.column :]
    middle = lines[node.start_mark.line + 1 : node.end_mark.line]
    last = lines[node.end_mark.line][: node.end_mark.column]
    return " ".join(s.strip() for s in [first, *middle, last] if s.strip())


def _describe(lines: list[str], key: yaml.Node | None, value: yaml.Node, stop: int) -> str:
    start = (key or value).start_mark.line
    parts = [*_comment_above(lines, start, stop), _inline_comment(lines, key, value)]
    return " ".join(s for s in parts if s)


def _walk(lines: list[str], node: yaml.Node, path: str, stop: int, comment: str) -> Iterator[Entry]:
    """Rows for `node` at `path`: one per scalar, a heading row per block collection."""
    if not _is_block(node):
        yield Entry(path, _source(lines, node), comment)
        return
    yield Entry(path, None, comment)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            sub = f"{path}.{key.value}"
            yield from _walk(lines, value, sub, stop, _describe(lines, key, value, stop))
    else:
        for i, item in enumerate(node.value):
            yield from _walk(lines, item, f"{path}[{i}]", stop, _describe(lines, None, item, stop))


def parse_config(path: Path, conf: Path = CONF) -> ConfigFile:
    """Read one YAML config with its comments (errors name the file)."""
    text = path.read_text()
    lines = text.splitlines()
    cfg = ConfigFile(rel=path.relative_to(conf).as_posix())
    i = 0
    while i < len(lines) and lines[i].lstrip().startswith("#"):
        body = _comment_text(lines[i])
        if body.startswith("@package"):
            cfg.package = body.split(None, 1)[1].strip() if " " in body else ""
        else:
            cfg.header.append(body)
        i += 1
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: not valid YAML: {err}") from err
    if root is None:
        return cfg
    if not isinstance(root, yaml.MappingNode):
        raise ValueError(f"{path}: expected a mapping at the top level")
    for key, value in root.value:
        if key.value == "defaults" and isinstance(value, yaml.SequenceNode):
            for item in value.value:
                if isinstance(item, yaml.MappingNode):
                    (k, v), *_ = item.value
                    shown = f"{k.value}: {_source(lines, v)}"
                else:
                    shown = _source(lines, item)
                cfg.defaults.append(Entry("defaults", shown, _describe(lines, None, item, i)))
            continue
        desc = _describe(lines, key, value, i)
        cfg.entries.extend(_walk(lines, value, str(key.value), i, desc))
    return cfg


def config_files(conf: Path = CONF) -> list[Path]:
    return sorted(conf.rglob("*.yaml"))


def groups(conf: Path = CONF) -> dict[str, list[Path]]:
    """Top-level group -> its YAML files (nested groups such as experiment/glassbench
    and hydra/launcher stay in their top-level group's page); "" is the primary configs."""
    out: dict[str, list[Path]] = {}
    for p in config_files(conf):
        rel = p.relative_to(conf)
        top = rel.parts[0] if len(rel.parts) > 1 else ""
        out.setdefault(top, []).append(p)
    return out


# ---------------------------------------------------------------- rendering


def _inline(text: str) -> list[nodes.Node]:
    """Comment text -> nodes; `backticks` become literals (as in the YAML comments)."""
    parts = text.split("`")
    if len(parts) % 2 == 0:  # unbalanced backtick: keep the text as it is
        return [nodes.Text(text)]
    return [nodes.literal(p, p) if k % 2 else nodes.Text(p) for k, p in enumerate(parts) if p]


def _table(
    header: tuple[str, ...], rows: list[tuple[list[nodes.Node], ...]], widths
) -> nodes.table:
    table = nodes.table(classes=["glassml-config-table"])
    tgroup = nodes.tgroup(cols=len(header))
    table += tgroup
    for w in widths:
        tgroup += nodes.colspec(colwidth=w)
    thead = nodes.thead()
    tgroup += thead
    row = nodes.row()
    for h in header:
        row += nodes.entry("", nodes.paragraph(text=h))
    thead += row
    tbody = nodes.tbody()
    tgroup += tbody
    for cells in rows:
        row = nodes.row()
        for cell in cells:
            row += nodes.entry("", nodes.paragraph("", "", *cell))
        tbody += row
    return table


def render(cfg: ConfigFile) -> list[nodes.Node]:
    out: list[nodes.Node] = []
    code: list[str] = []  # consecutive example commands, shown as one block

    def flush() -> None:
        if code:
            text = "\n".join(code)
            # a remark with an apostrophe would not lex as shell
            language = "bash" if text.count("'") % 2 == 0 else "text"
            out.append(nodes.literal_block(text, text, language=language))
            code.clear()

    for kind, text in header_blocks(cfg.header):
        if kind == "code":
            code.append(text)
        else:
            flush()
            out.append(nodes.paragraph("", "", *_inline(text)))
    flush()
    meta = [nodes.Text("File "), nodes.literal(f"conf/{cfg.rel}", f"conf/{cfg.rel}")]
    if cfg.package is not None:
        meta += [nodes.Text(", package "), nodes.literal(cfg.package, cfg.package)]
    out.append(nodes.paragraph("", "", *meta, nodes.Text(".")))
    if cfg.defaults:
        rows = [([nodes.literal(e.value, e.value)], _inline(e.comment)) for e in cfg.defaults]
        out.append(nodes.rubric(text="Defaults list"))
        out.append(_table(("entry", "comment"), rows, (35, 65)))
    if cfg.entries:
        rows = []
        for e in cfg.entries:
            value = [nodes.literal(e.value, e.value)] if e.value is not None else []
            rows.append(([nodes.literal(e.path, e.path)], value, _inline(e.comment)))
        out.append(nodes.rubric(text="Keys"))
        out.append(_table(("key", "default", "comment"), rows, (28, 24, 48)))
    return out


class ConfigDirective(SphinxDirective):
    """`{glassml-config} model/bapst.yaml`: the table of one config file."""

    required_arguments = 1
    option_spec = {"class": directives.class_option}

    def run(self) -> list[nodes.Node]:
        path = CONF / self.arguments[0]
        self.env.note_dependency(str(path))
        return render(parse_config(path))


def _page(group: str, files: list[Path]) -> str:
    if group == "":
        lines = ["# Primary configs", "", PRIMARY_INTRO, ""]
    else:
        lines = [
            f"# `{group}/`",
            "",
            f"Options of the `{group}` group: choose one with `{group}=<option>` (an "
            f"experiment or search file is applied with `{group}=<name>` on top of the "
            "primary config).",
            "",
        ]
    for p in files:
        rel = p.relative_to(CONF).as_posix()
        name = rel.removesuffix(".yaml")
        title = name if group == "" else name.split("/", 1)[1]
        lines += [f"## `{title}`", "", f"```{{glassml-config}} {rel}", "```", ""]
    return "\n".join(lines)


def write_pages(app: Sphinx) -> None:
    """Write docs/reference/config/<group>.md for every group (only what changed)."""
    out = Path(app.srcdir) / OUT_DIR
    out.mkdir(parents=True, exist_ok=True)
    wanted: dict[str, str] = {}
    for group, files in groups().items():
        wanted[f"{group or 'primary'}.md"] = _page(group, files)
    for stale in out.glob("*.md"):
        if stale.name not in wanted:
            stale.unlink()
    for name, text in wanted.items():
        target = out / name
        if not target.exists() or target.read_text() != text:
            target.write_text(text)


def setup(app: Sphinx) -> dict:
    app.add_directive("glassml-config", ConfigDirective)
    app.connect("builder-inited", write_pages)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
