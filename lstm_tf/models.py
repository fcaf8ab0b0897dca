"""Forecasters: a stack of recurrent layers, the last hidden state, a Dense head.

    window [batch, time, features] → RNN/LSTM × layers → h_T → Dense → forecast [batch, horizon, targets]

With `ModelConfig.quantiles` the Dense head gives Q values per step and target and
`layers.QuantileHead` turns them into quantiles that never cross:
[batch, horizon, targets, Q] (the median is the point forecast).

With future-known covariates and/or a learned series embedding (a functional model,
built-in layers only, so it loads with safe_mode=True):

    window ─ RNN/LSTM × layers → h_T ──────────┐
    known [batch, horizon, K] ─ Flatten ───────┼─ Concatenate → Dense(units, relu) → Dense → forecast
    series [batch] (int64) ─ Embedding(series, D) ┘

The encoder only reads the window (so it stays one fused ONNX LSTM/RNN node); the head
sees the encoder's summary of the past next to the covariates' values over every
forecast step and the series' learned vector, through one hidden ReLU layer (a
covariate's effect need not be linear: a Sunday is one phase of the week's sine and
cosine, which a linear head cannot single out).

With `ModelConfig.ensemble` K > 1 the model holds K such networks side by side on the
same inputs and outputs their mean (lstm_tf/ensemble.py); inputs and output stay those
of one network.

The tutorial's PyTorch `LSTMModel(input_size=1, hidden_size=10, num_layers=1,
output_size=1)` is `build_model(ModelConfig("lstm", units=10, layers=1), features=1,
horizon=1, targets=1)`: an LSTM, its last step, a linear layer.
"""

from __future__ import annotations

from .config import ModelConfig
from .tf_setup import tensorflow


def build_model(config: ModelConfig, features: int, horizon: int, targets: int,
                dtype_policy: str = "float32", unroll_window: int | None = None,
                zero_head: bool = False, covariates: int = 0, series_count: int = 0):
    """Build (not compile) a Keras forecaster. The time axis is left dynamic.

    `kind` is lstm, rnn or gated (LSTM layers built from `cells.GateLSTMCell`). LSTM
    layers keep Keras' defaults (tanh, sigmoid, no recurrent dropout, not unrolled), so
    that a GPU runs them on cuDNN; dropout goes between layers for the same reason.

    `dtype_policy` ("float32", "mixed_float16" or "mixed_bfloat16") applies to the
    recurrent body; the head (and so the forecast and the loss) computes in float32.

    `unroll_window` unrolls the recurrence over that fixed number of steps (the time
    axis is then fixed too), for training on a CPU only: `float32_copy` rolls the model
    back up with a dynamic time axis for export.

    `zero_head` starts the head at zero: a network that corrects an anchor
    (`anchors`) then starts out forecasting exactly the anchor (a quantile head: its
    median does).

    `covariates` K > 0 adds the input `known` [batch, horizon, K]; `series_count` > 0
    with `config.series_embedding` D > 0 adds the input `series` [batch] (int64) and an
    Embedding(series_count, D). Without either the model is the Sequential stack.
    `config.ensemble` K > 1: K networks and their mean (`_functional`).
    """
    tensorflow()
    import keras

    from .cells import gated_layer

    # gated: the tutorial's equations written out in GateLSTMCell; same math and weights
    # as LSTM, but a Python cell, so never the cuDNN kernel.
    layer_type = {"lstm": keras.layers.LSTM, "rnn": keras.layers.SimpleRNN,
                  "gated": gated_layer}[config.kind]
    embedding = config.series_embedding if series_count else 0
    if covariates or embedding or config.members > 1:
        return _functional(keras, layer_type, config, features, horizon, targets, dtype_policy,
                           unroll_window, zero_head, covariates, series_count, embedding)
    model = keras.Sequential(name=f"{config.kind}_forecaster")
    model.add(keras.Input(shape=(unroll_window, features), name="window"))
    for index in range(config.layers):
        last = index == config.layers - 1
        model.add(layer_type(config.units, return_sequences=not last, name=f"{config.kind}_{index}",
                             dtype=dtype_policy, unroll=unroll_window is not None))
        if config.dropout and not last:
            model.add(keras.layers.Dropout(config.dropout, name=f"dropout_{index}",
                                           dtype=dtype_policy))
    if config.quantiles:  # [batch, horizon, targets, Q], never crossing (quantiles.py)
        from .quantiles import add_head

        add_head(model, config.quantiles, horizon, targets, zero_head)
        return model
    model.add(keras.layers.Dense(horizon * targets, name="head", dtype="float32",
                                 kernel_initializer="zeros" if zero_head else "glorot_uniform"))
    model.add(keras.layers.Reshape((horizon, targets), name="forecast", dtype="float32"))
    return model


