"""The design documents' compression claim next to what we measure on our own models.

The design documents (articles outside this repository) claim pruning + quantization took a model from 132 MB to
11 MB (12x), made it about 10x faster, and left accuracy unchanged (``ARTICLE_CLAIM``).  We hold each pipeline
report to that: the smallest artifact within the accuracy budget, its size ratio (vs the Keras file the user
starts with, and vs the float32 .tflite), its speed ratio (vs Keras ``tf.function`` and vs float32 TFLite,
batch 1) and its accuracy change.
"""

ARTICLE_CLAIM = {"source": "article 000: 132 MB -> 11 MB, ~10x faster, accuracy unchanged",
                 "size_ratio": 132 / 11, "speed_ratio": 10.0, "accuracy_change_points": 0.0}


def best_within_budget(report, budget_points=1.0):
    """The smallest (gzip) TFLite variant whose accuracy is within ``budget_points`` of the baseline."""
    base = next(v for v in report["variants"] if v["name"] == report["baseline"])
    ok = [v for v in report["variants"] if v["format"] == "tflite"
          and 100 * (base["accuracy"] - v["accuracy"]) <= budget_points]
    return min(ok, key=lambda v: v["gzip_bytes"])


def claim_row(report, budget_points=1.0):
    """One report's claim numbers: ratios are baseline / best (>1 = smaller or faster), accuracy in points.

    The ``*_vs_keras*`` keys are present only when the report has a ``keras_float32`` row.
    """
    by_name = {v["name"]: v for v in report["variants"]}
    base, keras = by_name[report["baseline"]], by_name.get("keras_float32")
    best = best_within_budget(report, budget_points)
    row = {"task": report["task"], "artifact": best["name"], "recipe": best["recipe"],
           "gzip_ratio_vs_tflite_float32": base["gzip_bytes"] / best["gzip_bytes"],
           "speed_ratio_vs_tflite_float32": base["latency_us_p50"] / best["latency_us_p50"],
           "accuracy_change_points": 100 * (best["accuracy"] - base["accuracy"])}
    if keras:
        row["size_ratio_vs_keras_file"] = keras["size_bytes"] / best["size_bytes"]
        row["speed_ratio_vs_keras"] = keras["latency_us_p50"] / best["latency_us_p50"]
    return row


def claims_markdown(reports, budget_points=1.0):
    """Markdown table: the design documents' claimed row, then one measured row per pipeline report."""
    c = ARTICLE_CLAIM
    lines = [f"Claim ({c['source']}) against the smallest artifact within {budget_points:g} point of the float32 "
             "baseline, measured by running it:", "",
             "| source | artifact | size ratio (vs Keras file) | gzip ratio (vs float32 .tflite) | "
             "speed ratio (vs Keras, batch 1) | speed ratio (vs float32 .tflite) | accuracy change (pt) |",
             "|---|---|---:|---:|---:|---:|---:|",
             f"| article 000 (claimed) | - | {c['size_ratio']:.1f}x | - | ~{c['speed_ratio']:.0f}x | - | "
             f"{c['accuracy_change_points']:+.1f} |"]
    for report in reports:
        r = claim_row(report, budget_points)
        lines.append(f"| measured: {r['task']} | {r['artifact']} | {r.get('size_ratio_vs_keras_file', 0):.1f}x | "
                     f"{r['gzip_ratio_vs_tflite_float32']:.1f}x | {r.get('speed_ratio_vs_keras', 0):.1f}x | "
                     f"{r['speed_ratio_vs_tflite_float32']:.2f}x | {r['accuracy_change_points']:+.2f} |")
    return "\n".join(lines)
