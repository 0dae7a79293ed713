"""Knowledge distillation (Hinton et al. 2015): a small student learns the teacher's softened output distribution.

    loss = alpha * CE(y, student) + (1 - alpha) * T² * KL(softmax(teacher / T) || softmax(student / T))

T² keeps the soft term's gradients on the scale of the hard term's whatever the temperature.  One ``Distiller``
(a ``tf_keras.Model`` with its own ``train_step``, as in the Keras distillation example) serves every data shape:

- ``(x, y)``: a classifier with labels; labels < 0 mark unlabeled examples, which get only the teacher's signal, so
  one dataset can hold a few labeled and many unlabeled images;
- ``(x, y, sample_weight)``: the MLM from ``mlm_dataset``; both terms count only weighted (masked) positions,
  weighted by the sample weights;
- ``x`` alone: no labels at all, pure teacher signal ``T² * KL`` whatever ``alpha`` (e.g. every image, unlabeled).

Both models output logits.  ``distill`` returns the trained student itself: a plain Keras model that saves, converts
to TFLite and goes on to pruning or quantisation.
"""
import dataclasses

from absl import logging

from keras_ssl.base.errors import UserError
from keras_ssl.base.keras import tf, tf_keras
from keras_ssl.compress.byo import copy_model, is_graph_model
from keras_ssl.training.fit import FitFields, fit_callbacks


@dataclasses.dataclass
class DistillConfig(FitFields):
    """Distillation settings; invalid values raise UserError.

    ``alpha`` weighs the hard-label loss (0 = teacher only, 1 = labels only); ``temperature`` softens both
    distributions so the teacher's ranking of the wrong classes (its "dark knowledge") carries signal.
    """
    temperature: float = 4.0
    alpha: float = 0.1
    epochs: int = 10
    learning_rate: float = 1e-3

    def __post_init__(self):
        if not self.temperature > 0:
            raise UserError(f"distillation temperature={self.temperature} must be positive (e.g. 2 to 8)")
        if not 0.0 <= self.alpha <= 1.0:
            raise UserError(f"distillation alpha={self.alpha} must be in [0, 1] (the weight of the hard-label loss)")
        if self.epochs < 1 or not self.learning_rate > 0:
            raise UserError(f"distillation needs epochs >= 1 and a positive learning rate, got {self.epochs}, "
                            f"{self.learning_rate}")


def soft_kl(teacher_logits, student_logits, temperature):
    """Per-example (or per-position) KL(softmax(t/T) || softmax(s/T)) over the last axis, in float32."""
    t = tf.cast(teacher_logits, tf.float32) / temperature
    s = tf.cast(student_logits, tf.float32) / temperature
    return tf.reduce_sum(tf.nn.softmax(t) * (tf.nn.log_softmax(t) - tf.nn.log_softmax(s)), axis=-1)


def _weighted_mean(values, weights):
    """sum(w * v) / sum(w); 0 when nothing is weighted (e.g. a batch without labels)."""
    return tf.math.divide_no_nan(tf.reduce_sum(values * weights), tf.reduce_sum(weights))


