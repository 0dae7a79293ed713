"""Teacher → student on every training image at 1% of the labels (Fashion-MNIST, one seed), printed as one JSON line.

    python -m studies.teacher_student.main [--modes=soft,confident,distill] [--seed=0] [--epochs=8]
"""
import json

from absl import flags

from keras_ssl.cli.run import start

FLAGS = flags.FLAGS
flags.DEFINE_list("modes", ["soft", "confident", "distill"],
                  "How the students learn from the teacher: soft, confident, distill (one student each, one teacher).")
flags.DEFINE_integer("seed", 0, "Seed of the label subset, the SimCLR pretraining and both fits.")
flags.DEFINE_integer("epochs", 8, "The student's epochs over the 60,000 training images.", lower_bound=1)


def study_from_flags(args):
    """Runs the study and returns its result as one JSON line."""
    from studies.teacher_student.teacher_student import TeacherStudentConfig, run

    return json.dumps(run(TeacherStudentConfig(modes=tuple(FLAGS.modes), seed=FLAGS.seed, epochs=FLAGS.epochs)))


if __name__ == "__main__":
    start(__name__, study_from_flags)
