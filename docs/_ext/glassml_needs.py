"""Mark code blocks whose commands need what a laptop or CI machine lacks.

In a page, a MyST comment line right above a code block names the requirements:

    % needs: gpu, slurm
    ```bash
    glassml-train -m hydra/launcher=slurm trainer=gpu seed=1,2
    ```

The block is shown with a label ("Needs a CUDA GPU · a SLURM cluster", or "Some of these
commands need ..." over a block of several commands). The docs tests
(tests/docs/) still compose every such command with Hydra, and they require the marker
on every block with a command that needs a GPU, SLURM or the network.
"""

from __future__ import annotations

import re

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)

NEEDS = {
    "gpu": "a CUDA GPU",
    "slurm": "a SLURM cluster",
    "network": "network access",
}
MARKER = re.compile(r"^\s*needs:\s*(?P<words>[\w\s,-]*?)\s*$")


def parse_marker(text: str) -> list[str] | None:
    """'needs: gpu, slurm' -> ['gpu', 'slurm']; None if `text` is not a marker."""
    m = MARKER.match(text)
    if m is None:
        return None
    return [w.strip().lower() for w in m["words"].split(",") if w.strip()]


def label_text(words: list[str], n_commands: int = 1) -> str:
    """'Needs a CUDA GPU' (one command) or 'Some of these commands need ...' (several)."""
    what = " · ".join(NEEDS[w] for w in words)
    return f"Needs {what}" if n_commands <= 1 else f"Some of these commands need {what}"


def count_commands(code: str) -> int:
    """Command lines of a shell block (continuations joined, comments and blanks skipped)."""
    joined = code.replace("\\\n", " ")
    return sum(1 for ln in joined.splitlines() if ln.strip() and not ln.lstrip().startswith("#"))


def _next_block(node: nodes.Node) -> nodes.Node | None:
    sibling = node.next_node(descend=False, siblings=True, ascend=False)
    return sibling


def mark_blocks(app: Sphinx, doctree: nodes.document) -> None:
    for comment in list(doctree.findall(nodes.comment)):
        words = parse_marker(comment.astext())
        if words is None:
            continue
        where = (comment.source, comment.line)
        unknown = [w for w in words if w not in NEEDS]
        if unknown or not words:
            logger.warning(
                "needs marker %r: expected one or more of %s",
                comment.astext(),
                ", ".join(NEEDS),
                location=where,
            )
            continue
        block = _next_block(comment)
        if not isinstance(block, nodes.literal_block):
            logger.warning("needs marker not followed by a code block", location=where)
            continue
        box = nodes.container(classes=["glassml-needs"])
        label = label_text(words, count_commands(block.astext()))
        box += nodes.paragraph(text=label, classes=["glassml-needs-label"])
        block.replace_self(box)
        box += block
        comment.parent.remove(comment)


def setup(app: Sphinx) -> dict:
    app.connect("doctree-read", mark_blocks)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
