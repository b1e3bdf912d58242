"""The SE(3) GNN: symmetries, Wigner-D equivariance, the expert-descriptor link, training.

Symmetry checks run in float64 on random periodic configurations whose graphs are
rebuilt from moved positions with `periodic_edges`, so they test the physics (a
translated, mirrored or relabelled liquid is the same liquid), not only the algebra.
The descriptor checks compare the first convolution with fixed radial weights to a
brute-force numpy sum over periodic pairs and to freud's Steinhardt order parameters.
"""

from __future__ import annotations

import json
from pathlib import Path

import freud
import numpy as np
import pytest
import torch
from e3nn import o3
from torch_geometric.data import Batch, Data

from glassml.data.graph import periodic_edges
from glassml.models import count_parameters
from glassml.models.cueq import BackendUnavailableError, cueq_available
from glassml.models.radial import RadialBasis, polynomial_envelope
from glassml.models.se3 import SE3GNN, GatedNonlinearity, first_layer_descriptors
from glassml.training.train import train

from ..hydra_helpers import compose_config

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"


@pytest.fixture(autouse=True)
def float64_default():
    """e3nn builds some constants (Wigner-D generators, ...) in the default dtype: use
    float64 throughout so that symmetry checks hold to ~1e-12, not float32 round-off."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def random_system(n: int, dim: int = 3, seed: int = 0, density: float = 1.2):
    rng = np.random.default_rng(seed)
    box = np.full(dim, (n / density) ** (1 / dim))
    pos = rng.uniform(0, 1, (n, dim)) * box
    species = rng.integers(0, 2, n)
    return pos, box, species


def make_data(
    pos: np.ndarray,
    box: np.ndarray,
    species: np.ndarray,
    cutoff: float = 2.0,
    node_features: np.ndarray | None = None,
    self_loops: bool = True,
) -> Data:
    ei, vec = periodic_edges(pos, box, cutoff, self_loops=self_loops)
    v = torch.tensor(vec, dtype=torch.float64)
    sp = torch.tensor(species, dtype=torch.long)
    data = Data(
        x=torch.nn.functional.one_hot(sp, 2).double(),
        species=sp,
        pos=torch.tensor(pos),
        edge_index=torch.tensor(ei),
        edge_attr=torch.cat([v, v.norm(dim=1, keepdim=True)], dim=1),
        num_nodes=len(species),
    )
    if node_features is not None:
        data.node_features = torch.tensor(node_features, dtype=torch.float64)
    return data


def batch_of(*graphs: Data) -> Batch:
    return Batch.from_data_list(list(graphs))


def small_model(**kw) -> SE3GNN:
    torch.manual_seed(0)
    args = {"num_targets": 3, "mul": 4, "n_layers": 3, "cutoff": 2.0, "radial_hidden": 8}
    args.update(kw)
    return SE3GNN(**args).double().eval()


def random_rotation(seed: int) -> torch.Tensor:
    torch.manual_seed(seed)
    return o3.rand_matrix(dtype=torch.float64)


def rotate_edges(data: Data, matrix: torch.Tensor) -> Data:
    out = data.clone()
    d = matrix.shape[0]
    out.edge_attr = out.edge_attr.clone()
    out.edge_attr[:, :d] = out.edge_attr[:, :d] @ matrix.T
    return out


# ---------------------------------------------------------------------------- size, shape


def test_default_size_is_about_50k_and_heads_per_species_and_time() -> None:
    model = SE3GNN(num_species=2, num_targets=7)
    n = count_parameters(model)
    assert 45_000 <= n <= 55_000, n
    # one output per (species, time) from the last decoder layer, nothing else depends on them
    assert model.decoder[-1].out_features == 2 * 7
    assert n - model.decoder[-1].weight.numel() - model.decoder[-1].bias.numel() == 51_182 - 14 * 33


def test_output_shape_and_species_rows() -> None:
    pos, box, species = random_system(120)
    model = small_model()
    batch = batch_of(make_data(pos, box, species), make_data(*random_system(100, seed=1)))
    out = model(batch)
    assert out.shape == (220, 3) and torch.isfinite(out).all()
    # each particle reads the row of its own species from the decoder
    captured = {}
    model.decoder.register_forward_hook(lambda m, i, o: captured.setdefault("full", o))
    out = model(batch)
    full = captured["full"].reshape(-1, 2, 3)
    rows = full[torch.arange(220), batch.species]
    torch.testing.assert_close(out, rows)
    assert not torch.allclose(full[:, 0], full[:, 1])


def test_self_loops_and_edges_beyond_cutoff_are_ignored() -> None:
    pos, box, species = random_system(120)
    model = small_model(cutoff=1.5)
    with_loops = model(batch_of(make_data(pos, box, species, cutoff=2.0)))
    exact = model(batch_of(make_data(pos, box, species, cutoff=1.5, self_loops=False)))
    torch.testing.assert_close(with_loops, exact)


# ---------------------------------------------------------------------------- symmetries


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_invariant_under_random_rotations(seed) -> None:
    pos, box, species = random_system(120, seed=seed)
    data = make_data(pos, box, species)
    model = small_model()
    ref = model(batch_of(data))
    rot = model(batch_of(rotate_edges(data, random_rotation(seed))))
    torch.testing.assert_close(rot, ref, rtol=1e-9, atol=1e-10)


def test_invariant_under_reflections_of_the_periodic_system() -> None:
    """Mirror the liquid (x -> -x, wrapped into the box) and rebuild the graph."""
    pos, box, species = random_system(120, seed=4)
    model = small_model()
    ref = model(batch_of(make_data(pos, box, species)))
    mirrored = pos.copy()
    mirrored[:, 0] = np.mod(-mirrored[:, 0], box[0])
    out = model(batch_of(make_data(mirrored, box, species)))
    torch.testing.assert_close(out, ref, rtol=1e-9, atol=1e-10)
    # and the inversion r -> -r of all edge vectors (not a proper rotation)
    inv = model(batch_of(rotate_edges(make_data(pos, box, species), -torch.eye(3).double())))
    torch.testing.assert_close(inv, ref, rtol=1e-9, atol=1e-10)


def test_invariant_under_translations_through_the_box() -> None:
    pos, box, species = random_system(120, seed=5)
    model = small_model()
    ref = model(batch_of(make_data(pos, box, species)))
    shift = np.random.default_rng(0).uniform(0, 1, 3) * box * 3.7
    moved = np.mod(pos + shift, box)
    out = model(batch_of(make_data(moved, box, species)))
    torch.testing.assert_close(out, ref, rtol=1e-9, atol=1e-10)


def test_equivariant_under_permutations() -> None:
    pos, box, species = random_system(120, seed=6)
    model = small_model()
    ref = model(batch_of(make_data(pos, box, species)))
    perm = np.random.default_rng(1).permutation(120)
    out = model(batch_of(make_data(pos[perm], box, species[perm])))
    torch.testing.assert_close(out, ref[perm], rtol=1e-9, atol=1e-10)


def test_intermediate_features_transform_with_wigner_d() -> None:
    pos, box, species = random_system(120, seed=7)
    data = make_data(pos, box, species)
    model = small_model(mul=3, l_max=3)
    feats = model.layer_features(batch_of(data))
    assert len(feats) == 3
    for matrix in (random_rotation(11), -random_rotation(12)):  # rotation, improper rotation
        d_matrix = model.irreps_hidden.D_from_matrix(matrix)
        moved = model.layer_features(batch_of(rotate_edges(data, matrix)))
        for f, g in zip(feats, moved, strict=True):
            torch.testing.assert_close(g, f @ d_matrix.T, rtol=1e-9, atol=1e-10)
    # the l > 0 features are not trivially zero (else equivariance says nothing)
    assert float(feats[-1][:, model.n_scalars :].abs().max()) > 1e-3


def test_two_dimensional_data_invariant_under_planar_rotations() -> None:
    pos, box, species = random_system(100, dim=2, seed=8)
    data = make_data(pos, box, species)
    model = small_model(dim=2)
    ref = model(batch_of(data))
    theta = 0.7
    c, s = np.cos(theta), np.sin(theta)
    rot = torch.tensor([[c, -s], [s, c]], dtype=torch.float64)
    torch.testing.assert_close(model(batch_of(rotate_edges(data, rot))), ref, rtol=1e-9, atol=1e-10)
    mirrored = pos.copy()
    mirrored[:, 1] = np.mod(-mirrored[:, 1], box[1])
    torch.testing.assert_close(
        model(batch_of(make_data(mirrored, box, species))), ref, rtol=1e-9, atol=1e-10
    )


def test_gate_is_e3nn_gate() -> None:
    """The compile-friendly gate computes exactly what `e3nn.nn.Gate` computes."""
    from e3nn.nn import Gate

    irreps = o3.Irreps("5x0e+3x1o+2x2e+1x3o")
    ours = GatedNonlinearity(irreps)
    ref = Gate("5x0e", [torch.nn.functional.silu], "6x0e", [torch.sigmoid], "3x1o+2x2e+1x3o")
    assert ours.irreps_in == ref.irreps_in and ours.irreps_out == ref.irreps_out
    x = torch.randn(7, ours.irreps_in.dim)
    torch.testing.assert_close(ours(x), ref(x), rtol=1e-12, atol=1e-12)


def test_continuous_when_a_neighbour_crosses_the_cutoff() -> None:
    """The envelope makes every radial function vanish smoothly at r_c."""
    r = torch.tensor([1.0, 1.999999, 2.0, 2.5], dtype=torch.float64)
    for kind in ("bessel", "gaussian"):
        b = RadialBasis(8, 2.0, kind)(r)
        assert float(b[1].abs().max()) < 1e-12 and float(b[2:].abs().max()) == 0.0
        assert float(b[0].abs().max()) > 0.1
    x = torch.linspace(0, 1, 11, dtype=torch.float64)
    env = polynomial_envelope(x)
    assert float(env[0]) == 1.0 and float(env[-1]) == 0.0 and (env[1:] <= env[:-1]).all()
    # two particles alone in a big box, at distances just inside and outside the cut-off
    model = small_model()
    outs = []
    for dist in (2.0 - 1e-7, 2.0 + 1e-7):
        pos = np.array([[1.0, 1.0, 1.0], [1.0 + dist, 1.0, 1.0]])
        outs.append(model(batch_of(make_data(pos, np.full(3, 10.0), np.array([0, 1])))))
    torch.testing.assert_close(outs[0], outs[1], rtol=0, atol=1e-9)


# ---------------------------------------------------------------------------- node features


def test_extra_scalar_node_features() -> None:
    pos, box, species = random_system(120, seed=9)
    feats = np.random.default_rng(2).normal(size=(120, 2))
    model = small_model(num_node_features=2)
    data = make_data(pos, box, species, node_features=feats)
    ref = model(batch_of(data))
    changed = model(batch_of(make_data(pos, box, species, node_features=feats * 2.0)))
    assert not torch.allclose(ref, changed)
    rot = model(batch_of(rotate_edges(data, random_rotation(5))))
    torch.testing.assert_close(rot, ref, rtol=1e-9, atol=1e-10)
    with pytest.raises(ValueError, match="no node_features.*dataset.node_features"):
        model(batch_of(make_data(pos, box, species)))
    with pytest.raises(ValueError, match=r"shape \(120, 3\).*num_node_features"):
        model(batch_of(make_data(pos, box, species, node_features=np.zeros((120, 3)))))


def test_pezzicoli2022_network_with_energy_input_is_rotation_invariant(tmp_path) -> None:
    """The experiment's network (its irreps, depth, basis) on inherent-structure-like
    positions with the per-particle energy of features=epot as input."""
    from hydra.utils import instantiate

    from glassml.features import compute_descriptors, parse_specs

    cfg = compose_config("train", ["experiment=pezzicoli2022", "dataset=sample"], tmp_path)
    specs = parse_specs(cfg.dataset.node_features)
    assert [s.name for s in specs] == ["energy"] and specs[0].positions == "inherent"
    pos, box, species = random_system(150, seed=4)
    energy, names = compute_descriptors({"inherent": pos}, species, box, 2, specs)
    assert names == ["energy"]
    torch.manual_seed(0)
    model = instantiate(cfg.model.net)(dim=3, num_species=2, num_targets=10, num_node_features=1)
    model = model.double().eval()
    assert 45_000 < count_parameters(model) < 55_000
    data = make_data(pos, box, species, node_features=(energy - energy.mean()) / energy.std())
    ref = model(batch_of(data))
    assert ref.shape == (150, 10)
    for seed in (1, 2):
        rot = model(batch_of(rotate_edges(data, random_rotation(seed))))
        torch.testing.assert_close(rot, ref, rtol=1e-9, atol=1e-10)


# ---------------------------------------------------------------------------- expert link


def brute_force_pairs(pos: np.ndarray, box: np.ndarray, cutoff: float):
    """All (i, j, r_j - r_i) with 0 < r < cutoff, minimum image (cutoff < box/2)."""
    assert cutoff < box.min() / 2
    d = pos[None, :, :] - pos[:, None, :]
    d -= box * np.round(d / box)
    r = np.linalg.norm(d, axis=2)
    i, j = np.nonzero((r > 0) & (r < cutoff))
    return i, j, d[i, j], r[i, j]


def test_l0_channel_is_the_species_resolved_radial_density() -> None:
    pos, box, species = random_system(150, seed=10)
    model = small_model(cutoff=2.0)
    r0, sigma = 1.1, 0.15

    def shell(r: torch.Tensor) -> torch.Tensor:
        w = torch.exp(-0.5 * ((r - r0) / sigma) ** 2)
        return w[:, None, None].expand(-1, 2, model.l_max + 1)

    desc = first_layer_descriptors(model, batch_of(make_data(pos, box, species)), shell)
    i, j, _, r = brute_force_pairs(pos, box, 2.0)
    expected = np.zeros((150, 2))
    np.add.at(expected, (i, species[j]), np.exp(-0.5 * ((r - r0) / sigma) ** 2))
    np.testing.assert_allclose(desc["density"].numpy(), expected, rtol=1e-10, atol=1e-12)
    assert expected[:, 1].mean() > 0.5  # both species present in the shells
    # the model's own (trained or random) radial weights are what forward uses
    learned = first_layer_descriptors(model, batch_of(make_data(pos, box, species)))
    assert learned["weights"].shape == (len(r), 2, model.l_max + 1)


def test_bond_order_channels_equal_unnormalised_steinhardt_from_freud() -> None:
    pos, box, species = random_system(300, seed=11)
    cutoff = 1.5
    model = small_model(l_max=6, mul=1, n_layers=1, cutoff=cutoff)

    def step(r: torch.Tensor) -> torch.Tensor:
        return torch.ones(r.shape[0], 2, model.l_max + 1, dtype=r.dtype)

    desc = first_layer_descriptors(model, batch_of(make_data(pos, box, species)), step)
    ells = [1, 2, 3, 4, 6]
    ql = freud.order.Steinhardt(l=ells)
    fbox = freud.box.Box.cube(float(box[0]))
    ql.compute((fbox, pos - box / 2), neighbors={"r_max": cutoff, "exclude_ii": True})
    n_neigh = desc["total_density"].numpy()
    i, _, _, _ = brute_force_pairs(pos, box, cutoff)
    np.testing.assert_array_equal(n_neigh, np.bincount(i, minlength=300))
    ours = desc["total_bond_order"].numpy()[:, [ell - 1 for ell in ells]]
    # freud works in float32
    np.testing.assert_allclose(ours, n_neigh[:, None] * ql.particle_order, rtol=5e-5, atol=1e-5)
    # per species: |D_u,l| = N_i^u q_l^u, checked against complex spherical harmonics
    from scipy.special import sph_harm_y

    i, j, vec, r = brute_force_pairs(pos, box, cutoff)
    theta = np.arccos(vec[:, 2] / r)
    phi = np.arctan2(vec[:, 1], vec[:, 0])
    for ell in (2, 6):
        q_lm = np.zeros((300, 2, 2 * ell + 1), dtype=complex)
        for k, m in enumerate(range(-ell, ell + 1)):
            np.add.at(q_lm[:, :, k], (i, species[j]), sph_harm_y(ell, m, theta, phi))
        expected = np.sqrt(4 * np.pi / (2 * ell + 1) * (np.abs(q_lm) ** 2).sum(axis=2))
        np.testing.assert_allclose(
            desc["bond_order"][:, :, ell - 1].numpy(), expected, rtol=1e-8, atol=1e-10
        )


def test_descriptors_use_the_same_numbers_as_the_forward_pass() -> None:
    """The descriptor function reads the model's first layer, not a copy of its maths."""
    pos, box, species = random_system(120, seed=12)
    model = small_model()
    batch = batch_of(make_data(pos, box, species))
    captured = {}
    model.first.register_forward_hook(lambda m, i, o: captured.setdefault("out", o))
    model(batch)
    desc = first_layer_descriptors(model, batch)
    # forward uses "component" harmonics (|Y_l|^2 = 2l+1), descriptors "norm" (|Y_l| = 1)
    scale = torch.cat([torch.full((2 * ell + 1,), (2 * ell + 1) ** 0.5) for ell in range(3)])
    expected = captured["out"].reshape(120, -1)
    blocks = [desc["harmonics"][:, :, ell * ell : (ell + 1) ** 2] for ell in range(3)]
    got = torch.cat(
        [(b * scale[ell * ell : (ell + 1) ** 2]).reshape(120, -1) for ell, b in enumerate(blocks)],
        1,
    )
    torch.testing.assert_close(got.double(), expected, rtol=1e-9, atol=1e-10)
    profiles = model.radial_profiles(torch.linspace(0.5, 2.5, 9, dtype=torch.float64))
    assert profiles.shape == (9, 2, 3) and float(profiles[-1].abs().max()) == 0.0


