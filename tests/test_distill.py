"""Knowledge distillation: a small student taught by the teacher on every image beats one taught by 10% labels."""
import numpy as np
import pytest

from keras_ssl.base.errors import UserError
from keras_ssl.base.keras import tf, tf_keras
from keras_ssl.base.metrics import count_params
from keras_ssl.compress.distill import DistillConfig, distill, distillation_metrics, soft_kl
from keras_ssl.data.images import label_subset
from keras_ssl.data.masking import fixed_masked_set, mlm_dataset
from keras_ssl.models.bilstm_mlm import MLMConfig, build_mlm
from keras_ssl.models.classifier import ClassifierConfig, build_classifier
from keras_ssl.models.students import (StudentClassifierConfig, build_student_classifier, build_student_mlm,
                                       student_config_for)
from keras_ssl.ssl.finetune import train_classifier
from keras_ssl.training.fit import TrainConfig, classification_dataset, classifier_accuracy, compile_for_logits
from tflite_export.convert import to_tflite
from tflite_export.runner import TFLiteModel

EPOCHS = 20
BATCH = 64


def test_default_student_has_ten_times_fewer_weights():
    teacher, student = count_params(build_classifier(ClassifierConfig())), count_params(build_student_classifier())
    print(f"default classifier {teacher} weights, default student {student} ({teacher / student:.1f}x fewer)")
    assert student * 10 <= teacher


def test_distilled_student_beats_the_same_student_on_labels_only(trained_classifier, digits8, tiny_classifier_config):
    config = student_config_for(tiny_classifier_config, widths=(4, 8))
    teacher_weights = [w.copy() for w in trained_classifier.get_weights()]
    labeled = label_subset(digits8.y_train, 0.1, seed=0)

    # Baseline: the same student, same seed, on the 10% labels only, for as many optimizer steps as distillation.
    tf_keras.utils.set_random_seed(1)
    labels_only = build_student_classifier(config)
    repeated = np.tile(labeled, 10)  # ~ as many examples per epoch as all images, so EPOCHS gives as many steps
    history = train_classifier(labels_only, digits8.x_train[repeated], digits8.y_train[repeated],
                               TrainConfig(epochs=EPOCHS, batch_size=BATCH, learning_rate=3e-3, verbose=0))

    # Distillation on all training images; label -1 marks the 90% without labels (teacher signal only).
    y = np.full_like(digits8.y_train, -1)
    y[labeled] = digits8.y_train[labeled]
    dataset = classification_dataset(digits8.x_train, y, BATCH, seed=0)
    distill_config = DistillConfig(epochs=EPOCHS, alpha=0.1, learning_rate=3e-3)
    tf_keras.utils.set_random_seed(1)
    fresh = build_student_classifier(config)
    fresh_weights = [w.copy() for w in fresh.get_weights()]
    before = distillation_metrics(trained_classifier, fresh, dataset, distill_config)
    assert history["accuracy"][-1] > 0.95, "the baseline fits its labels: it is not under-trained"
    student = distill(trained_classifier, fresh, dataset, distill_config,
                      compile_fn=lambda m: compile_for_logits(m, 1e-3))
    after = distillation_metrics(trained_classifier, student, dataset, distill_config)

    teacher_acc = classifier_accuracy(trained_classifier, digits8.x_test, digits8.y_test)
    distilled_acc = classifier_accuracy(student, digits8.x_test, digits8.y_test)
    labels_only_acc = classifier_accuracy(labels_only, digits8.x_test, digits8.y_test)
    print(f"teacher {count_params(trained_classifier)} weights acc {teacher_acc:.4f}; student "
          f"{count_params(student)} weights: distilled {distilled_acc:.4f} vs labels-only {labels_only_acc:.4f} "
          f"({len(labeled)} labels); KL term {before['distillation_loss']:.3f} -> {after['distillation_loss']:.3f}")
    assert distilled_acc > labels_only_acc + 0.01
    assert after["distillation_loss"] < 0.2 * before["distillation_loss"]
    assert after["teacher_agreement"] > 0.85
    # The artifact is the plain student (same layers as built), trained away from its initial weights; the teacher
    # and the caller's student are untouched.
    assert [layer.name for layer in student.layers] == [layer.name for layer in fresh.layers]
    assert student is not fresh and student.evaluate(digits8.x_test, digits8.y_test, verbose=0)[1] == \
        pytest.approx(distilled_acc, abs=1e-6)
    assert all(np.array_equal(a, b) for a, b in zip(teacher_weights, trained_classifier.get_weights()))
    assert all(np.array_equal(a, b) for a, b in zip(fresh_weights, fresh.get_weights()))
    assert not np.array_equal(student.get_layer("logits").kernel.numpy(), fresh.get_layer("logits").kernel.numpy())


def test_unlabeled_images_alone_teach_the_student(trained_classifier, digits8, tiny_classifier_config):
    images_only = classification_dataset(digits8.x_train, digits8.y_train, BATCH, seed=0).map(lambda x, y: x)
    config = DistillConfig(epochs=6, alpha=0.5, learning_rate=3e-3)
    tf_keras.utils.set_random_seed(2)
    fresh = build_student_classifier(student_config_for(tiny_classifier_config, widths=(4, 8)))
    before = distillation_metrics(trained_classifier, fresh, images_only, config)
    student = distill(trained_classifier, fresh, images_only, config)
    after = distillation_metrics(trained_classifier, student, images_only, config)
    accuracy = classifier_accuracy(student, digits8.x_test, digits8.y_test)
    print(f"no labels: KL term {before['distillation_loss']:.3f} -> {after['distillation_loss']:.3f}, "
          f"agreement {before['teacher_agreement']:.3f} -> {after['teacher_agreement']:.3f}, test acc {accuracy:.4f}")
    assert "accuracy" not in after, "no labels, so no label accuracy is claimed"
    assert after["loss"] == pytest.approx(after["distillation_loss"]), "pure teacher signal whatever alpha"
    assert after["distillation_loss"] < 0.5 * before["distillation_loss"]
    assert accuracy > 0.5


