"""The int8 ablation on a tiny transformer: every artifact converts, and int8_mixed keeps attention in float32."""
import numpy as np

from keras_ssl.base.keras import tf_keras
from keras_ssl.models.transformer import TransformerConfig, build_transformer_mlm
from studies.transformer_compress.int8_ablation import GROUPS, artifacts
from tflite_export.inspect import xnnpack_coverage


def test_each_group_kept_float32_removes_its_ops_from_the_builtin_kernels():
    tf_keras.utils.set_random_seed(0)
    model = build_transformer_mlm(TransformerConfig(vocab_size=50, seq_len=8, dim=16, heads=2, mlp_dim=32, layers=1,
                                                    dropout=0.0))
    calibration = np.random.default_rng(0).integers(3, 50, size=(32, 8)).astype(np.int32)
    rows = {name: (kept, xnnpack_coverage(content=flatbuffer)["not_delegated_ops"])
            for name, kept, flatbuffer in artifacts(model, calibration)}
    assert len(rows) == 4 + len(GROUPS) + 1
    assert {"BATCH_MATMUL", "SOFTMAX"} <= set(rows["int8"][1]), "int8 attention runs on builtin kernels"
    assert not {"BATCH_MATMUL", "SOFTMAX"} & set(rows["int8, attention float32"][1])
    assert {"BATCH_MATMUL", "SOFTMAX"} <= set(rows["int8_mixed"][0])
    assert set(rows["int8_mixed"][1]) <= set(rows["float32"][1]), "int8_mixed leaves only what float32 leaves"
