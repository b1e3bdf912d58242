"""Benchmark the training pipeline: graph construction and Bapst GNN throughput.

* graph construction per configuration: `glassml.data.graph.periodic_edges` (vesin plus
  self-loops and receiver ordering) against vesin's neighbour list called directly;
* training throughput of the Bapst GNN (paper size, 70,721 parameters) in graphs per
  second, forward + backward + Adam step, one configuration per step as in the paper,
  on CPU and, when present, on the GPU; also the straightforward reference forward and
  the `bapst_quick` model used by `make train`;
* the same for the SE(3) GNN (`model=se3_gnn`, ~51k parameters, and `se3_gnn_quick`):
  e3nn on CPU, and on a GPU also with `torch.compile` and with the cuEquivariance
  convolution (`backend=cueq`, when cuequivariance-torch is installed);
  `--compile-cpu` adds the compiled model on CPU (compilation takes minutes there).

Configurations are KA-like (N = 4096, rho = 1.2, 80:20) jittered lattices unless
`--data` points at a dataset directory, whose first file is then used.

    python scripts/bench_train.py [--n 4096] [--steps 5] [--data data/sample]
        [--models bapst,se3] [--compile-cpu]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
import vesin
from torch_geometric.data import Batch, Data

from glassml.data.graph import periodic_edges
from glassml.data.io import NpzReader, list_files
from glassml.data.synthetic import synthetic_configuration
from glassml.io import atomic_write_text
from glassml.models.bapst import BapstGNN, count_parameters
from glassml.models.cueq import cueq_available
from glassml.models.se3 import SE3GNN


def timeit(fn: Callable[[], object], repeats: int, warmup: int = 1) -> list[float]:
    """Wall-clock seconds of `repeats` calls after `warmup` untimed calls."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def load_configuration(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if args.data:
        files = list_files(args.data, "config_*.npz") or list_files(args.data, "**/*.npz")
        if not files:
            raise SystemExit(f"no .npz files under {args.data}")
        conf = NpzReader(density=1.2)(files[0])
        return conf.positions["equilibrium"], conf.box, conf.types
    c = synthetic_configuration(np.random.default_rng(0), args.n, 3, 1.2, 1)
    return c["initial_positions"], c["box"], c["types"]


def bench_graphs(pos: np.ndarray, box: np.ndarray, cutoff: float, repeats: int) -> dict:
    nl = vesin.NeighborList(cutoff=cutoff, full_list=True)
    cell = np.diag(box)
    direct = timeit(lambda: nl.compute(pos, cell, True, quantities="ijD"), repeats)
    ours = timeit(lambda: periodic_edges(pos, box, cutoff, self_loops=True), repeats)
    (src, _), _ = periodic_edges(pos, box, cutoff, self_loops=True)
    return {
        "n_particles": int(len(pos)),
        "n_edges": int(len(src)),
        "vesin_direct_ms": 1e3 * statistics.median(direct),
        "periodic_edges_ms": 1e3 * statistics.median(ours),
    }


def make_batch(pos: np.ndarray, box: np.ndarray, types: np.ndarray, cutoff: float) -> Batch:
    ei, vec = periodic_edges(pos, box, cutoff)
    v = torch.tensor(vec, dtype=torch.float32)
    species = torch.tensor(types, dtype=torch.long)
    data = Data(
        x=torch.nn.functional.one_hot(species, int(species.max()) + 1).float(),
        species=species,
        edge_index=torch.tensor(ei),
        edge_attr=torch.cat([v, v.norm(dim=1, keepdim=True)], dim=1),
        y=torch.randn(len(types), 1),
        num_nodes=len(types),
    )
    return Batch.from_data_list([data])


def bench_model(
    model: torch.nn.Module, batch: Batch, device: str, steps: int, reference: bool = False
) -> dict:
    model = model.to(device)
    batch = batch.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    fwd = model.reference_forward if reference else model.forward
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

    def step() -> None:
        opt.zero_grad()
        loss = ((fwd(batch)[:, :1] - batch.y) ** 2).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sync()

    def infer() -> None:
        with torch.no_grad():
            fwd(batch)
        sync()

    train_t = timeit(step, steps, warmup=2 if device != "cpu" else 1)
    infer_t = timeit(infer, steps)
    return {
        "params": count_parameters(model),
        "train_s_per_graph": statistics.median(train_t),
        "train_graphs_per_s": 1.0 / statistics.median(train_t),
        "inference_graphs_per_s": 1.0 / statistics.median(infer_t),
    }