def test_mlm_distils_at_masked_positions_and_converts(tiny_mlm_config, token_sequences):
    # token_sequences are uniform random ids: nothing to learn at a masked position.  Runs of consecutive ids from
    # each sequence's first token give the teacher something real to know (the neighbours predict the mask).
    vocab = tiny_mlm_config.vocab_size
    sequences = ((token_sequences[:, :1] - 3 + np.arange(tiny_mlm_config.seq_len)) % (vocab - 3) + 3).astype(np.int32)
    tf_keras.utils.set_random_seed(0)
    teacher = compile_for_logits(build_mlm(tiny_mlm_config), 1e-2, sparse_weighted=True)
    teacher.fit(mlm_dataset(sequences, vocab, 32, seed=0), epochs=6, verbose=0)
    fresh = build_student_mlm(tiny_mlm_config, embedding_dim=4, lstm_units=4)
    assert count_params(fresh) < count_params(teacher)

    inputs, labels, weights = fixed_masked_set(sequences, vocab, seed=3)
    fixed = tf.data.Dataset.from_tensor_slices((inputs, labels, weights)).batch(64)
    config = DistillConfig(epochs=5, alpha=0.1, temperature=2.0, learning_rate=1e-2)
    before = distillation_metrics(teacher, fresh, fixed, config)
    student = distill(teacher, fresh, mlm_dataset(sequences, vocab, 32, seed=1), config)
    after = distillation_metrics(teacher, student, fixed, config)
    print(f"MLM student {count_params(student)} vs teacher {count_params(teacher)} weights; "
          f"loss {before['loss']:.3f} -> {after['loss']:.3f}, KL term {before['distillation_loss']:.3f} -> "
          f"{after['distillation_loss']:.3f}, agreement {before['teacher_agreement']:.3f} -> "
          f"{after['teacher_agreement']:.3f}")
    assert after["loss"] < 0.8 * before["loss"]
    assert after["distillation_loss"] < 0.7 * before["distillation_loss"]
    assert after["teacher_agreement"] > before["teacher_agreement"] + 0.05

    # The KL term is the weighted mean over masked positions only: recompute it from both models' logits.
    kl = soft_kl(teacher.predict(inputs, verbose=0), student.predict(inputs, verbose=0), 2.0).numpy()
    chosen = weights > 0
    assert 0 < chosen.mean() < 0.5
    assert after["distillation_loss"] == pytest.approx(4.0 * kl[chosen].mean(), rel=1e-3)
    assert abs(4.0 * kl.mean() - after["distillation_loss"]) > 1e-3, "unmasked positions would change it"

    runner = TFLiteModel(model_content=to_tflite(student, "float32"))
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in runner.op_names()
    np.testing.assert_allclose(runner.predict(inputs[:3]), student.predict(inputs[:3], verbose=0), atol=1e-4)


@pytest.mark.parametrize("kwargs,fragment", [({"temperature": 0.0}, "temperature"), ({"alpha": 1.5}, "alpha"),
                                             ({"alpha": -0.1}, "alpha"), ({"epochs": 0}, "epochs")])
def test_bad_distill_configs(kwargs, fragment):
    with pytest.raises(UserError, match=fragment):
        DistillConfig(**kwargs)


def test_mismatched_or_bad_students_are_refused(trained_classifier, digits8, tiny_classifier_config):
    dataset = classification_dataset(digits8.x_train[:64], digits8.y_train[:64], BATCH)
    wrong_classes = build_student_classifier(student_config_for(tiny_classifier_config, num_classes=5))
    with pytest.raises(UserError, match="same classes"):
        distill(trained_classifier, wrong_classes, dataset, DistillConfig(epochs=1))
    wrong_size = build_student_classifier(StudentClassifierConfig(image_size=16))
    with pytest.raises(UserError, match="input"):
        distill(trained_classifier, wrong_size, dataset, DistillConfig(epochs=1))
    with pytest.raises(UserError, match="multiple of 8"):
        StudentClassifierConfig(image_size=12, widths=(4, 4, 8))
    with pytest.raises(UserError, match="embedding_dim"):
        build_student_mlm(MLMConfig(), embedding_dim=0)


def test_a_student_pruned_while_distilled_reaches_its_sparsity_and_learns(trained_classifier, digits8,
                                                                          tiny_classifier_config):
    from keras_ssl.compress.recipes import DistillStepConfig, Recipe, RecipeContext, apply_recipe
    from keras_ssl.models.students import student_config_for

    context = RecipeContext(dataset=classification_dataset(digits8.x_train, digits8.y_train, 64),
                            compile=compile_for_logits, build_student=lambda **kwargs: build_student_classifier(
                                student_config_for(tiny_classifier_config, **kwargs)))
    step = DistillStepConfig(student={"widths": (8,), "hidden": (16,)},
                             distill=DistillConfig(epochs=8, learning_rate=1e-2), prune_sparsity=0.6)
    student = apply_recipe(trained_classifier, Recipe("during", (("distill", step),)), context)
    kernels = [layer.kernel.numpy() for layer in student.layers if hasattr(layer, "kernel")]
    assert kernels and all(np.mean(kernel == 0) >= 0.59 for kernel in kernels), "every kernel pruned while distilled"
    assert classifier_accuracy(student, digits8.x_test, digits8.y_test) > 0.7  # measured 0.89 (0.93 unpruned)
    assert "pruned=0.6" in Recipe("during", (("distill", step),)).describe()
