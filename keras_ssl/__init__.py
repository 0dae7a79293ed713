"""keras-ssl: self-supervised pretraining to small, fast, measured TFLite artifacts.

The public API, one short call per step (the modules behind each name stay importable for the rest)::

    import keras_ssl as ks

    data = ks.load_images(image_size=16)
    train = ks.classification_dataset(data.x_train, data.y_train, batch_size=64)
    pruned = ks.prune(model, train, ks.PruneConfig(target_sparsity=0.5), compile_fn)
    ks.export_tflite(pruned, "model_int8.tflite", "int8", representative_data=data.x_train)

Names load on first use, so ``import keras_ssl`` alone starts no TensorFlow, and importing the library changes no
logging or warnings state (the binaries quiet TensorFlow themselves).
"""
import importlib

__version__ = "0.1.0"

# public name -> (module, attribute): each step is tf_keras model + dataclass config in, model out.
_API = {
    # base
    "UserError": ("keras_ssl.base.errors", "UserError"),
    "tf_keras": ("keras_ssl.base.keras", "tf_keras"),
    # data and models
    "load_images": ("keras_ssl.data.images", "load_images"),
    "ClassifierConfig": ("keras_ssl.models.classifier", "ClassifierConfig"),
    "build_classifier": ("keras_ssl.models.classifier", "build_classifier"),
    # training
    "TrainConfig": ("keras_ssl.training.fit", "TrainConfig"),
    "classification_dataset": ("keras_ssl.training.fit", "classification_dataset"),
    "compile_for_logits": ("keras_ssl.training.fit", "compile_for_logits"),
    # compression steps
    "PruneConfig": ("keras_ssl.compress.prune", "PruneConfig"),
    "prune": ("keras_ssl.compress.prune", "prune_magnitude"),
    "ClusterConfig": ("keras_ssl.compress.cluster", "ClusterConfig"),
    "cluster": ("keras_ssl.compress.cluster", "cluster_weights"),
    "QATConfig": ("keras_ssl.compress.quantize", "QATConfig"),
    "quantize_aware": ("keras_ssl.compress.quantize", "quantize_aware"),
    "DistillConfig": ("keras_ssl.compress.distill", "DistillConfig"),
    "distill": ("keras_ssl.compress.distill", "distill"),
    "flatten_nested": ("keras_ssl.compress.byo", "flatten_nested"),
    "Recipe": ("keras_ssl.compress.recipes", "Recipe"),
    "RecipeContext": ("keras_ssl.compress.recipes", "RecipeContext"),
    "load_recipe": ("keras_ssl.compress.recipes", "load_recipe"),
    "apply_recipe": ("keras_ssl.compress.recipes", "apply_recipe"),
    # export
    "to_tflite": ("tflite_export.convert", "to_tflite"),
    "export_tflite": ("tflite_export.artifacts", "export_tflite"),
    "TFLiteModel": ("tflite_export.runner", "TFLiteModel"),
    # search
    "SearchConfig": ("keras_ssl.search.accuracy_aware", "SearchConfig"),
    "SearchTask": ("keras_ssl.search.accuracy_aware", "SearchTask"),
    "search": ("keras_ssl.search.accuracy_aware", "search"),
    "StudyConfig": ("keras_ssl.search.study", "StudyConfig"),
    # benchmark
    "BenchmarkConfig": ("keras_ssl.benchmark.harness", "BenchmarkConfig"),
    "benchmark": ("keras_ssl.benchmark.harness", "benchmark"),
    # the main job
    "PipelineConfig": ("keras_ssl.pipeline.config", "PipelineConfig"),
    "get_config": ("keras_ssl.configs", "get_config"),
    "run_pipeline": ("keras_ssl.pipeline.run", "run_pipeline"),
}

__all__ = sorted(_API) + ["__version__"]


def __getattr__(name):
    if name not in _API:
        raise AttributeError(f"module 'keras_ssl' has no attribute {name!r}")
    module, attribute = _API[name]
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__():
    return __all__
