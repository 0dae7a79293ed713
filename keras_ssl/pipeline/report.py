"""The report contract (see README): ``report.json`` for scripts, ``report.md`` for people, a PNG for a glance.

Ratios are against the baseline row, the float32 .tflite of the uncompressed model: "12x" means twelve times
smaller (size) or faster (latency) than that artifact; accuracy change is in percentage points.
"""
import os

from keras_ssl.base.io_utils import atomic_write_json, atomic_write_text
from keras_ssl.base.machine import machine_info, machine_line
from keras_ssl.benchmark.claims import claims_markdown
from keras_ssl.benchmark.plots import plot_latency, plot_size_accuracy
from keras_ssl.pipeline.recipe_book import render_search

PLOTS = ("size_vs_accuracy.png", "latency.png")


def build_report(task, baseline, variants, ssl, config, timings, export=None, search=None):
    """The report.json dict; raises ValueError if ``baseline`` names none of the ``variants``.

    ``search`` is the accuracy-aware search's summary (``--recipe=auto``), None otherwise."""
    names = [v["name"] for v in variants]
    if baseline not in names:
        raise ValueError(f"baseline {baseline!r} is not among the variants {names}")
    # The machine rides along: latency (int8 above all) depends on the CPU's ISA as much as on the model.
    return {"task": task, "baseline": baseline, "variants": variants, "ssl": ssl, "export": export or {},
            "config": config, "timings_s": timings, "machine": machine_info(),
            **({"search": search} if search else {})}


def _ratio(base, value):
    if not value:
        return "-"
    ratio = base / value
    return f"{ratio:.1f}x" if ratio >= 1 else f"{ratio:.2f}x"


