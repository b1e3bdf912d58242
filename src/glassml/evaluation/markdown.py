"""Markdown rendering of an evaluation report (metrics.json -> report.md)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def fmt(v: float | None, digits: int = 3) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _time_labels(rep: Mapping[str, Any]) -> list[str]:
    times = rep.get("times")
    tau = rep["tau_alpha_time_index"]
    out = []
    isf = rep.get("is_values")  # Bapst rows: the ISF level that defines each time
    for k, idx in enumerate(rep["time_indices"]):
        label = f"{times[k]:.4g}" if times is not None else f"idx {idx}"
        label += "" if isf is None else f" (F_s = {isf[k]:.3g})"
        out.append(label + (" (tau_alpha)" if idx == tau else ""))
    return out


def render_report(rep: Mapping[str, Any], images: Sequence[str] = ()) -> str:
    """The whole report: set-up, Pearson with CIs and ceiling, chi4, spatial correlation."""
    labels = _time_labels(rep)
    pear = rep["pearson"]
    parts = [
        f"# Evaluation: {rep.get('dataset', '?')} ({rep['split']} split)",
        "",
        f"- checkpoint: `{rep.get('checkpoint', '?')}`",
        f"- {rep['n_configs']} configurations; target `{rep['target']}`, positions "
        f"`{rep['positions']}`; trained on species {', '.join(rep['train_species'])}",
        "- Pearson: *pooled* = all particles of the split together, *per-cfg* = mean of "
        "per-configuration values; [low, high] = 95% bootstrap interval over configurations",
        "- ceiling = sqrt of the Spearman-Brown-extrapolated split-half reliability of the "
        "iso-configurational ensemble (best Pearson any model can reach)",
        "",
    ]
    for sp in pear["model"]:
        ci = rep.get("pearson_ci", {}).get(sp, {})
        ceil = rep.get("ceiling", {}).get(sp, {}).get("ceiling", {})
        base = pear.get("baseline_local_density", {}).get(sp, {})
        rows = []
        for k, label in enumerate(labels):
            row = [label]
            for kind in ("pooled", "per_config"):
                c = ci.get(kind)
                v = pear["model"][sp].get(kind, [None] * len(labels))[k]
                interval = f" [{fmt(c['low'][k])}, {fmt(c['high'][k])}]" if c else ""
                row.append(fmt(v) + interval)
                row.append(fmt(base.get(kind, [None] * len(labels))[k]))
                row.append(fmt(ceil[kind][k]) if kind in ceil else "-")
            rows.append(row)
        parts += [
            f"## Pearson correlation, species {sp}",
            "",
            table(
                [
                    "time",
                    "model pooled",
                    "baseline",
                    "ceiling",
                    "model per-cfg",
                    "baseline",
                    "ceiling",
                ],
                rows,
            ),
            "",
        ]
    stored = rep.get("published_from_files", {})
    for sp in pear["model"] if stored else ():
        keys = [k for k in stored if sp in stored[k]]
        rows = [
            [label, fmt(pear["model"][sp].get("per_config", [None] * len(labels))[k])]
            + [fmt(stored[key][sp].get("per_config", [None] * len(labels))[k]) for key in keys]
            for k, label in enumerate(labels)
        ]
        parts += [
            f"## Published models on the same test files, species {sp}",
            "",
            "Per-configuration Pearson of the predictions stored in the test files "
            "(recomputed with the same metric as the model's).",
            "",
            table(["time", "this model", *keys], rows),
            "",
        ]
    if rep.get("chi4"):
        opts = rep.get("chi4_definition", "")
        parts += ["## Dynamic susceptibility chi4(t)", "", opts, ""]
        for sp, c in rep["chi4"].items():
            rows = [
                [label, fmt(c["true"][k], 2), fmt(c["pred"][k], 2), fmt(c["ratio"][k])]
                for k, label in enumerate(labels)
            ]
            parts += [
                f"species {sp} ({c['n_particles']} particles per configuration)",
                "",
                table(["time", "chi4 true", "chi4 predicted", "ratio"], rows),
                "",
            ]
    if rep.get("spatial"):
        rows = [
            [sp, labels[s["time_position"]], fmt(s["xi_true"]), fmt(s["xi_pred"])]
            for sp, s in rep["spatial"].items()
        ]
        parts += [
            "## Spatial correlation of propensity",
            "",
            "xi = integral correlation length of C(r) (see glassml.evaluation.spatial)",
            "",
            table(["species", "time", "xi true", "xi predicted"], rows),
            "",
        ]
    if rep.get("notes"):
        parts += ["## Notes", ""] + [f"- {n}" for n in rep["notes"]] + [""]
    if images:
        parts += ["## Plots", ""] + [f"![{name}]({name})" for name in images] + [""]
    return "\n".join(parts)