class Distiller(tf_keras.Model):
    """Trains ``student`` against a frozen ``teacher``; only the student's variables get gradients.

    ``call`` is the student's forward pass, so ``predict``/``evaluate`` on the Distiller measure the student.
    """

    def __init__(self, teacher, student, temperature=4.0, alpha=0.1, **kwargs):
        super().__init__(**kwargs)
        self.teacher = teacher
        self.student = student
        self.temperature = float(temperature)
        self.alpha = float(alpha)
        self.loss_tracker = tf_keras.metrics.Mean(name="loss")
        self.kl_tracker = tf_keras.metrics.Mean(name="distillation_loss")
        self.ce_tracker = tf_keras.metrics.Mean(name="student_loss")
        self.agreement = tf_keras.metrics.Mean(name="teacher_agreement")
        self.accuracy = tf_keras.metrics.SparseCategoricalAccuracy(name="accuracy")

    @property
    def metrics(self):
        """The trackers Keras resets at each epoch start."""
        return [self.loss_tracker, self.kl_tracker, self.ce_tracker, self.agreement, self.accuracy]

    def call(self, inputs, training=False):
        """The student's logits: the Distiller predicts what the student predicts."""
        return self.student(inputs, training=training)

    def compute_losses(self, data, training):
        """(total loss, updated metric names) for one batch of ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``."""
        x, y, sample_weight = tf_keras.utils.unpack_x_y_sample_weight(data)
        teacher_logits = tf.stop_gradient(self.teacher(x, training=False))
        student_logits = self.student(x, training=training)
        kl = soft_kl(teacher_logits, student_logits, self.temperature)
        weights = tf.ones_like(kl) if sample_weight is None else tf.cast(tf.reshape(sample_weight, tf.shape(kl)),
                                                                         tf.float32)
        kl_loss = self.temperature ** 2 * _weighted_mean(kl, weights)
        agree = tf.cast(tf.equal(tf.argmax(teacher_logits, -1), tf.argmax(student_logits, -1)), tf.float32)
        # Trackers weighted by each batch's weight sum: over an epoch they give the dataset-wide weighted means.
        self.agreement.update_state(_weighted_mean(agree, weights), sample_weight=tf.reduce_sum(weights))
        self.kl_tracker.update_state(kl_loss, sample_weight=tf.reduce_sum(weights))
        updated = ["loss", "distillation_loss", "teacher_agreement"]
        if y is None:  # no labels: pure teacher signal, whatever alpha
            loss = kl_loss
        else:
            y = tf.reshape(tf.cast(y, tf.int64), tf.shape(kl))
            labeled = weights * tf.cast(y >= 0, tf.float32)  # labels < 0 mark unlabeled examples
            y = tf.maximum(y, 0)
            ce = tf_keras.losses.sparse_categorical_crossentropy(y, tf.cast(student_logits, tf.float32),
                                                                 from_logits=True)
            ce_loss = _weighted_mean(ce, labeled)
            self.ce_tracker.update_state(ce_loss, sample_weight=tf.reduce_sum(labeled))
            self.accuracy.update_state(y, student_logits, sample_weight=labeled)
            loss = self.alpha * ce_loss + (1.0 - self.alpha) * kl_loss
            updated += ["student_loss", "accuracy"]
        if self.student.losses:  # the student's own regularisers
            loss += tf.add_n(self.student.losses)
        self.loss_tracker.update_state(loss, sample_weight=tf.reduce_sum(weights))
        return loss, updated

    def _results(self, updated):
        return {m.name: m.result() for m in self.metrics if m.name in updated}

    def train_step(self, data):
        """One optimizer step on the student's variables; the teacher runs in inference mode and never changes."""
        with tf.GradientTape() as tape:
            loss, updated = self.compute_losses(data, training=True)
        variables = self.student.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return self._results(updated)

    def test_step(self, data):
        """The same losses and metrics without an update (``evaluate`` / ``validation_data``)."""
        _, updated = self.compute_losses(data, training=False)
        return self._results(updated)


def check_pair(teacher, student):
    """UserError unless teacher and student take the same inputs and give logits over the same classes."""
    for role, model in (("teacher", teacher), ("student", student)):
        if not isinstance(model, tf_keras.Model):
            raise UserError(f"distillation {role} is a {type(model).__name__}: pass a tf_keras Model")
    if not is_graph_model(student):
        raise UserError(f"student {student.name!r} is a subclassed Keras model: build it with the functional API so "
                        "it can be copied, saved and converted (e.g. keras_ssl.models.students)")
    t_in, s_in = [list(t.shape[1:]) for t in teacher.inputs], [list(t.shape[1:]) for t in student.inputs]
    if t_in != s_in:
        raise UserError(f"teacher {teacher.name!r} inputs {t_in} differ from student {student.name!r} inputs {s_in}: "
                        "build the student for the same input shape")
    t_out, s_out = teacher.outputs[0].shape[-1], student.outputs[0].shape[-1]
    if t_out != s_out:
        raise UserError(f"teacher {teacher.name!r} has {t_out} outputs but student {student.name!r} has {s_out}: "
                        "both must give logits over the same classes / vocabulary")


def distillation_metrics(teacher, student, dataset, config):
    """Loss, KL term and teacher agreement (plus CE and accuracy when labeled) of ``student`` on ``dataset``,
    without training: measures how far a student is from its teacher, before or after ``distill``."""
    check_pair(teacher, student)
    distiller = Distiller(teacher, student, config.temperature, config.alpha, name=f"measure_{student.name}")
    distiller.compile(weighted_metrics=[])  # its own trackers weigh by sample weight
    return distiller.evaluate(dataset, verbose=0, return_dict=True)


def distill(teacher, student, dataset, config, compile_fn=None, callbacks=(), copy=True):
    """Trains a copy of ``student`` to match ``teacher`` on ``dataset`` (see the module docstring for its shapes).

    Returns the trained student, a plain Keras model; ``compile_fn(student)``, when given, compiles it with the
    task's loss so it can be evaluated or fine-tuned further.  Neither input model is modified, unless ``copy`` is
    False (a fresh student, e.g. wrapped for pruning, trains in place); ``callbacks`` are added to the fit.
    """
    check_pair(teacher, student)
    student = copy_model(student) if copy else student
    distiller = Distiller(teacher, student, config.temperature, config.alpha, name=f"distill_{student.name}")
    distiller.compile(optimizer=tf_keras.optimizers.Adam(config.learning_rate), weighted_metrics=[])
    history = distiller.fit(dataset, epochs=config.epochs, verbose=2,
                            callbacks=list(callbacks) + fit_callbacks(config, dataset))
    logging.info("distilled %r into %r: loss %.4f -> %.4f", teacher.name, student.name, history.history["loss"][0],
                 history.history["loss"][-1])
    if compile_fn is not None:
        compile_fn(student)
    return student
