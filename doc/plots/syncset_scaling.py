#!/usr/bin/python3
"""Plot of sync-set lock + unlock cost against the number of buffers (doc/benchmarks.md).

Reads doc/plots/syncset_scaling.csv (columns: where, case, buffers, instructions;
`syncset_prev` is the sync set before branch sync-perf2, dashed; the
figures of doc/benchmarks.md, "Issue #15: the performance targets") and writes
doc/plots/syncset_scaling.png. Run from the repository root:

    /usr/bin/python3 doc/plots/syncset_scaling.py

Needs python3-matplotlib (apt-get install python3-matplotlib).
"""
import csv
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
LABELS = {
    "syncset_prev": "sync set before sync-perf2",
    "syncset": "dmasync sync set lock + unlock",
    "syncset_coherent": "sync set, Coherent buffers (host)",
    "publish": "baseline: acquire ctx + publish",
    "lockset": "baseline: acquire ctx + LockSet",
}
PANELS = [
    ("target", "Cortex-A53 (QEMU -icount, cargo xtask bench)"),
    ("host", "x86_64 host (callgrind, examples/syncset_icount)"),
]


def main():
    rows = {}
    with open(os.path.join(HERE, "syncset_scaling.csv")) as f:
        for r in csv.DictReader(f):
            key = (r["where"], r["case"])
            rows.setdefault(key, []).append((int(r["buffers"]), int(r["instructions"])))
    fig, axes = plt.subplots(1, len(PANELS), figsize=(11, 4.2))
    for ax, (where, title) in zip(axes, PANELS):
        for case, label in LABELS.items():
            pts = sorted(rows.get((where, case), []))
            if not pts:
                continue
            xs, ys = zip(*pts)
            style = "--" if case == "syncset_prev" else "-"
            ax.plot(xs, ys, style, marker="o", label=label)
            for x, y in pts:
                ax.annotate(str(y), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("buffers in the set")
        ax.set_ylabel("instructions per lock + unlock")
        ax.set_xticks([1, 4, 16])
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(HERE, "syncset_scaling.png"), dpi=110)


if __name__ == "__main__":
    main()
