"""PNG plots and animations of sorting runs and sweeps (matplotlib, Agg backend)."""

from __future__ import annotations

import io
import shutil
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402

from glassml.io import atomic_write_bytes  # noqa: E402
from glassml.sorting import kernel as K  # noqa: E402
from glassml.sorting.analysis import Committor, sigmoid  # noqa: E402

# pixel classes of a snapshot: empty, free molecule, then domains by final fate
PIX_EMPTY, PIX_FREE, PIX_ALIVE, PIX_EXTRACTED, PIX_DISSOLVED = range(5)
FATE_CMAP = ListedColormap(["white", "0.6", "black", "tab:red", "tab:blue"])
FATE_LABELS = ["empty", "free", "domain (alive at end)", "extracted", "dissolved"]


def save_fig(fig: plt.Figure, path: Path, dpi: int = 120) -> None:
    """Write a figure atomically and close it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(Path(path), buf.getvalue())


def fate_image(
    occ: np.ndarray, site_rec: np.ndarray, ids: np.ndarray, final: np.ndarray
) -> np.ndarray:
    """Pixel classes of one snapshot: domains coloured by the fate they will meet."""
    img = np.where(occ, PIX_FREE, PIX_EMPTY).astype(np.int8)
    tracked = site_rec >= 0
    if tracked.any() and len(ids):
        pos = np.clip(np.searchsorted(ids, site_rec[tracked]), 0, len(ids) - 1)
        f = np.where(ids[pos] == site_rec[tracked], final[pos], K.ALIVE)
        pix = np.select(
            [f == K.EXTRACTED, f == K.DISSOLVED], [PIX_EXTRACTED, PIX_DISSOLVED], PIX_ALIVE
        )
        img[tracked] = pix
    return img


def _snapshot_images(a: dict[str, np.ndarray], shape: tuple[int, int], dom: dict[str, np.ndarray]):
    n = shape[0] * shape[1]
    for k in range(len(a["snap_t"])):
        occ = np.unpackbits(a["snap_occ"][k])[:n].astype(bool)
        img = fate_image(occ, a["snap_rec"][k], dom["id"], dom["final_fate"])
        yield float(a["snap_t"][k]), img.reshape(shape)


def _show(ax: plt.Axes, img: np.ndarray, title: str) -> None:
    ax.imshow(img, cmap=FATE_CMAP, vmin=-0.5, vmax=4.5, interpolation="nearest", origin="lower")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def run_plots(
    out: Path,
    p: Any,
    series: dict[str, np.ndarray],
    dom: dict[str, np.ndarray],
    comm: Committor,
    t0: float,
    a: dict[str, np.ndarray],
) -> None:
    """Time series, committor, lifetime histograms, snapshots (and animation) of one run."""
    t = series["t"]
    n_sites = p.nx * p.ny
    fig, axs = plt.subplots(3, 1, figsize=(7, 7), sharex=True)
    axs[0].plot(t, series["density"], lw=1)
    axs[0].set_ylabel("density")
    axs[1].plot(t, series["n_domains"], lw=1, label=f"domains (size >= {p.domain_min_size})")
    axs[1].set_ylabel("domains")
    axs[1].legend(fontsize=8)
    axs[2].plot(t, series["monomers"] / n_sites, lw=1, label="monomers")
    axs[2].plot(t, series["free"] / n_sites, lw=1, label="free molecules")
    axs[2].set_ylabel("per site")
    axs[2].legend(fontsize=8)
    axs[2].set_xlabel("t  [1/k_D]")
    for ax in axs:
        ax.axvline(t0, color="k", ls=":", lw=1)
    axs[0].set_title(
        f"phi={p.phi_molecule:g} per molecule ({p.phi_neighbour:g} per neighbour), g={p.g:g}, "
        f"M={p.M}, L={p.L}  (dotted: end of transient)",
        fontsize=9,
    )
    save_fig(fig, out / "timeseries.png")

    fig, ax = plt.subplots(figsize=(6, 4))
    ok = comm.count > 0
    ax.errorbar(comm.sizes[ok], comm.p[ok], yerr=comm.err[ok], fmt="o", ms=3, label="measured")
    if np.isfinite(comm.n_c):
        x = np.linspace(comm.sizes[0], comm.sizes[-1], 200)
        ax.plot(x, sigmoid(x, comm.n_c, comm.width), label=f"sigmoid, n_c = {comm.n_c:.1f}")
        ax.axvline(comm.n_c, color="k", ls=":", lw=1)
    ax.axhline(0.5, color="0.7", lw=0.8)
    ax.set_xlabel("domain size n")
    ax.set_ylabel("P(extracted | reached n)")
    ax.set_title(
        f"committor  phi={p.phi_molecule:g} per molecule ({p.phi_neighbour:g} per neighbour), "
        f"g={p.g:g}",
        fontsize=9,
    )
    ax.legend(fontsize=8)
    save_fig(fig, out / "committor.png")

    lifetime_plot(out / "lifetimes.png", dom, t0)

    shape = (p.ny, p.nx)
    frames = list(_snapshot_images(a, shape, dom))
    if frames:
        pick = [frames[0], frames[len(frames) // 2], frames[-1]]
        fig, axs = plt.subplots(1, 3, figsize=(12, 4.4))
        for ax, (ts, img) in zip(axs, pick, strict=True):
            _show(ax, img, f"t = {ts:.4g}")
        handles = [plt.Rectangle((0, 0), 1, 1, color=FATE_CMAP(i)) for i in range(5)]
        fig.legend(handles, FATE_LABELS, loc="lower center", ncol=5, fontsize=8, frameon=False)
        save_fig(fig, out / "snapshots.png")
        if p.animation != "none":
            _animate(out / f"animation.{p.animation}", frames, p.animation_frames, p.animation)


def lifetime_plot(path: Path, dom: dict[str, np.ndarray], t0: float) -> None:
    """Lifetimes (own and from the earliest birth in the domain's merges) and maximal sizes of
    the productive and unproductive domains born after the transient; an axis without
    data says so instead of carrying an empty legend."""
    fig, axs = plt.subplots(1, 2, figsize=(10, 4))
    after = dom["birth_time"] >= t0
    for fate, name, col in (
        (K.EXTRACTED, "productive (extracted)", "tab:red"),
        (K.DISSOLVED, "unproductive (dissolved)", "tab:blue"),
    ):
        m = after & (dom["fate"] == fate)
        if m.sum() < 2:
            continue
        life = dom["lifetime"][m]
        bins = np.logspace(np.log10(max(life.min(), 1e-3)), np.log10(life.max() + 1e-9), 40)
        axs[0].hist(life, bins=bins, alpha=0.6, color=col, label=f"{name}: {m.sum()}")
        if "lineage_lifetime" in dom:
            lin = dom["lineage_lifetime"][m & (dom["lineage_birth_time"] >= t0)]
            if len(lin) >= 2:
                bins = np.logspace(np.log10(max(lin.min(), 1e-3)), np.log10(lin.max() + 1e-9), 40)
                axs[0].hist(
                    lin,
                    bins=bins,
                    histtype="step",
                    color=col,
                    ls="--",
                    label=f"{name}, from the earliest birth in its merges",
                )
        axs[1].hist(
            dom["max_size"][m],
            bins=np.arange(0.5, dom["max_size"][m].max() + 1.5),
            alpha=0.6,
            color=col,
            label=name,
        )
    axs[0].set_xlabel("lifetime  [1/k_D]")
    axs[1].set_xlabel("maximum size")
    for ax in axs:
        if ax.get_legend_handles_labels()[0]:
            ax.set_yscale("log")
            ax.legend(fontsize=8)
        else:
            ax.text(
                0.5,
                0.5,
                "no domains\n(fewer than 2 of each class born after the transient)",
                ha="center",
                va="center",
                transform=ax.transAxes,
            )
    if axs[0].get_legend_handles_labels()[0]:
        axs[0].set_xscale("log")
    save_fig(fig, path)


def ffmpeg_exe() -> str:
    """The ffmpeg binary for MP4 animations: one on PATH, else imageio-ffmpeg's."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg
    except ImportError as err:
        raise RuntimeError(
            "simulator.animation=mp4 needs ffmpeg: put it on PATH or `pip install "
            "imageio-ffmpeg` (or use simulator.animation=gif)"
        ) from err
    return imageio_ffmpeg.get_ffmpeg_exe()


def _animate(path: Path, frames: list[tuple[float, np.ndarray]], n_frames: int, kind: str) -> None:
    from matplotlib import animation

    step = max(1, len(frames) // n_frames)
    frames = frames[::step]
    fig, ax = plt.subplots(figsize=(5, 5))
    im = ax.imshow(
        frames[0][1], cmap=FATE_CMAP, vmin=-0.5, vmax=4.5, interpolation="nearest", origin="lower"
    )
    ax.set_xticks([])
    ax.set_yticks([])
    title = ax.set_title("")

    def update(k: int):
        im.set_data(frames[k][1])
        title.set_text(f"t = {frames[k][0]:.4g}  (red: will be extracted, blue: will dissolve)")
        return im, title

    anim = animation.FuncAnimation(fig, update, frames=len(frames), blit=False)
    tmp = path.with_name(f".{path.name}.tmp{path.suffix}")
    if kind == "gif":
        anim.save(tmp, writer=animation.PillowWriter(fps=8))
    else:
        plt.rcParams["animation.ffmpeg_path"] = ffmpeg_exe()
        anim.save(tmp, writer=animation.FFMpegWriter(fps=8))
    plt.close(fig)
    tmp.replace(path)
