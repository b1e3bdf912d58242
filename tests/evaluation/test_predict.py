"""glassml-predict on configurations written by LAMMPS, ASE and gsd: the same numbers as the
model gives through glassml-evaluate, in files ASE reads back; transfer checks."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from glassml.data.trajectory import read_frames as read_any
from glassml.evaluation.evaluate import IncompatibleDataError, evaluate
from glassml.evaluation.predict import predict_files

from ..cli_helpers import run_module
from ..data.lammps_runs import in_child, lammps_available, write_data_file, write_iso_set
from ..hydra_helpers import compose_config

pytestmark = pytest.mark.skipif(not lammps_available(), reason="LAMMPS is not installed")


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict[str, Path]:
    """A KA dataset made from LAMMPS runs, and 2-epoch models (GNN; MLP on descriptors)."""
    from omegaconf import OmegaConf

    from glassml.data.importer import import_dataset, spec_from_config
    from glassml.training.train import train

    base = tmp_path_factory.mktemp("predict")
    runs = write_iso_set(base / "runs", n_configs=4, n_iso=2, steps=(20, 100))
    section = OmegaConf.to_container(
        compose_config("data", ["command=import", "import=lammps"])["import"]
    )
    # the inherent structure too: GlassMLP descriptors are computed on it
    section.update(root=str(runs), output_dir=str(base / "data"), inherent=True)
    data = import_dataset(spec_from_config(section), progress=False)
    out = {"runs": runs, "data": data}
    for name in ("bapst_quick", "glass_mlp", "bapst_all_species"):
        model = "glass_mlp" if name == "glass_mlp" else "bapst_quick"
        extra = [] if name == "glass_mlp" else ["model.net.hidden=8"]
        if name == "bapst_all_species":
            extra.append("dataset.train_species=all")
        cfg = compose_config(
            "train",
            [
                "dataset=generated",
                f"dataset.root={data}",
                f"model={model}",
                *extra,
                "trainer=cpu",
                "trainer.max_epochs=2",
                "logger=csv",
                "callbacks.rich_progress_bar=null",
                "baseline_radius=null",
            ],
            base / name,
        )
        train(cfg)
        out[name] = base / name / "checkpoints" / "best.ckpt"
    return out


def predict(ckpt: Path, input_path: Path, out: Path, *overrides: str) -> list[Path]:
    cfg = compose_config("predict", [f"ckpt_path={ckpt}", f"input={input_path}", *overrides], out)
    cfg.output_dir = str(out)
    return predict_files(cfg)


def evaluated(ckpt: Path, out: Path) -> tuple[Path, np.ndarray]:
    """The first test file and the model's predictions on it, through glassml-evaluate."""
    cfg = compose_config("evaluate", [f"ckpt_path={ckpt}", "metrics.ceiling.enabled=false"], out)
    evaluate(cfg)
    with np.load(out / "predictions.npz") as f:
        first = f["config_index"] == 0
        return Path(str(f["files"][0])), f["predictions"][first]


@pytest.mark.parametrize("model", ["bapst_quick", "glass_mlp"])
def test_predictions_equal_the_models_and_read_back_with_ase(trained, model, tmp_path, caplog):
    """Species A (the one trained) as glassml-evaluate predicts it; B, whose head no loss
    trained, is NaN with one log line saying so."""
    import ase.io

    path, want = evaluated(trained[model], tmp_path / "eval")
    with caplog.at_level(logging.INFO):
        (xyz,) = predict(trained[model], path, tmp_path / "pred")
    assert caplog.text.count("species B written as NaN") == 1
    atoms = ase.io.read(xyz, format="extxyz")
    with np.load(path) as f:
        types, md_prop = f["types"], f["md_prop"]
    assert len(atoms) == types.size == 256
    b = types != 0
    assert b.any() and np.isnan(atoms.arrays["pred_t00"][b]).all()
    want = np.where(b[:, None], np.nan, want)
    np.testing.assert_array_equal(atoms.arrays["type"], types)
    cols = sorted(k for k in atoms.arrays if k.startswith(("pred_", "true_")))
    assert cols == ["pred_t00", "pred_t01", "true_t00", "true_t01"]
    got = np.column_stack([atoms.arrays["pred_t00"], atoms.arrays["pred_t01"]])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(atoms.arrays["true_t01"], md_prop[1], rtol=1e-6)
    np.testing.assert_allclose(atoms.cell.lengths(), np.load(path)["box"])
    with np.load(xyz.with_suffix(".npz")) as f:
        np.testing.assert_allclose(f["predictions"], want, rtol=1e-5, atol=1e-6)
    assert xyz.with_suffix(".png").stat().st_size > 10_000