def render_table(report):
    """The main markdown table: every variant with sizes, accuracy and latency, ratios against the baseline."""
    base = next(v for v in report["variants"] if v["name"] == report["baseline"])
    lines = ["| variant | format | recipe | size (B) | gzip (B) | gzip vs base | params | sparsity | accuracy | "
             "Δ acc (pt) | p50 (µs) | speed vs base |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for v in report["variants"]:
        latency = v["latency_us_p50"]
        lines.append(
            f"| {v['name']} | {v['format']} | {v['recipe']} | {v['size_bytes']:,} | {v['gzip_bytes']:,} | "
            f"{_ratio(base['gzip_bytes'], v['gzip_bytes'])} | {v['params']:,} | {v['sparsity']:.2f} | "
            f"{v['accuracy']:.4f} | {100 * (v['accuracy'] - base['accuracy']):+.2f} | "
            f"{'-' if latency is None else f'{latency:.1f}'} | "
            f"{'-' if latency is None else _ratio(base['latency_us_p50'], latency)} |")
    return "\n".join(lines)


def _xnnpack(row):
    x = row.get("xnnpack")
    if not x:
        return "-"
    left = ", ".join(f"{op}x{n}" for op, n in x["not_delegated_ops"].items())
    return f"{x['delegated_nodes']}/{x['nodes']} in {x['partitions']}" + (f"; builtin: {left}" if left else "")


def render_export(report):
    """Per artifact: how it was checked against Keras, what runs where; then what was not exported and why.

    "vs its source model" compares a compressed artifact with the compressed Keras model it was converted from
    (pruned, QAT), so export fidelity is visible apart from what compression cost."""
    lines = ["| artifact | format | quantization | I/O dtypes | top-1 vs Keras | max abs diff | Δ acc vs Keras (pt) | "
             "Δ acc vs its source model (pt) | XNNPACK nodes (partitions) |",
             "|---|---|---|---|---:|---:|---:|---:|---|"]
    keras_accuracy = report["variants"][0]["accuracy"]
    for v in report["variants"][1:]:
        io = v.get("io_dtypes")
        io_text = f"{'/'.join(io['inputs'])} → {'/'.join(io['outputs'])}" if io else "-"
        source = v.get("source_accuracy", keras_accuracy)
        lines.append(f"| {v['name']} | {v['format']} | {v.get('quantization', '-')} | {io_text} | "
                     f"{v['agreement_with_keras']:.4f} | {v.get('max_abs_diff_vs_keras', 0):.2g} | "
                     f"{100 * (v['accuracy'] - keras_accuracy):+.2f} | {100 * (v['accuracy'] - source):+.2f} | "
                     f"{_xnnpack(v)} |")
    export = report.get("export", {})
    for skipped in export.get("skipped", []):
        lines += ["", f"- not exported: `{skipped['name']}`: {skipped['reason']}"]
    latency = export.get("tensorflow_latency_us")
    if latency:
        lines += ["", f"- TensorFlow at batch 1 (p50): eager {latency['eager_us']:.0f} µs, tf.function "
                      f"{latency['tf_function_us']:.0f} µs, XLA {latency['xla_us']:.0f} µs"]
    return "\n".join(lines)


def render_ssl(ssl):
    """The pretraining section: the label-fraction study (image task) or MLM vs unigram accuracy (text)."""
    if "label_fractions" in ssl:
        lines = ["| label fraction | labels | method | test accuracy |", "|---:|---:|---|---:|"]
        lines += [f"| {r['label_fraction']:g} | {r['num_labels']} | {r['method']} | {r['accuracy']:.4f} |"
                  for r in ssl["label_fractions"]]
        lines.append("")
        lines += [f"- {s['label_fraction']:g} of the labels: best pretrained ({s['best_pretrained']}) minus scratch = "
                  f"{s['gain_points']:+.2f} points ({'pretraining helps' if s['gain_points'] > 0 else 'no gain'})"
                  for s in ssl["summary"]]
        return "\n".join(lines)
    return (f"- masked-token accuracy {ssl['masked_token_accuracy']:.4f} vs unigram baseline "
            f"{ssl['unigram_accuracy']:.4f} (always '{ssl['unigram_token']}'): {ssl['gain_points']:+.2f} points "
            f"on {ssl['masked_positions']} masked positions of {ssl['test_sequences']} held-out sequences")


def render_markdown(report):
    """The full report.md text; plots are referenced by file name, so it must sit beside them."""
    parts = [f"# keras-ssl report: {report['task']}", "",
             f"Baseline: `{report['baseline']}` (float32 .tflite of the uncompressed model). Accuracy is measured by "
             "running each artifact on the test set; latency is batch 1, 1 thread, on "
             f"{machine_line(report['machine']) if 'machine' in report else 'an unrecorded CPU'}.", "",
             render_table(report), "", f"![size vs accuracy]({PLOTS[0]})", f"![latency]({PLOTS[1]})", "",
             "## Export validation", "", render_export(report), "",
             "## Claims vs measured", "", claims_markdown([report]), "",
             "## Self-supervised pretraining", "", render_ssl(report["ssl"]), ""]
    if report.get("search"):
        parts += ["## Accuracy-aware search", "", render_search(report["search"]), ""]
    parts += ["## Stage timings (s)", "", ", ".join(f"{k} {v:.1f}" for k, v in report["timings_s"].items()), ""]
    return "\n".join(parts)


def write_report(report, out_dir):
    """Writes the plots, report.json and report.md into ``out_dir`` (atomically); returns the markdown."""
    variants = report["variants"]
    plot_size_accuracy(report, os.path.join(out_dir, PLOTS[0]),
                       f"{report['task']}: size vs accuracy (measured artifacts)")
    plot_latency([v["name"] for v in variants], [v["latency_us"] for v in variants], os.path.join(out_dir, PLOTS[1]),
                 f"{report['task']}: latency, batch 1, 1 thread")
    atomic_write_json(os.path.join(out_dir, "report.json"), report)
    markdown = render_markdown(report)
    atomic_write_text(os.path.join(out_dir, "report.md"), markdown)
    return markdown
