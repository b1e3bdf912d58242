"""Every command shown in the documentation still works with the current code and configs.

See tests/docs/commands.py for what is checked and how placeholders are read. The
Sphinx build itself (warnings as errors) runs in `make docs`, part of `make test`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs import commands as dc

PAGES = dc.pages()


def _report(errors: list[str]) -> str:
    return "\n".join(errors)


def _page_errors(path: Path) -> list[str]:
    """Every problem the checker finds on one page: its commands and its Python snippets."""
    cmds, snippets, problems = dc.extract(path)
    errors = list(problems)
    for cmd in cmds:
        errors += dc.check_command(cmd).errors
    for source, code in snippets:
        errors += dc.check_snippet(source, code)
    return errors


@pytest.mark.parametrize("page", PAGES, ids=[p.relative_to(dc.ROOT).as_posix() for p in PAGES])
def test_page_commands(page: Path) -> None:
    errors = _page_errors(page)
    assert not errors, _report(errors)


def test_config_comment_commands() -> None:
    """The example commands in conf/*.yaml comments (shown in the config reference)."""
    cmds = dc.config_examples()
    assert cmds, "no example commands found in conf/: the extraction is broken"
    errors = [e for cmd in cmds for e in dc.check_command(cmd).errors]
    assert not errors, _report(errors)


def test_makefile_recipes() -> None:
    """The glassml commands of every Makefile target compose (make -n, nothing runs)."""
    errors = []
    for target in sorted(dc.make_targets() - {"install", "clean", "docs", ".PHONY"}):
        if target.startswith((".", "$")):
            continue
        errors += dc.check_command(dc.Command(f"make {target}", "Makefile", in_block=False)).errors
    assert not errors, _report(errors)


# ---------------------------------------------------------------- the checker can fail


@pytest.fixture
def page(tmp_path: Path):
    """Write a page, return the checker's findings on it."""

    def write(text: str) -> list[str]:
        path = tmp_path / "page.md"
        path.write_text(text)
        return _page_errors(path)

    return write


def test_good_commands_pass(page) -> None:
    errors = page(
        "```bash\n"
        "glassml-train experiment=sample_quick trainer.max_epochs=2   # a comment\n"
        "glassml-train -m seed=1,2 'model.net.hidden=choice(32,64)'\n"
        "glassml-evaluate ckpt_path=outputs/<date>/<time>_train/checkpoints/best.ckpt\n"
        "glassml-data download <source>\n"
        'make train ARGS="trainer.max_epochs=3"\n'
        "python -m glassml.sorting.fate evaluate fates.npz\n"
        "```\n"
        "The report (`glassml-sorting-report`) reads a sweep.\n"
        "````markdown\n```bash\nglassml-train\n```\n````\n"
        "% needs: gpu, slurm\n"
        "```bash\n"
        "glassml-train -m hydra/launcher=slurm trainer=gpu seed=1,2\n"
        "```\n"
        "```python\nfrom glassml.models import BapstGNN\nprint(BapstGNN)\n```\n"
    )
    # glassml-data needs the network and its block is not marked: the one expected error
    assert len(errors) == 1 and "needs ['network']" in errors[0], errors


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("```bash\nglassml-train model.net.hiddn=3\n```\n", "Could not override"),
        ("```bash\nglassml-train model=no_such_model\n```\n", "no_such_model"),
        ("```bash\nglassml-train -m seed=1,2 model=bapst,nope\n```\n", "nope"),
        ("```bash\nglassml-train -m seed=1,2,${nope}\n```\n", "nope"),
        ("```bash\nglassml-simulate simulator=ka3d simulator.T=${nope}\n```\n", "nope"),
        ("```bash\nglassml-frobnicate x=1\n```\n", "no such entry point"),
        ("```bash\nmake no-such-target\n```\n", "no such target"),
        ("```bash\nmake train ARGS=model.net.hiddn=3\n```\n", "Could not override"),
        ("```bash\npython -m glassml.sorting.fate frobnicate x\n```\n", "arguments rejected"),
        ("```bash\npython scripts/no_such_script.py\n```\n", "no such script"),
        ('```bash\npip install -e ".[nope]"\n```\n', "no extra"),
        ("```bash\nglassml-train trainer=gpu\n```\n", "needs ['gpu']"),
        ("```bash\nglassml-simulate -m hydra/launcher=slurm simulator.seed=1,2\n```\n", "slurm"),
        ("% needs: gpu\n```bash\nglassml-train hydra/launcher=slurm\n```\n", "needs ['slurm']"),
        ("% needs: quantum\n```bash\nglassml-train\n```\n", "unknown requirement"),
        ("Run `glassml-train model.nett=1` to see.\n", "Could not override"),
        ("```bash\nglassml-train\n``` text after the fence\n\n```bash\nmake train\n```\n", "fence"),
        ("```python\nimport glassml.no_such_module\n```\n", "no_such_module"),
        ("```python\nfrom glassml.models import NoSuchNet\n```\n", "NoSuchNet"),
        ("```python\nx = undefined_name + 1\n```\n", "undefined_name"),
    ],
)
def test_bad_commands_fail(page, text: str, expected: str) -> None:
    errors = page(text)
    assert errors and any(expected in e for e in errors), errors
