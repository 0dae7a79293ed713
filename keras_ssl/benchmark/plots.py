"""PNG plots (matplotlib, Agg): latency with its spread, and size vs accuracy with the Pareto front."""
import os

import matplotlib

matplotlib.use("Agg")
from matplotlib import pyplot as plt  # noqa: E402


def _save(fig, path):
    tmp = path + ".tmp.png"
    fig.tight_layout()
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    os.replace(tmp, path)


def plot_latency(names, stats, path, title="latency (batch 1)"):
    """One bar per graph at p50, whiskers from min to p90 (log scale: graphs can differ 100x)."""
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(names)), 4))
    p50 = [s["p50"] for s in stats]
    low = [s["p50"] - s["min"] for s in stats]
    high = [s["p90"] - s["p50"] for s in stats]
    ax.bar(range(len(names)), p50, yerr=[low, high], capsize=4, color="#4c72b0")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("µs per inference (p50; whiskers min..p90)")
    ax.set_title(title)
    ax.grid(True, axis="y", which="both", alpha=0.3)
    _save(fig, path)


def pareto_front(points):
    """Indices of (size, accuracy) points no other point beats on both (smaller and at least as accurate)."""
    front = []
    for i, (size, acc) in enumerate(points):
        dominated = any((s <= size and a >= acc) and (s, a) != (size, acc) for s, a in points)
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: points[i][0])


def plot_size_accuracy(report, path, title):
    """Gzip size (log) against accuracy for every variant of a pipeline report: one marker per variant in a legend
    (a dozen variants cluster too tightly for text labels), the Pareto front drawn as a line, the baseline starred,
    and the front's points labelled."""
    fig, ax = plt.subplots(figsize=(9, 4.8))
    variants = report["variants"]
    points = [(v["gzip_bytes"], 100 * v["accuracy"]) for v in variants]
    markers = "osD^vP<>Xhpd"
    for i, (v, (size, acc)) in enumerate(zip(variants, points)):
        name = v["name"]
        ax.scatter(size, acc, s=110 if name == report["baseline"] else 45, alpha=0.85,
                   marker="*" if name == report["baseline"] else markers[i % len(markers)], label=name)
    front = pareto_front(points)
    ax.plot([points[i][0] for i in front], [points[i][1] for i in front], "--", color="gray", label="Pareto front")
    for i in front:
        ax.annotate(variants[i]["name"], points[i], fontsize=8, xytext=(5, -10), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("gzip size (bytes, log scale)")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    _save(fig, path)
