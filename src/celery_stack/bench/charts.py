"""One PNG chart per figure of a benchmark report (matplotlib, no display)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on CI machines
import matplotlib.pyplot as plt

COLORS = {"A": "#1b7837", "B": "#5aae61", "C": "#c2a5cf"}


def _bars(ax, setups: dict, key: str, label: str) -> None:
    names = [n for n in ("A", "B", "C") if n in setups and setups[n].get(key)]
    # Figure 4 is a mean over one long window; the others are medians of runs.
    medians = [setups[n][key].get("mean", setups[n][key].get("median")) for n in names]
    # A mean need not lie inside [min, max] to the last bit: matplotlib refuses a
    # negative error bar (seen: a QUICK run failed on it), so clamp at 0.
    low = [max(0.0, m - setups[n][key]["min"]) for n, m in zip(names, medians, strict=True)]
    high = [max(0.0, setups[n][key]["max"] - m) for n, m in zip(names, medians, strict=True)]
    ax.bar(names, medians, yerr=[low, high], capsize=6, color=[COLORS[n] for n in names])
    ax.set_ylabel(label)
    for i, v in enumerate(medians):
        ax.annotate(f"{v:.3g}", (i, v), ha="center", va="bottom", fontsize=8)


def write(report: dict, out: Path) -> list[Path]:
    f = report["figures"]
    paths = []

    def save(fig, name: str) -> None:
        fig.tight_layout()
        path = out / f"{name}.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        paths.append(path)

    fig, axes = plt.subplots(1, 2, figsize=(8, 3.5))
    _bars(axes[0], f["hol"]["setups"], "p50_ms", "p50 latency (ms)")
    _bars(axes[1], f["hol"]["setups"], "p99_ms", "p99 latency (ms)")
    for ax in axes:
        ax.set_yscale("log")
    fig.suptitle("1. Small priority tasks behind a bulk backlog (median, min-max)")
    save(fig, "fig1-head-of-line")

    fig, ax = plt.subplots(figsize=(5, 3.5))
    _bars(ax, f["throughput"]["setups"], "tasks_per_s", "tasks/s")
    ax.set_title("2. No-op throughput, published -> executed")
    save(fig, "fig2-throughput")

    fig, ax = plt.subplots(figsize=(8, 3.5))
    for name, s in f["memory"]["setups"].items():
        ax.plot([p[0] for p in s["series"]], [p[1] for p in s["series"]], marker=".",
                color=COLORS[name], label=name)
        storm_start = next((p[0] for p in s["series"] if p[2] != "idle"), None)
        if storm_start is not None:
            ax.axvline(storm_start + s["detach_at"], color=COLORS[name], linestyle=":")
    ax.set_xlabel("s (dotted: monitor stalled)")
    ax.set_ylabel("broker memory (MiB)")
    ax.legend()
    ax.set_title("3. Broker memory during an event storm")
    save(fig, "fig3-broker-memory")

    fig, ax = plt.subplots(figsize=(5, 3.5))
    _bars(ax, f["overhead"]["setups"], "messages_per_s", "messages/s")
    ax.set_title("4. Idle broker traffic (non-task messages, mean over the window)")
    save(fig, "fig4-idle-overhead")

    fig, ax = plt.subplots(figsize=(5, 3.5))
    ops = f["ops"]["setups"]["A"]
    keys = [k for k in ("make_up_cold_s", "make_up_warm_s") if ops.get(k)]
    ax.bar(keys, [ops[k]["median"] for k in keys], color=COLORS["A"],
           yerr=[[max(0.0, ops[k]["median"] - ops[k]["min"]) for k in keys],
                 [max(0.0, ops[k]["max"] - ops[k]["median"]) for k in keys]], capsize=6)
    ax.set_ylabel("seconds to all-healthy")
    ax.set_title("5. Ops speed (setup A)")
    save(fig, "fig5-ops")
    return paths
