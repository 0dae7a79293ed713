"""Measures data-parallel training throughput of 1 vs 2 local workers, and estimates N-host all-reduce cost.

    python -m studies.scaling.main [--model=mlm --mlm_size=demo --per_replica_batch=64 --steps=20]
        [--output_json=runs/scaling.json]

Each layout in ``studies.scaling.scaling.LAYOUTS`` runs the smoke job (``studies.scaling.distribute_smoke``) under the
launcher; the MLM is the demo's BiLSTM (452k parameters).  Prints the measured table, the all-reduce payload per
step, and the estimate table (all-reduce share of a step at 1/10/25 Gbit/s for 2-16 hosts).  The work is in
``studies.scaling.scaling``.
"""
import json

from absl import flags

from keras_ssl.cli.run import EXIT_FAILED, fail, start

FLAGS = flags.FLAGS
flags.DEFINE_enum("model", "mlm", ["mlm", "classifier"], "Which model's training step to measure.")
flags.DEFINE_enum("mlm_size", "demo", ["demo", "tiny"], "MLM size: demo = the demo run's 452k-parameter BiLSTM.")
flags.DEFINE_integer("per_replica_batch", 64, "Examples per replica per step (global = this x workers).",
                     lower_bound=1)
flags.DEFINE_integer("steps", 20, "Timed steps per layout.", lower_bound=1)
flags.DEFINE_integer("warmup_steps", 3, "Untimed first steps per layout.", lower_bound=1)
flags.DEFINE_integer("repeats", 2, "Runs per layout (interleaved); the fastest counts.", lower_bound=1)
flags.DEFINE_float("timeout", 600.0, "Seconds before a layout's workers are killed.", lower_bound=1.0)
flags.DEFINE_string("output_json", None, "Also write the measured and estimated rows here.")


def study_from_flags(args):
    """Measures every layout, then prints both tables."""
    from studies.scaling import scaling

    smoke_args = [f"--model={FLAGS.model}", f"--mlm_size={FLAGS.mlm_size}", f"--steps={FLAGS.steps}",
                  f"--warmup_steps={FLAGS.warmup_steps}", f"--per_replica_batch={FLAGS.per_replica_batch}"]
    try:
        measured = scaling.measure_all(scaling.LAYOUTS, smoke_args, FLAGS.timeout, FLAGS.repeats,
                                       report=lambda line: print(line, flush=True))
    except RuntimeError as e:
        fail(e, EXIT_FAILED)
    base = measured[0]
    estimates = scaling.estimate(base["trainable_bytes"], base["step_ms"] / 1000)
    print(f"\n{FLAGS.model}: {base['trainable_params']:,} trainable parameters = {base['trainable_bytes']:,} B of "
          f"gradients; ring all-reduce moves ~2x that per worker per step "
          f"({scaling.ring_allreduce_bytes(base['trainable_bytes'], 1000):,.0f} B for many hosts)\n")
    print(scaling.markdown(measured, estimates))
    if FLAGS.output_json:
        with open(FLAGS.output_json, "w", encoding="utf-8") as f:
            json.dump({"measured": measured, "estimates": estimates}, f, indent=2)


if __name__ == "__main__":
    start(__name__, study_from_flags)
