"""The streaming benchmark job: generate the corpus, run every phase, write JSON, always clean up the corpus.

Kept apart from the phases so ``studies/streaming/main.py`` stays a thin flag parser.
"""
import dataclasses
import os
import shutil
import tempfile
import time

from absl import logging

from keras_ssl.base.errors import UserError
from keras_ssl.base.io_utils import atomic_write_json
from keras_ssl.benchmark.harness import rss_kb
from studies.streaming.stream import dataset_phase, prefix_phase, tokenizer_phase, vocab_phase
from studies.streaming.stream_corpus import generate_corpus

MB = 1 << 20


def _free_bytes(folder):
    stat = os.statvfs(folder)
    return stat.f_bavail * stat.f_frsize


def run_stream_benchmark(config, corpus_bytes, num_files=4, work_dir=None, keep=False, output_json=None):
    """Runs every phase on a fresh ~``corpus_bytes`` corpus under ``work_dir`` (default: the temp dir).

    The corpus is deleted at the end unless ``keep``.  Returns the results dict (also written to ``output_json``).
    """
    parent = work_dir or tempfile.gettempdir()
    os.makedirs(parent, exist_ok=True)
    needed = corpus_bytes + max(config.prefix_mb + (config.tokenizer_mb,)) * MB
    if _free_bytes(parent) < 1.2 * needed:
        raise UserError(f"{parent} has {_free_bytes(parent) / MB:,.0f} MB free; the corpus needs "
                        f"{needed / MB:,.0f} MB: pass a smaller --corpus_mb or another --work_dir")
    folder = tempfile.mkdtemp(dir=parent, prefix="stream_corpus_")
    try:
        results = {"rss_start_kb": rss_kb()[0], "config": dataclasses.asdict(config),
                   "load_average_start": os.getloadavg()[0], "cpu_count": os.cpu_count()}
        start = time.perf_counter()
        paths = generate_corpus(folder, corpus_bytes, num_files, config.seed)
        results["corpus"] = {"folder": folder if keep else None, "files": len(paths),
                             "bytes": sum(os.path.getsize(p) for p in paths),
                             "generate_seconds": time.perf_counter() - start}
        logging.info("corpus: %d files, %.0f MB in %.1f s", len(paths), results["corpus"]["bytes"] / MB,
                     results["corpus"]["generate_seconds"])
        vocab, results["vocabulary"] = vocab_phase(paths, config)
        logging.info("vocabulary pass: %.2f M tokens/s", results["vocabulary"]["tokens_per_s"] / 1e6)
        results["dataset"] = dataset_phase(paths, vocab, config)
        logging.info("dataset pass: %.2f M tokens/s", results["dataset"]["tokens_per_s"] / 1e6)
        results["tokenizers"] = tokenizer_phase(paths[0], vocab, config.tokenizer_mb * MB, folder)
        results["prefixes"] = prefix_phase(paths[0], config, folder)
        results["load_average_end"] = os.getloadavg()[0]
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
    if output_json:
        atomic_write_json(output_json, results)
    return results


def _mb(kb):
    return "-" if kb is None else f"{kb / 1024:,.0f}"


def stream_table(results):
    """Markdown: one row per phase (time, tokens/s, RSS before, peak RSS, peak growth) and the prefix study."""
    corpus, vocab, ds, tok = results["corpus"], results["vocabulary"], results["dataset"], results["tokenizers"]
    lines = [f"corpus: {corpus['files']} files, {corpus['bytes'] / MB:,.0f} MB, generated in "
             f"{corpus['generate_seconds']:.1f} s; process RSS at start {_mb(results['rss_start_kb'])} MB; load "
             f"average {results['load_average_start']:.1f} → {results['load_average_end']:.1f} on "
             f"{results['cpu_count']} cores" + (f"; kept in {corpus['folder']}" if corpus["folder"] else ""), "",
             "| phase | data | seconds | CPU s | M tokens | M tokens/s | RSS before (MB) | peak RSS (MB) | "
             "peak growth (MB) |", "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, row, data in (("vocabulary (streamed)", vocab, "whole corpus"),
                            ("MLM dataset (streamed)", ds, "whole corpus" if ds["complete"] else "time-capped")):
        lines.append(f"| {name} | {data} | {row['seconds']:.1f} | {row['cpu_seconds']:.1f} | "
                     f"{row['tokens'] / 1e6:,.1f} | "
                     f"{row['tokens_per_s'] / 1e6:.2f} | {_mb(row['rss_before_kb'])} | {_mb(row['peak_rss_kb'])} | "
                     f"{_mb(row.get('peak_growth_kb'))} |")
    lines += ["", f"tokenizer on {tok['bytes'] / MB:.0f} MB: Python (1 core) {tok['python_tokens_per_s'] / 1e6:.2f} "
              f"M tokens/s ({tok['python_cpu_seconds']:.1f} CPU s), in-graph (parallel map) "
              f"{tok['graph_tokens_per_s'] / 1e6:.2f} M tokens/s ({tok['graph_cpu_seconds']:.1f} CPU s); "
              f"ids equal on the first MB: {tok['ids_equal_on_first_mb']}", "",
              "| corpus prefix (MB) | path | peak growth (MB) | growth / corpus size | seconds |",
              "|---:|---|---:|---:|---:|"]
    for row in results["prefixes"]:
        growth = row.get("peak_growth_kb")
        ratio = "-" if growth is None else f"{growth * 1024 / row['bytes']:.2f}x"
        lines.append(f"| {row['bytes'] / MB:.0f} | {row['mode']} | {_mb(growth)} | {ratio} | {row['seconds']:.1f} |")
    return "\n".join(lines)
