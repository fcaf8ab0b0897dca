"""tf2onnx conversion with fused recurrent nodes, hand-built reference graphs, cuDNN guard."""

import importlib
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from lstm_tf import onnx_convert  # noqa: E402
from lstm_tf.errors import UserError  # noqa: E402

FEATURES, HORIZON, TARGETS = 2, 3, 2
# Every batch length with every time length for the main cases; a spread for variants.
ALL_SHAPES = [(batch, time) for batch in (1, 5, 256) for time in (1, 3, 48, 100)]
SOME_SHAPES = [(1, 1), (5, 3), (256, 100)]
SIGNATURE = [tf.TensorSpec([None, None, FEATURES], tf.float32, name="window")]
TOLERANCE = dict(rtol=1e-5, atol=1e-5)
ONNX_NODE = {"rnn": "RNN", "lstm": "LSTM"}


def build_model(kind, layers, units, seed=0, **layer_options):
    """A forecaster as the project builds them, with random non-zero weights and biases."""
    keras.utils.set_random_seed(seed)
    recurrent = {"rnn": keras.layers.SimpleRNN, "lstm": keras.layers.LSTM,
                 "gru": keras.layers.GRU}[kind]
    model = keras.Sequential([keras.Input((None, FEATURES))])
    for index in range(layers):
        model.add(recurrent(units, return_sequences=index < layers - 1, **layer_options))
        if index < layers - 1:
            model.add(keras.layers.Dropout(0.3))
    model.add(keras.layers.Dense(HORIZON * TARGETS))
    model.add(keras.layers.Reshape((HORIZON, TARGETS)))
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        scale = 1 / np.sqrt(weight.shape[0]) if len(weight.shape) == 2 else 0.5
        weight.assign(rng.normal(scale=scale, size=weight.shape).astype("float32"))
    return model


def windows(batch, time, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, time, FEATURES)).astype("float32")


def traced(forward):
    """`forward` run as a TF graph: Keras' own computation, much faster than eager."""
    function = tf.function(forward, input_signature=SIGNATURE)
    return lambda window: function(window).numpy()


def expected_outputs(forward, shapes):
    forward = traced(forward)
    return {(batch, time): forward(windows(batch, time, seed=batch * 1000 + time))
            for batch, time in shapes}


def assert_matches(onnx_model, expected):
    """ONNX output equals the expected Keras output for every (batch, time) in `expected`."""
    session = ort.InferenceSession(onnx_model.SerializeToString(), providers=["CPUExecutionProvider"])
    for (batch, time), want in expected.items():
        got = session.run(["forecast"], {"window": windows(batch, time, seed=batch * 1000 + time)})[0]
        assert got.shape == (batch, HORIZON, TARGETS)
        np.testing.assert_allclose(got, want, **TOLERANCE, err_msg=f"batch {batch}, time {time}")


def assert_matches_keras(onnx_model, forward, shapes=SOME_SHAPES):
    assert_matches(onnx_model, expected_outputs(forward, shapes))


# (kind, layers, units): stacks of 1, 2 and 3 layers, units 1, 7 and 64.
CASES = [(kind, layers, units) for kind in ("rnn", "lstm")
         for layers, units in [(1, 1), (2, 7), (3, 64)]]


@pytest.fixture(scope="module")
def converted():
    """Each case's Keras model, its ONNX conversion and Keras' outputs, built once."""
    results = {}
    for kind, layers, units in CASES:
        model = build_model(kind, layers, units)
        results[kind, layers, units] = (
            model,
            onnx_convert.convert(lambda window: model(window), SIGNATURE),
            expected_outputs(lambda window: model(window, training=False), ALL_SHAPES),
        )
    return results


@pytest.mark.parametrize("case", CASES, ids=[f"{k}-{n}x{u}" for k, n, u in CASES])
def test_each_recurrent_layer_becomes_one_fused_node(converted, case):
    kind, layers, units = case
    _, model, _ = converted[case]
    counts = onnx_convert.op_counts(model)
    assert counts.get(ONNX_NODE[kind]) == layers
    assert "Loop" not in counts and "Scan" not in counts
    hidden_sizes = [attribute.i for node in model.graph.node if node.op_type == ONNX_NODE[kind]
                    for attribute in node.attribute if attribute.name == "hidden_size"]
    assert hidden_sizes == [units] * layers
    # Keras' zero initial states are left to ONNX's default instead of built per call.
    assert "Expand" not in counts
    assert all(len(node.input) == 4 for node in model.graph.node if node.op_type == ONNX_NODE[kind])
    onnx.checker.check_model(model, full_check=True)