def se3_models(
    device: str, n_species: int, cutoff: float, compile_cpu: bool
) -> dict[str, tuple[torch.nn.Module, bool]]:
    """SE(3) GNN variants to time on `device`: sizes, torch.compile, cuEquivariance."""
    torch.manual_seed(0)
    common = {"num_species": n_species, "num_targets": 1, "cutoff": cutoff}
    out: dict[str, tuple[torch.nn.Module, bool]] = {
        "se3_gnn (default)": (SE3GNN(**common), False),
        "se3_gnn_quick": (SE3GNN(mul=8, n_layers=3, **common), False),
    }
    if device != "cpu" or compile_cpu:
        out["se3_gnn, torch.compile"] = (SE3GNN(compile=True, **common), False)
    if device != "cpu" and cueq_available():
        out["se3_gnn, cuEquivariance"] = (SE3GNN(backend="cueq", **common), False)
        out["se3_gnn, cuEquivariance + compile"] = (
            SE3GNN(backend="cueq", compile=True, **common),
            False,
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4096, help="particles (synthetic KA-like)")
    parser.add_argument("--data", default=None, help="dataset directory to take a file from")
    parser.add_argument("--cutoff", type=float, default=2.0)
    parser.add_argument("--steps", type=int, default=5, help="timed training steps per model")
    parser.add_argument("--repeats", type=int, default=10, help="timed graph constructions")
    parser.add_argument("--out", default="outputs/bench/bench_train.json")
    parser.add_argument("--skip-reference", action="store_true", help="skip the slow naive forward")
    parser.add_argument("--models", default="bapst,se3", help="comma-separated: bapst, se3")
    parser.add_argument(
        "--compile-cpu", action="store_true", help="also time torch.compile on CPU (slow)"
    )
    parser.add_argument(
        "--devices", default=None, help="comma-separated (cpu, cuda); default: cpu and any GPU"
    )
    args = parser.parse_args()

    torch.manual_seed(0)
    pos, box, types = load_configuration(args)
    results: dict = {
        "machine": {
            "platform": platform.platform(),
            "torch": torch.__version__,
            "cpu_threads": torch.get_num_threads(),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        },
        "graph": bench_graphs(pos, box, args.cutoff, args.repeats),
        "models": {},
    }
    g = results["graph"]
    print(
        f"graph construction, N={g['n_particles']}, r<{args.cutoff}, {g['n_edges']} edges: "
        f"periodic_edges {g['periodic_edges_ms']:.1f} ms, "
        f"vesin direct {g['vesin_direct_ms']:.1f} ms"
    )
    batch = make_batch(pos, box, types, args.cutoff)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    if args.devices:
        devices = args.devices.split(",")
        if "cuda" in devices and not torch.cuda.is_available():
            raise SystemExit("--devices asks for cuda but torch sees no GPU")
    wanted = set(args.models.split(","))
    unknown = wanted - {"bapst", "se3"}
    if unknown:
        raise SystemExit(f"--models: unknown {sorted(unknown)}; choose from bapst, se3")
    n_species = int(types.max()) + 1
    models = {
        "bapst (paper, 70,721 params)": (BapstGNN(), False),
        "bapst_quick (make train)": (
            BapstGNN(
                hidden=48,
                n_steps=4,
                node_features="one_hot",
                edge_features="displacement_rbf",
                layer_norm=True,
                decode_edges=False,
                num_species=int(types.max()) + 1,
                num_targets=8,
            ),
            False,
        ),
    }
    if not args.skip_reference:
        models["bapst, naive reference forward"] = (BapstGNN(), True)
    if "bapst" not in wanted:
        models = {}
    for device in devices:
        todo = dict(models)
        if "se3" in wanted:
            todo.update(se3_models(device, n_species, args.cutoff, args.compile_cpu))
        for name, (model, reference) in todo.items():
            steps = max(2, args.steps // 2) if reference and device == "cpu" else args.steps
            r = bench_model(model, batch, device, steps, reference)
            results["models"][f"{name} [{device}]"] = r
            print(
                f"{name:34s} [{device}] {r['params']:>7d} params: "
                f"train {r['train_graphs_per_s']:.3f} graphs/s "
                f"({r['train_s_per_graph']:.2f} s/graph), "
                f"inference {r['inference_graphs_per_s']:.2f} graphs/s"
            )
    atomic_write_text(args.out, json.dumps(results, indent=2) + "\n")
    print(f"results written to {args.out}")


if __name__ == "__main__":
    main()
