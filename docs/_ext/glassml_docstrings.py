"""Read the project's docstrings as they are written: plain text with markdown habits.

glassml docstrings mark code with single backticks (`md_prop`, `nn.Module`s), write
absolute values as |x| and start lists with "- " right after a sentence.
reStructuredText would read these as interpreted text (an error when a letter follows
the closing backtick), substitutions, and a paragraph followed by a block quote. This
hook rewrites them before autodoc parses a docstring: a code span becomes an inline
literal, a bar is escaped, and a list gets the blank lines around it that it needs.
Explicit roles (:class:`x`) and double backticks are left alone.
"""

from __future__ import annotations

import re

from sphinx.application import Sphinx

# `code` not preceded by a role (:class:`x`) or another backtick, not followed by one
CODE_SPAN = re.compile(r"(?<![`:\w])`(?!`)([^`\n]+?)`(?!`)(?P<after>\w?)")
LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+\S")


def _code(m: re.Match[str]) -> str:
    # a zero-width space after "." inside the span: autosummary cuts its one-line summary
    # at the first ". " even inside a literal, which would leave the literal unclosed
    code = m[1].replace(". ", ".\u200b ")
    after = m["after"]
    return f"``{code}``" + (f"\\ {after}" if after else "")


def _line(line: str) -> str:
    """Code spans to literals; a bar outside them is text (|r_ij|), not a substitution."""
    out, pos = [], 0
    for m in CODE_SPAN.finditer(line):
        out += [line[pos : m.start()].replace("|", "\\|"), _code(m)]
        pos = m.end()
    out.append(line[pos:].replace("|", "\\|"))
    return "".join(out)


def rewrite(lines: list[str]) -> list[str]:
    """The docstring lines with code spans as literals and blank lines before lists."""
    out: list[str] = []
    list_indent: int | None = None  # indentation of the current list's markers
    for line in lines:
        indent = len(line) - len(line.lstrip())
        is_item = bool(LIST_ITEM.match(line))
        if not line.strip():
            list_indent = None
        elif is_item and list_indent is None:
            if out and out[-1].strip():
                out.append("")
            list_indent = indent
        elif not is_item and list_indent is not None and indent <= list_indent:
            out.append("")  # a paragraph right after the list
            list_indent = None
        out.append(_line(line))
    return out


def process(app: Sphinx, what: str, name: str, obj: object, options: dict, lines: list[str]):
    lines[:] = rewrite(lines)


def setup(app: Sphinx) -> dict:
    app.connect("autodoc-process-docstring", process)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