@pytest.mark.parametrize("case", CASES, ids=[f"{k}-{n}x{u}" for k, n, u in CASES])
def test_converted_outputs_equal_keras_for_any_batch_and_time(converted, case):
    _, model, expected = converted[case]
    assert_matches(model, expected)


def test_input_and_output_have_dynamic_batch_and_time_axes(converted):
    _, model, _ = converted["lstm", 2, 7]
    (window,), (forecast,) = model.graph.input, model.graph.output
    assert (window.name, forecast.name) == ("window", "forecast")
    window_dims = [d.dim_param or d.dim_value for d in window.type.tensor_type.shape.dim]
    forecast_dims = [d.dim_param or d.dim_value for d in forecast.type.tensor_type.shape.dim]
    assert window_dims == ["batch", "time", FEATURES]
    assert forecast_dims == ["batch", HORIZON, TARGETS]


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
def test_fusion_works_inside_the_scaling_ops_of_an_export(kind):
    keras_model = build_model(kind, layers=2, units=16)
    mean, std = np.array([5.0, -2.0], "float32"), np.array([3.0, 0.5], "float32")
    target_mean, target_std = np.array([10.0, -3.0], "float32"), np.array([2.0, 0.25], "float32")

    def forecast(window):
        return keras_model((window - mean) / std) * target_std + target_mean

    model = onnx_convert.convert(forecast, SIGNATURE)
    counts = onnx_convert.op_counts(model)
    assert counts.get(ONNX_NODE[kind]) == 2 and "Loop" not in counts
    assert counts.get("Sub") == 1 and counts.get("Mul", 0) >= 1
    assert_matches_keras(model, forecast)


@pytest.mark.parametrize("options, onnx_activation", [
    ({"activation": "relu"}, b"Relu"),
    ({"activation": "sigmoid"}, b"Sigmoid"),
    ({"use_bias": False}, b"Tanh"),
])
def test_simple_rnn_variants_are_fused(options, onnx_activation):
    keras_model = build_model("rnn", layers=2, units=5, **options)
    model = onnx_convert.convert(lambda window: keras_model(window), SIGNATURE)
    rnn_nodes = [node for node in model.graph.node if node.op_type == "RNN"]
    assert len(rnn_nodes) == 2 and "Loop" not in onnx_convert.op_counts(model)
    for node in rnn_nodes:
        (activations,) = [a.strings for a in node.attribute if a.name == "activations"]
        assert list(activations) == [onnx_activation]
    assert_matches_keras(model, keras_model)


def test_mixed_stack_fuses_each_layer_with_its_own_node():
    keras.utils.set_random_seed(0)
    keras_model = keras.Sequential([
        keras.Input((None, FEATURES)),
        keras.layers.SimpleRNN(6, return_sequences=True), keras.layers.Dropout(0.1),
        keras.layers.LSTM(5, return_sequences=True), keras.layers.Dropout(0.1),
        keras.layers.SimpleRNN(4),
        keras.layers.Dense(HORIZON * TARGETS), keras.layers.Reshape((HORIZON, TARGETS)),
    ])
    model = onnx_convert.convert(lambda window: keras_model(window), SIGNATURE)
    assert [n.op_type for n in model.graph.node if n.op_type in ("RNN", "LSTM", "Loop")] == ["RNN", "LSTM", "RNN"]
    assert_matches_keras(model, keras_model)


def test_unfusable_layer_raises_naming_the_loops_unless_allowed():
    keras_model = build_model("rnn", layers=2, units=4, activation="elu")
    with pytest.raises(onnx_convert.FusionError, match=r"^2 Loop node\(s\) remain.*allow_loop=True"):
        onnx_convert.convert(lambda window: keras_model(window), SIGNATURE)

    model = onnx_convert.convert(lambda window: keras_model(window), SIGNATURE, allow_loop=True)
    assert onnx_convert.op_counts(model).get("Loop") == 2
    assert_matches_keras(model, keras_model, shapes=[(5, 48)])


