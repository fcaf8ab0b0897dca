"""GateLSTMCell: same numbers as keras.layers.LSTM, gates equal to the NumPy equations."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from lstm_tf import cells  # noqa: E402
from lstm_tf.errors import UserError  # noqa: E402

FEATURES = 3
UNITS = (8, 5)
TOLERANCE = 1e-6


@pytest.fixture(scope="module")
def stacked_lstm():
    """Two stacked LSTMs with Dropout between, last one returning only its last step."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((None, FEATURES)),
        keras.layers.LSTM(UNITS[0], return_sequences=True),
        keras.layers.Dropout(0.3),
        keras.layers.LSTM(UNITS[1]),
        keras.layers.Dense(2),
    ])
    # Random biases too, so that no gate is trivially 0.5 or 1.
    rng = np.random.default_rng(1)
    model.set_weights([w + rng.normal(scale=0.5, size=w.shape).astype(w.dtype)
                       for w in model.get_weights()])
    return model


@pytest.fixture(scope="module")
def gate_model(stacked_lstm):
    return cells.gate_model_from_lstm(stacked_lstm)


def _inputs(steps, batch=4, seed=2):
    return np.random.default_rng(seed + steps).normal(
        size=(batch, steps, FEATURES)).astype("float32")


def _keras_lstm_sequences(model, x):
    """Each LSTM layer's h sequence as keras.layers.LSTM computes it (return_sequences=True)."""
    sequences = []
    layer_input = x
    for layer in [layer for layer in model.layers if isinstance(layer, keras.layers.LSTM)]:
        full = keras.layers.LSTM(layer.units, return_sequences=True)
        full.build(layer_input.shape)
        full.set_weights(layer.get_weights())
        layer_input = keras.ops.convert_to_numpy(full(layer_input))
        sequences.append(layer_input)
    return sequences