def test_every_species_predicted_when_every_species_trained(trained, tmp_path, caplog) -> None:
    path = trained["data"] / "config_0000.npz"
    with caplog.at_level(logging.INFO):
        (xyz,) = predict(trained["bapst_all_species"], path, tmp_path / "pred")
    assert "written as NaN" not in caplog.text
    pred = np.load(xyz.with_suffix(".npz"))["predictions"]
    assert pred.shape == (256, 2) and np.isfinite(pred).all()


def test_every_input_format_gives_the_same_prediction(trained, tmp_path) -> None:
    """The configuration of config_0 as LAMMPS dump and data file (LAMMPS), extended XYZ
    (ASE), GSD (gsd) and a GlassBench-style .npz (no box, centred positions)."""
    import ase
    import ase.io
    import gsd.hoomd

    ckpt = trained["bapst_quick"]
    dump = trained["runs"] / "config_0" / "initial.dump"
    (ref,) = predict(ckpt, trained["data"] / "config_0000.npz", tmp_path / "ref")
    want = np.load(ref.with_suffix(".npz"))["predictions"]

    frame = read_any(dump)[0]
    x, box, types = np.mod(frame.positions, frame.box), frame.box, frame.labels.astype(int) - 1
    folder = tmp_path / "inputs"
    folder.mkdir()
    in_child(write_data_file, folder / "config.data", x, types, box)
    atoms = ase.Atoms(symbols=["X"] * len(x), positions=x, cell=box, pbc=True)
    atoms.new_array("type", types + 1)
    ase.io.write(folder / "config.xyz", atoms, format="extxyz")
    with gsd.hoomd.open(folder / "config.gsd", mode="w") as traj:
        f = gsd.hoomd.Frame()
        f.configuration.box = [*box, 0, 0, 0]
        f.particles.N = len(x)
        f.particles.types = ["A", "B"]
        f.particles.typeid = types.astype(np.uint32)
        f.particles.position = (x - box / 2).astype(np.float32)
        traj.append(f)
    np.savez(folder / "glassbench.npz", types=types, initial_positions=x - box / 2)
    (folder / "initial.dump").write_bytes(dump.read_bytes())

    written = predict(ckpt, folder, tmp_path / "out", "density=1.2")
    # names are the inputs' stems, or their full names where stems collide
    assert sorted(p.stem for p in written) == [
        "config_data",
        "config_gsd",
        "config_xyz",
        "glassbench",
        "initial",
    ]
    for xyz in tmp_path.joinpath("out").glob("*.npz"):
        np.testing.assert_allclose(
            np.load(xyz)["predictions"], want, rtol=1e-4, atol=1e-5, err_msg=xyz.name
        )


def test_transfer_checks(trained, tmp_path, caplog) -> None:
    import ase
    import ase.io

    ckpt = trained["bapst_quick"]
    frame = read_any(trained["runs"] / "config_1" / "initial.dump")[0]
    x, box = np.mod(frame.positions, frame.box), frame.box
    types = frame.labels.astype(int)

    def xyz(name: str, positions, cell, labels) -> Path:
        atoms = ase.Atoms(symbols=["X"] * len(positions), positions=positions, cell=cell, pbc=True)
        atoms.new_array("type", labels)
        ase.io.write(tmp_path / name, atoms, format="extxyz")
        return tmp_path / name

    dense = xyz("dense.xyz", x * 0.95, box * 0.95, types)
    with caplog.at_level(logging.WARNING):
        predict(ckpt, dense, tmp_path / "o1")
    assert "density 1.4" in caplog.text and "transfer" in caplog.text

    three = xyz("ternary.xyz", x, box, np.where(np.arange(len(x)) % 7 == 0, 3, types))
    with pytest.raises(IncompatibleDataError, match=r"ternary\.xyz: holds species up to C"):
        predict(ckpt, three, tmp_path / "o2")

    flat = tmp_path / "flat.npz"
    np.savez(flat, types=types - 1, initial_positions=x[:, :2], box=box[:2])
    with pytest.raises(IncompatibleDataError, match=r"flat\.npz: the model was trained in 3D"):
        predict(ckpt, flat, tmp_path / "o3")

    with pytest.raises(Exception, match=r"unknown\.xyz: particle type\(s\) \['9'\]"):
        predict(ckpt, xyz("unknown.xyz", x, box, np.where(types == 2, 9, types)), tmp_path / "o4")


def test_command_line(trained, tmp_path) -> None:
    import ase.io

    dump = trained["runs"] / "config_2" / "run_1.dump"
    proc = run_module(
        "glassml.cli.predict",
        f"ckpt_path={trained['bapst_quick']}",
        f"input={dump}",
        "frame=-1",
        f"hydra.run.dir={tmp_path}",
        cwd=tmp_path,
        env={"WANDB_MODE": "offline", "HYDRA_FULL_ERROR": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    atoms = ase.io.read(tmp_path / "run_1.extxyz")
    assert len(atoms) == 256 and "pred_t01" in atoms.arrays and "true_t01" not in atoms.arrays