def test_default_opset_is_the_newest_both_tools_support():
    from onnxruntime.capi.onnxruntime_pybind11_state import get_all_operator_schema
    from tf2onnx import constants

    runtime_newest = max(s.since_version for s in get_all_operator_schema() if s.domain == "")
    expected = min(max(constants.OPSET_TO_IR_VERSION), runtime_newest, onnx.defs.onnx_opset_version())
    assert onnx_convert.default_opset() == expected >= 17


def test_opset_default_and_override(converted):
    _, model, _ = converted["rnn", 1, 1]
    assert [o.version for o in model.opset_import if o.domain == ""] == [onnx_convert.default_opset()]

    keras_model = build_model("rnn", layers=1, units=3)
    model = onnx_convert.convert(lambda window: keras_model(window), SIGNATURE, opset=17)
    assert [o.version for o in model.opset_import if o.domain == ""] == [17]
    assert onnx_convert.op_counts(model).get("RNN") == 1
    for bad in (onnx_convert.MIN_OPSET - 1, onnx_convert.default_opset() + 1):
        with pytest.raises(UserError, match=f"opset {bad} is not supported"):
            onnx_convert.convert(lambda window: keras_model(window), SIGNATURE, opset=bad)


@pytest.mark.parametrize("case", CASES, ids=[f"{k}-{n}x{u}" for k, n, u in CASES])
def test_hand_built_reference_graph_equals_keras(converted, case):
    kind, layers, _ = case
    keras_model, _, expected = converted[case]
    build = {"rnn": onnx_convert.reference_rnn_onnx, "lstm": onnx_convert.reference_lstm_onnx}[kind]
    reference = build(keras_model)
    assert onnx_convert.op_counts(reference) == {
        "Transpose": 1, ONNX_NODE[kind]: layers, "Squeeze": layers, "MatMul": 1, "Add": 1, "Reshape": 1}
    assert_matches(reference, expected)


def test_reference_graph_refuses_layers_it_cannot_express():
    keras_model = build_model("rnn", layers=1, units=3, activation="elu")
    with pytest.raises(UserError, match="activation='elu'"):
        onnx_convert.reference_rnn_onnx(keras_model)
    with pytest.raises(UserError, match="GRU"):
        onnx_convert.reference_lstm_onnx(build_model("gru", layers=1, units=3))


def _graph_op_types(concrete_function):
    graph_def = concrete_function.graph.as_graph_def()
    return {node.op for node in graph_def.node} | \
        {node.op for function in graph_def.library.function for node in function.node_def}


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_trace_without_cudnn_avoids_cudnn_ops_where_a_gpu_is_visible(monkeypatch, kind):
    # Make Keras believe a GPU is visible: tracing then emits CudnnRNNV3 even on CPU.
    keras_tf_rnn = importlib.import_module("keras.src.backend.tensorflow.rnn")
    monkeypatch.setattr(keras_tf_rnn, "_is_gpu_available", lambda: True)
    keras_model = build_model(kind, layers=2, units=4)

    def trace():
        return tf.function(lambda window: keras_model(window)).get_concrete_function(*SIGNATURE)

    assert "CudnnRNNV3" in _graph_op_types(trace())   # the guard below is what removes it
    with onnx_convert.trace_without_cudnn(keras_model):
        op_types = _graph_op_types(trace())
        assert not any(op.startswith("Cudnn") for op in op_types)
        assert "While" in op_types
    recurrent_layers = [layer for layer in keras_model.layers if hasattr(layer, "use_cudnn")]
    assert [layer.use_cudnn for layer in recurrent_layers] == ["auto", "auto"]


def test_lstm_converts_to_fused_nodes_where_a_gpu_is_visible(monkeypatch):
    keras_tf_rnn = importlib.import_module("keras.src.backend.tensorflow.rnn")
    monkeypatch.setattr(keras_tf_rnn, "_is_gpu_available", lambda: True)
    keras_model = build_model("lstm", layers=2, units=4)
    with onnx_convert.trace_without_cudnn(keras_model):
        model = onnx_convert.convert(lambda window: keras_model(window), SIGNATURE)
    assert onnx_convert.op_counts(model).get("LSTM") == 2
    monkeypatch.undo()   # Keras' reference output must run here, on the CPU kernel
    assert_matches_keras(model, keras_model, shapes=[(5, 48)])
