"""Benchmark the training pipeline: graph construction and Bapst GNN throughput.

* graph construction per configuration: `glassml.data.graph.periodic_edges` (vesin plus
  self-loops and receiver ordering) against vesin's neighbour list called directly;
* training throughput of the Bapst GNN (paper size, 70,721 parameters) in graphs per
  second, forward + backward + Adam step, one configuration per step as in the paper,
  on CPU and, when present, on the GPU; also the straightforward reference forward and
  the `bapst_quick` model used by `make train`;
* the same for the SE(3) GNN (`model=se3_gnn`, ~51k parameters, and `se3_gnn_quick`):
  e3nn, and on a GPU also with the cuEquivariance convolution (`backend=cueq`, when
  cuequivariance-torch is installed).

Precision (`--precisions 32,tf32,bf16-mixed`): float32; float32 with TF32 matrix
products (`trainer.matmul_precision=high`); bfloat16 autocast with float32 weights
(`trainer.precision=bf16-mixed`). `--compile` adds the torch.compile'd models on a GPU,
`--compile-cpu` on the CPU (compilation takes minutes there). On a GPU the mean
utilisation reported by nvidia-smi during the timed training steps is printed, and for
the paper-size Bapst model the time of the paper's schedule (400k steps of one graph,
REFERENCE.md).

Configurations are KA-like (N = 4096, rho = 1.2, 80:20) jittered lattices unless
`--data` points at a dataset directory, whose first file is then used.

    python scripts/bench_train.py [--n 4096] [--steps 5] [--data data/sample]
        [--models bapst,se3] [--compile-cpu] [--compile] [--precisions 32,bf16-mixed]
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import subprocess
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


BAPST_STEPS = 400_000  # the paper's schedule: one 4096-particle graph per step
PRECISIONS = ("32", "tf32", "bf16-mixed")


class GpuUtilisation:
    """Mean GPU utilisation (%) sampled by nvidia-smi every 100 ms inside a `with` block;
    `value` stays None where nvidia-smi is missing."""

    def __init__(self, active: bool):
        self.active = active and shutil.which("nvidia-smi") is not None
        self.value: float | None = None

    def __enter__(self) -> GpuUtilisation:
        if self.active:
            cmd = ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"]
            self._proc = subprocess.Popen(
                [*cmd, "-i", "0", "-lms", "100"], stdout=subprocess.PIPE, text=True
            )
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.active:
            return
        self._proc.terminate()
        out, _ = self._proc.communicate()
        samples = [float(x) for x in out.split() if x.strip().replace(".", "").isdigit()]
        self.value = statistics.mean(samples) if samples else None


def bench_model(
    model: torch.nn.Module,
    batch: Batch,
    device: str,
    steps: int,
    reference: bool = False,
    precision: str = "32",
) -> dict:
    model = model.to(device)
    batch = batch.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    fwd = model.reference_forward if reference else model.forward
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    dtype = torch.bfloat16 if precision == "bf16-mixed" else torch.float32
    autocast = torch.autocast(device_type=device, dtype=dtype, enabled=dtype != torch.float32)
    matmul = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("high" if precision == "tf32" else "highest")

    def step() -> None:
        opt.zero_grad()
        with autocast:
            loss = ((fwd(batch)[:, :1].float() - batch.y) ** 2).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sync()

    def infer() -> None:
        with torch.no_grad(), autocast:
            fwd(batch)
        sync()

    try:
        for _ in range(2 if device != "cpu" else 1):  # warm-up, compilation
            step()
        with GpuUtilisation(device != "cpu") as util:
            train_t = timeit(step, steps, warmup=0)
        infer_t = timeit(infer, steps)
    finally:
        torch.set_float32_matmul_precision(matmul)
    return {
        "params": count_parameters(model),
        "precision": precision,
        "train_s_per_graph": statistics.median(train_t),
        "train_graphs_per_s": 1.0 / statistics.median(train_t),
        "inference_graphs_per_s": 1.0 / statistics.median(infer_t),
        "gpu_utilisation_percent": util.value,
    }


def se3_models(
    device: str, n_species: int, cutoff: float, compiled: bool
) -> dict[str, tuple[torch.nn.Module, bool]]:
    """SE(3) GNN variants to time on `device`: sizes, cuEquivariance, and with `compiled`
    the torch.compile'd ones."""
    torch.manual_seed(0)
    common = {"num_species": n_species, "num_targets": 1, "cutoff": cutoff}
    out: dict[str, tuple[torch.nn.Module, bool]] = {
        "se3_gnn (default)": (SE3GNN(**common), False),
        "se3_gnn_quick": (SE3GNN(mul=8, n_layers=3, **common), False),
    }
    if compiled:
        out["se3_gnn, torch.compile"] = (SE3GNN(compile=True, **common), False)
    if device != "cpu" and cueq_available():
        out["se3_gnn, cuEquivariance"] = (SE3GNN(backend="cueq", **common), False)
        if compiled:
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
    parser.add_argument(
        "--precisions", default="32", help=f"comma-separated, from {', '.join(PRECISIONS)}"
    )
    parser.add_argument("--compile", action="store_true", help="also the compiled Bapst model")
    args = parser.parse_args()
    precisions = args.precisions.split(",")
    if set(precisions) - set(PRECISIONS):
        raise SystemExit(f"--precisions: choose from {', '.join(PRECISIONS)}")

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
        "bapst (paper)": (BapstGNN(), False),
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
        compiled = args.compile_cpu if device == "cpu" else args.compile
        if "bapst" in wanted and compiled:
            todo["bapst (paper), torch.compile"] = (BapstGNN(compile=True), False)
        if "se3" in wanted:
            todo.update(se3_models(device, n_species, args.cutoff, compiled))
        for name, (model, reference) in todo.items():
            steps = max(2, args.steps // 2) if reference and device == "cpu" else args.steps
            for precision in precisions:
                if precision != "32" and (device == "cpu" or reference):
                    continue  # TF32 and bf16 tensor cores: GPU options
                r = bench_model(model, batch, device, steps, reference, precision)
                results["models"][f"{name} [{device}, {precision}]"] = r
                util = r["gpu_utilisation_percent"]
                schedule = ""
                if name.startswith("bapst (paper)"):
                    hours = BAPST_STEPS * r["train_s_per_graph"] / 3600
                    schedule = f", paper schedule (400k steps) {hours:.2f} h"
                print(
                    f"{name:34s} [{device}, {precision:10s}] {r['params']:>7d} params: "
                    f"train {r['train_graphs_per_s']:.3f} graphs/s "
                    f"({r['train_s_per_graph']:.4f} s/graph), "
                    f"inference {r['inference_graphs_per_s']:.2f} graphs/s"
                    + (f", GPU busy {util:.0f}%" if util is not None else "")
                    + schedule,
                    flush=True,
                )
    atomic_write_text(args.out, json.dumps(results, indent=2) + "\n")
    print(f"results written to {args.out}")


if __name__ == "__main__":
    main()