# ---------------------------------------------------------------------------- backends


def test_cueq_backend_without_the_package_is_a_clear_error() -> None:
    if cueq_available():
        pytest.skip("cuequivariance-torch is installed here")
    with pytest.raises(BackendUnavailableError, match=r"backend=cueq.*glassml\[cuda\]"):
        SE3GNN(backend="cueq")
    with pytest.raises(ValueError, match="backend must be one of"):
        SE3GNN(backend="tpu")


@pytest.mark.parametrize(
    "device",
    [
        pytest.param(
            "cpu",
            marks=pytest.mark.skipif(
                not cueq_available() or torch.cuda.is_available(),
                reason="needs cuequivariance-torch, and no GPU (its PyTorch path)",
            ),
        ),
        pytest.param(
            "cuda",
            marks=pytest.mark.skipif(
                not (torch.cuda.is_available() and cueq_available()),
                reason="needs an NVIDIA GPU and cuequivariance-torch (pip install glassml[cuda])",
            ),
        ),
    ],
)
def test_cueq_backend_matches_e3nn(device) -> None:
    """Same weights, same outputs: cuEquivariance's kernel (GPU) or its PyTorch fallback
    (CPU) against e3nn, float32 as in training."""
    torch.set_default_dtype(torch.float32)
    pos, box, species = random_system(400, seed=13)
    torch.manual_seed(0)
    ref = SE3GNN(num_targets=3).to(device)
    fast = SE3GNN(num_targets=3, backend="cueq").to(device)
    fast.load_state_dict(ref.state_dict())  # checkpoints are interchangeable
    ref.load_state_dict(fast.state_dict())
    batch = batch_of(make_data(pos, box, species)).to(device)
    batch.edge_attr = batch.edge_attr.float()
    with torch.no_grad():
        torch.testing.assert_close(fast(batch), ref(batch), rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_torch_compile_gives_the_same_outputs() -> None:
    torch.set_default_dtype(torch.float32)
    pos, box, species = random_system(120, seed=14)
    batch = batch_of(make_data(pos, box, species))
    batch.edge_attr = batch.edge_attr.float()
    torch.manual_seed(0)
    eager = SE3GNN(num_targets=2, mul=4, n_layers=2)
    compiled = SE3GNN(num_targets=2, mul=4, n_layers=2, compile=True)
    compiled.load_state_dict(eager.state_dict())
    torch.testing.assert_close(compiled(batch), eager(batch), rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------------------- training


@pytest.mark.parametrize(
    "overrides",
    [["model=se3_gnn"], ["experiment=sample_se3"], ["experiment=pezzicoli2022"]],
    ids=["model", "experiment", "pezzicoli2022"],
)
def test_fast_dev_run_on_the_sample(overrides, tmp_path) -> None:
    torch.set_default_dtype(torch.float32)  # as in real training
    if not any(SAMPLE.glob("config_*.npz")):
        pytest.skip("data/sample is missing (make sample-data)")
    paper = "experiment=pezzicoli2022" in overrides
    # one real epoch for the paper's experiment: fast_dev_run writes no checkpoint to inspect
    run = "trainer.max_epochs=1" if paper else "trainer.fast_dev_run=true"
    fast = ["trainer=cpu", run, "logger=csv", "dataset=sample"]
    # 2 train / 1 val / 1 test configurations: graph building dominates otherwise
    fast += ["dataset.limit_train=2", "dataset.limit_test=1", "dataset.val_fraction=0.04"]
    cfg = compose_config("train", [*overrides, *fast, "model.net.n_layers=2"], tmp_path)
    train(cfg)
    report = json.loads((tmp_path / "test_metrics.json").read_text())
    assert report["pearson"]["model"]["A"]["pooled"]
    assert report["n_params"] > 0
    if paper:
        # inherent-structure graph with the particle's potential energy as extra input
        assert cfg.dataset.positions == "inherent"
        ckpt = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=False)
        assert ckpt["glassml"]["data_info"]["node_feature_names"] == ["energy"]