def _functional(keras, layer_type, config: ModelConfig, features: int, horizon: int,
                targets: int, dtype_policy: str, unroll_window: int | None, zero_head: bool,
                covariates: int, series_count: int, embedding: int):
    """The forecaster with covariates and/or a series embedding (see the module docstring);
    with `config.ensemble` K > 1, K such networks side by side on the same inputs, the
    forecast their mean (lstm_tf/ensemble.py)."""
    from . import ensemble

    window = keras.Input(shape=(unroll_window, features), name="window")
    inputs, known, series = [window], None, None
    if covariates:
        known = keras.Input(shape=(horizon, covariates), name="known")
        inputs.append(known)
    if embedding:
        series = keras.Input(shape=(), dtype="int64", name="series")
        inputs.append(series)
    members = []
    for index in range(config.members):
        end = ensemble.suffix(index)  # "" for a single network
        x = window
        for layer in range(config.layers):
            last = layer == config.layers - 1
            x = layer_type(config.units, return_sequences=not last,
                           name=f"{config.kind}_{layer}{end}", dtype=dtype_policy,
                           unroll=unroll_window is not None)(x)
            if config.dropout and not last:
                x = keras.layers.Dropout(config.dropout, name=f"dropout_{layer}{end}",
                                         dtype=dtype_policy)(x)
        if known is not None or series is not None:
            parts = [x]  # (Concatenate computes in float32: a mixed-precision h_T is cast up)
            if known is not None:
                parts.append(keras.layers.Flatten(name=f"known_flat{end}", dtype="float32")(known))
            if series is not None:
                parts.append(keras.layers.Embedding(series_count, embedding,
                                                    name=f"series_embedding{end}",
                                                    dtype="float32")(series))
            x = keras.layers.Concatenate(name=f"with_covariates{end}", dtype="float32")(parts)
            # One hidden layer: a covariate's effect need not be linear (a Sunday is one
            # phase of the week's sine and cosine; a promotion may act with the season).
            x = keras.layers.Dense(config.units, activation="relu", name=f"mix{end}",
                                   dtype="float32")(x)
        x = keras.layers.Dense(horizon * targets, name=f"head{end}", dtype="float32",
                               kernel_initializer="zeros" if zero_head else "glorot_uniform")(x)
        if config.members > 1:
            x = keras.layers.Reshape((horizon, targets), name=ensemble.member_name(index),
                                     dtype="float32")(x)
        members.append(x)
    if config.members == 1:
        output = keras.layers.Reshape((horizon, targets), name="forecast", dtype="float32")(x)
        return keras.Model(inputs, output, name=f"{config.kind}_forecaster")
    output = keras.layers.Average(name="forecast", dtype="float32")(members)
    return keras.Model(inputs if len(inputs) > 1 else window, output,
                       name=f"{config.kind}_ensemble")


def extra_inputs(model) -> dict:
    """The keyword arguments of `build_model` that rebuild `model`'s extra inputs:
    `covariates` (K of its `known` input) and `series_count` (its embedding's rows)."""
    names = {tensor.name: tensor for tensor in model.inputs}
    extra = {}
    if "known" in names:
        extra["covariates"] = int(names["known"].shape[-1])
    if "series" in names:
        extra["series_count"] = int(model.get_layer("series_embedding").input_dim)
    return extra


def lstm_twin(model, config: ModelConfig, features: int, horizon: int, targets: int):
    """A `kind="lstm"` copy of a gated forecaster: same weights, same function.

    GateLSTMCell keeps keras.layers.LSTMCell's weight layout, so the weights move
    over unchanged; the twin exports to fused ONNX LSTM nodes instead of a Loop.
    """
    from dataclasses import replace

    twin = build_model(replace(config, kind="lstm"), features, horizon, targets,
                       **extra_inputs(model))
    twin.set_weights(model.get_weights())
    return twin


def float32_copy(model):
    """The export-ready copy: the same architecture and weights, float32, not unrolled.

    A model trained with mixed precision computes its body in float16/bfloat16, but
    its weights are float32; one trained unrolled on a CPU has a fixed time axis and
    one cell per step. Rebuilt in float32, rolled up, with a dynamic time axis, it
    fuses into ONNX recurrent ops and matches the ONNX graph like any float32 model.
    The original model is untouched.
    """
    return _copy(model, dtype="float32", roll_up=True)


def local_copy(model):
    """The same model (same dtype policies and weights) outside any tf.distribute strategy."""
    return _copy(model, dtype=None, roll_up=False)


def _copy(model, dtype: str | None, roll_up: bool):
    tensorflow()
    import keras

    def rebuild(layer):
        config = layer.get_config()
        if dtype is not None:
            config["dtype"] = dtype
            if isinstance(config.get("cell"), dict) and "dtype" in config["cell"].get("config", {}):
                config["cell"]["config"]["dtype"] = dtype  # keras.layers.RNN(custom cell)
        if roll_up and config.get("unroll"):
            config["unroll"] = False
        return type(layer).from_config(config)

    inputs = None
    if roll_up:
        features = model.inputs[0].shape[-1]
        inputs = keras.Input(shape=(None, features), name=model.inputs[0].name)
        if len(model.inputs) > 1:  # known covariates, series index: as they are
            inputs = [inputs] + [keras.Input(shape=tensor.shape[1:], dtype=tensor.dtype,
                                             name=tensor.name) for tensor in model.inputs[1:]]
    # Called outside `strategy.scope()`, the copy's variables are ordinary ones.
    copy = keras.models.clone_model(model, input_tensors=inputs, clone_function=rebuild)
    copy.set_weights(model.get_weights())
    return copy
