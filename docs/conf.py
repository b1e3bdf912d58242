"""Sphinx configuration of the glassml documentation (`make docs`).

The pages are MyST markdown. Two parts are generated at build time so they cannot go
stale: the config reference (from conf/, by `_ext/glassml_confref.py`) and the API
reference (autosummary over the docstrings).
"""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path[:0] = [str(DOCS / "_ext"), str(ROOT / "src"), str(ROOT)]

project = "glassml"
author = "the glassml authors"
copyright = "the glassml authors"  # noqa: A001 (Sphinx's name)
release = version = "0.1.0"

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "glassml_confref",
    "glassml_needs",
    "glassml_docstrings",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
# _name.md files are fragments included by a page ({include}), not pages of their own
exclude_patterns = ["_build", "_*.md", "Thumbs.db", ".DS_Store"]
# every reference must resolve (glassml's own objects; see nitpick_ignore_regex)
nitpicky = True
# docstrings write `code` with single backticks, as markdown does (_ext/glassml_docstrings.py)
default_role = "literal"

myst_enable_extensions = ["colon_fence", "deflist", "dollarmath"]
# `## Heading` on page X is linkable as [text](X.md#heading)
myst_heading_anchors = 3

autosummary_generate = True
autosummary_imported_members = False
# every public member, whether or not a module's __all__ lists it (autosummary's tables do the same)
autodoc_default_options = {
    "members": True,
    "undoc-members": True,
    "show-inheritance": True,
    "ignore-module-all": True,
}
# a method that overrides Lightning's without a docstring of its own shows none
autodoc_inherit_docstrings = False
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True

# No intersphinx: the build runs offline. Types of other packages (numpy, torch, PyG,
# omegaconf, ...) therefore stay plain text; every glassml reference must resolve.
nitpick_ignore_regex = [
    (r"py:.*", r"(?!glassml\b|hydra_plugins\b)[A-Za-z_][\w.]*"),
    # type-hint fragments Sphinx cannot link (Literal values, forward-reference strings)
    (r"py:.*", r"[\"'].*"),
    (r"py:.*", r"\d.*|None|True|False|Ellipsis|\.\.\."),
    # private helpers named in type hints are not documented
    (r"py:.*", r".*\._\w+"),
]

html_theme = "furo"
html_title = "glassml"
html_static_path = ["_static"]
html_css_files = ["glassml.css"]
html_show_sourcelink = False
html_copy_source = False
# unlabelled code blocks of the pages are shell commands
highlight_language = "bash"
pygments_style = "friendly"
pygments_dark_style = "monokai"


def _clean_generated(app) -> None:
    """Remove the API stubs of the last build first: a module that was deleted or
    renamed must not survive as a stale page (autosummary only adds and overwrites)."""
    import shutil

    shutil.rmtree(DOCS / "reference" / "api", ignore_errors=True)


def setup(app) -> None:
    # before autosummary generates the stubs (same event, default priority 500)
    app.connect("builder-inited", _clean_generated, priority=100)
