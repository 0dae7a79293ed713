"""QAT: fake-quant layers where tfmot allows them, int8 tensors in the converted artifact, clear refusals."""
import numpy as np
import pytest

from keras_ssl.base.errors import UserError
from keras_ssl.compress.quantize import QATConfig, quantize_aware
from keras_ssl.data.masking import mlm_dataset
from keras_ssl.models.bilstm_mlm import build_mlm
from keras_ssl.training.fit import compile_for_logits
from tflite_export.convert import is_qat_model, to_tflite
from tflite_export.runner import TFLiteModel


def test_mlm_qat_annotates_dense_only_and_converts_to_int8(tiny_mlm_config, token_sequences):
    mlm = build_mlm(tiny_mlm_config)
    dataset = mlm_dataset(token_sequences, tiny_mlm_config.vocab_size, 64, seed=0)
    qat = quantize_aware(mlm, dataset, QATConfig(epochs=1),
                         lambda m: compile_for_logits(m, 1e-3, sparse_weighted=True))
    wrapped = [layer.name for layer in qat.layers if type(layer).__name__.startswith("QuantizeWrapper")]
    assert wrapped == ["quant_token_logits"] and is_qat_model(qat)
    runner = TFLiteModel(model_content=to_tflite(qat, "int8", representative_data=token_sequences))
    assert "int8" in runner.tensor_dtypes() and "UNIDIRECTIONAL_SEQUENCE_LSTM" in runner.op_names()
    # The artifact reproduces the QAT model's fake-quantised logits to within a couple of int8 steps.
    expected = qat.predict(token_sequences[:4], verbose=0)
    assert np.abs(runner.predict(token_sequences[:4]) - expected).max() <= 0.1


@pytest.mark.parametrize("kwargs,fragment", [({"epochs": 0}, "epochs"), ({"layers": ("LSTM",)}, "cannot annotate")])
def test_bad_qat_config_is_refused(kwargs, fragment):
    with pytest.raises(UserError, match=fragment):
        QATConfig(**kwargs)