@pytest.mark.parametrize("steps", [1, 17])
def test_gate_model_h_equals_keras_lstm_and_prediction_is_unchanged(stacked_lstm, gate_model, steps):
    x = _inputs(steps)
    *traces, prediction = gate_model.predict(x, verbose=0)
    expected = _keras_lstm_sequences(stacked_lstm, x)
    assert len(traces) == 2
    for trace, units, keras_h in zip(traces, UNITS, expected):
        assert trace.shape == (4, steps, 6 * units)
        np.testing.assert_allclose(cells.split_gates(trace, units).h, keras_h,
                                   atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(prediction, stacked_lstm.predict(x, verbose=0),
                               atol=TOLERANCE, rtol=0)


@pytest.mark.parametrize("steps", [1, 17])
def test_every_gate_equals_numpy_equations(stacked_lstm, gate_model, steps):
    x = _inputs(steps)
    *traces, _ = gate_model.predict(x, verbose=0)
    lstm_layers = [layer for layer in stacked_lstm.layers
                   if isinstance(layer, keras.layers.LSTM)]
    layer_input = x
    for layer, trace in zip(lstm_layers, traces):
        got = cells.split_gates(trace, layer.units)
        reference = cells.numpy_lstm_reference(layer_input, *layer.get_weights())
        for name in cells.GATE_OUTPUTS:
            np.testing.assert_allclose(getattr(got, name), getattr(reference, name),
                                       atol=TOLERANCE, rtol=0, err_msg=name)
        # Gates are sigmoids, the candidate a tanh: check the values are not degenerate.
        assert 0.05 < got.forget_gate.mean() < 0.95
        assert got.candidate.min() < 0 < got.candidate.max()
        layer_input = got.h


def test_numpy_reference_first_step_by_hand():
    """One step from zero state, written out gate by gate from Keras' [i, f, c, o] blocks."""
    rng = np.random.default_rng(3)
    units = 2
    x = rng.normal(size=(1, 1, 3))
    kernel = rng.normal(size=(3, 4 * units))
    recurrent_kernel = rng.normal(size=(units, 4 * units))
    bias = rng.normal(size=4 * units)
    z = x[0, 0] @ kernel + bias          # h_0 = 0, so W [h_0, x_1] = x_1 @ kernel
    i, f, c, o = np.split(z, 4)
    sigmoid = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    cell_state = sigmoid(i) * np.tanh(c)     # C_0 = 0
    trace = cells.numpy_lstm_reference(x, kernel, recurrent_kernel, bias)
    np.testing.assert_allclose(trace.forget_gate[0, 0], sigmoid(f))
    np.testing.assert_allclose(trace.cell_state[0, 0], cell_state)
    np.testing.assert_allclose(trace.h[0, 0], sigmoid(o) * np.tanh(cell_state))


def test_split_gates_layout_and_checks_width():
    units = 3
    step = np.concatenate([np.full((2, units), k, dtype="float32") for k in range(6)], axis=-1)
    trace = cells.split_gates(step[:, None, :])
    for k, name in enumerate(cells.GATE_OUTPUTS):
        assert getattr(trace, name).shape == (2, 1, units)
        assert np.all(trace.as_dict()[name] == k)
    with pytest.raises(ValueError, match="expose_gates"):
        cells.split_gates(np.zeros((2, 5, 3 * units)), units)


def test_expose_gates_false_outputs_h_only_equal_to_lstm():
    keras.utils.set_random_seed(4)
    x = _inputs(6)
    lstm = keras.layers.LSTM(4, return_sequences=True)
    expected = keras.ops.convert_to_numpy(lstm(x))
    gated = cells.gated_layer(4, return_sequences=True)
    gated.build(x.shape)
    gated.set_weights(lstm.get_weights())
    got = keras.ops.convert_to_numpy(gated(x))
    assert got.shape == (4, 6, 4)
    np.testing.assert_array_equal(got, expected)


def test_weights_move_both_ways_and_initialisers_match():
    keras.utils.set_random_seed(5)
    lstm_cell = keras.layers.LSTMCell(4)
    lstm_cell.build((None, FEATURES))
    keras.utils.set_random_seed(5)
    gate_cell = cells.GateLSTMCell(4, expose_gates=True)
    gate_cell.build((None, FEATURES))

    # Same seed, same initial weights, including the unit forget bias.
    names = [w.path.split("/")[-1] for w in gate_cell.weights]
    assert names == ["kernel", "recurrent_kernel", "bias"]
    for a, b in zip(lstm_cell.get_weights(), gate_cell.get_weights()):
        np.testing.assert_array_equal(a, b)
    bias = gate_cell.get_weights()[2]
    np.testing.assert_array_equal(bias[4:8], np.ones(4))          # forget block
    np.testing.assert_array_equal(np.delete(bias, range(4, 8)), np.zeros(12))

    rng = np.random.default_rng(6)
    new = [rng.normal(size=w.shape).astype("float32") for w in lstm_cell.get_weights()]
    gate_cell.set_weights(new)
    lstm_cell.set_weights(gate_cell.get_weights())
    for a, b in zip(new, lstm_cell.get_weights()):
        np.testing.assert_array_equal(a, b)
    gate_cell.set_weights([w * 2 for w in lstm_cell.get_weights()])
    for a, b in zip(new, gate_cell.get_weights()):
        np.testing.assert_array_equal(2 * a, b)


def test_get_config_round_trip():
    cell = cells.GateLSTMCell(7, expose_gates=True, dropout=0.1, recurrent_dropout=0.2,
                              unit_forget_bias=False, seed=9, kernel_initializer="he_normal")
    config = cell.get_config()
    assert config["expose_gates"] is True and config["units"] == 7
    clone = cells.GateLSTMCell.from_config(config)
    assert clone.get_config() == config
    assert clone.output_size == 42 and clone.state_size == [7, 7]
    # By registered name, as a saved model refers to it.
    serialized = keras.saving.serialize_keras_object(cell)
    assert serialized["registered_name"] == "lstm_tf>GateLSTMCell"
    restored = keras.saving.deserialize_keras_object(serialized)
    assert type(restored) is cells.GateLSTMCell
    assert restored.get_config() == config


def _gated_forecaster(expose_gates=False):
    keras.utils.set_random_seed(8)
    return keras.Sequential([
        keras.Input((9, FEATURES)),
        cells.gated_layer(6, return_sequences=True, expose_gates=expose_gates),
        cells.gated_layer(4),
        keras.layers.Dense(3),
        keras.layers.Reshape((3, 1)),
    ])


def test_keras_file_round_trip_with_safe_mode(tmp_path, gate_model):
    x = _inputs(9)
    for model in (_gated_forecaster(), gate_model):
        path = tmp_path / f"{model.name}.keras"
        model.save(path)
        loaded = keras.saving.load_model(path, safe_mode=True)
        expected = model.predict(x, verbose=0)
        got = loaded.predict(x, verbose=0)
        for a, b in zip(keras.tree.flatten(expected), keras.tree.flatten(got)):
            np.testing.assert_array_equal(a, b)
    assert any(isinstance(layer, keras.layers.RNN) and isinstance(layer.cell, cells.GateLSTMCell)
               for layer in loaded.layers)


def test_gate_model_from_gated_forecaster_matches_lstm_twin():
    gated = _gated_forecaster()
    keras.utils.set_random_seed(8)
    twin = keras.Sequential([
        keras.Input((9, FEATURES)),
        keras.layers.LSTM(6, return_sequences=True),
        keras.layers.LSTM(4),
        keras.layers.Dense(3),
        keras.layers.Reshape((3, 1)),
    ])
    twin.set_weights(gated.get_weights())
    x = _inputs(9)
    traces, prediction = cells.trace_gates(gated, x)
    twin_traces, twin_prediction = cells.trace_gates(twin, x)
    assert prediction.shape == (4, 3, 1)
    np.testing.assert_array_equal(prediction, gated.predict(x, verbose=0))
    np.testing.assert_array_equal(prediction, twin_prediction)
    for a, b in zip(traces, twin_traces):
        for name in cells.GATE_OUTPUTS:
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_functional_chain_is_supported_and_branches_are_refused():
    keras.utils.set_random_seed(10)
    inputs = keras.Input((5, FEATURES))
    h = keras.layers.LSTM(4, return_sequences=True)(inputs)
    chain = keras.Model(inputs, keras.layers.Dense(1)(h))
    x = _inputs(5)
    (trace,), prediction = cells.trace_gates(chain, x)
    np.testing.assert_allclose(prediction, chain.predict(x, verbose=0), atol=TOLERANCE, rtol=0)
    assert trace.cell_state.shape == (4, 5, 4)

    skip = keras.layers.Concatenate()([h, inputs])
    branched = keras.Model(inputs, keras.layers.Dense(1)(skip))
    with pytest.raises(UserError, match="single chain"):
        cells.gate_model_from_lstm(branched)
    no_lstm = keras.Sequential([keras.Input((5, FEATURES)), keras.layers.Dense(1)])
    with pytest.raises(UserError, match="no LSTM"):
        cells.gate_model_from_lstm(no_lstm)


# Plain runs in graph mode, as `train` does; the dropout case checks the cell's
# dropout masks (LSTMCell's split-kernel path) and runs eagerly to save time.
@pytest.mark.parametrize("dropout, run_eagerly", [
    ({}, False),
    ({"dropout": 0.2, "recurrent_dropout": 0.3, "seed": 3}, True),
], ids=["plain", "dropout"])
def test_one_epoch_of_training_gated_equals_lstm(dropout, run_eagerly):
    rng = np.random.default_rng(11)
    x = rng.normal(size=(32, 12, FEATURES)).astype("float32")
    y = rng.normal(size=(32, 1)).astype("float32")

    def forecaster(recurrent):
        model = keras.Sequential([keras.Input((12, FEATURES)), recurrent, keras.layers.Dense(1)])
        model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse",
                      run_eagerly=run_eagerly)
        return model

    keras.utils.set_random_seed(7)
    lstm = forecaster(keras.layers.LSTM(6, **dropout))
    keras.utils.set_random_seed(7)
    gated = forecaster(cells.gated_layer(6, **dropout))
    # Same seed gives the same initial weights, as for LSTM.
    for a, b in zip(lstm.get_weights(), gated.get_weights()):
        np.testing.assert_array_equal(a, b)

    # Even predict() advances a cell's dropout seed generator (Keras draws the
    # masks before it knows they are unused), so both models get the same calls.
    before = lstm.predict(x, verbose=0)
    np.testing.assert_array_equal(gated.predict(x, verbose=0), before)
    for model in (lstm, gated):
        keras.utils.set_random_seed(12)
        model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    after = lstm.predict(x, verbose=0)
    assert np.abs(after - before).max() > 1e-3      # training did move the weights
    np.testing.assert_allclose(gated.predict(x, verbose=0), after, atol=1e-5, rtol=0)
