"""Resumable output folders: finished files are recognised, foreign settings are refused."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import yaml

from glassml.resume import check_same_settings, npz_complete


def test_npz_complete_needs_every_key_and_a_readable_file(tmp_path: Path, caplog) -> None:
    path = tmp_path / "config_0000.npz"
    assert not npz_complete(path, ["a"])
    np.savez(path, a=np.zeros(2))
    assert npz_complete(path, ["a"])
    assert not npz_complete(path, ["a", "b"])
    path.write_bytes(b"truncated")
    with caplog.at_level(logging.WARNING):
        assert not npz_complete(path, ["a"], redo="recomputed")
    assert f"{path} is unreadable; it will be recomputed" in caplog.text


def test_check_same_settings_ignores_resumable_keys_and_names_the_others(tmp_path: Path) -> None:
    saved = tmp_path / "run_config.yaml"
    check_same_settings(saved, {"T": 0.5, "N": 10, "output_dir": "a"}, {"output_dir"}, KeyError)
    assert yaml.safe_load(saved.read_text()) == {"T": 0.5, "N": 10, "output_dir": "a"}

    check_same_settings(saved, {"T": 0.5, "N": 10, "output_dir": "b"}, {"output_dir"}, KeyError)
    assert yaml.safe_load(saved.read_text())["output_dir"] == "b"

    def error(keys: list[str]) -> ValueError:
        return ValueError(f"differs in {keys}")

    with pytest.raises(ValueError, match=r"differs in \['N', 'seed'\]"):
        check_same_settings(saved, {"T": 0.5, "N": 12, "seed": 1}, {"output_dir"}, error)
    assert yaml.safe_load(saved.read_text())["N"] == 10  # the record is left as it was
