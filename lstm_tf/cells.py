"""An LSTM cell that shows its gates (`GateLSTMCell`), and tools to look inside trained
LSTMs: `gate_model_from_lstm` rebuilds a model with gate cells and the same weights,
`split_gates` cuts a gate trace into named arrays, `numpy_lstm_reference` recomputes it.

The cell is registered as `lstm_tf>GateLSTMCell`: a `.keras` file that uses it loads with
`safe_mode=True` once this module has been imported.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import dataclasses  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

from .contract import GATES  # noqa: E402
from .errors import UserError  # noqa: E402

# Defined once in `contract` (pure Python), which also names the exported gate outputs.
GATE_OUTPUTS = GATES

# Keras packs the four gates of kernel, recurrent_kernel and bias in this order.
KERAS_GATE_ORDER = ("input_gate", "forget_gate", "candidate", "output_gate")


@keras.saving.register_keras_serializable(package="lstm_tf")
class GateLSTMCell(keras.layers.LSTMCell):
    """LSTM cell that computes the tutorial's equations and can emit every gate.

    With [h_{t-1}, x_t] the previous hidden state and the current input side by
    side, sigma the sigmoid and * the element-wise product (tutorial, section
    "LSTM门机制的数学解释"):

        f_t  = sigma(W_f [h_{t-1}, x_t] + b_f)      forget gate   (遗忘门)
        i_t  = sigma(W_i [h_{t-1}, x_t] + b_i)      input gate    (输入门)
        o_t  = sigma(W_o [h_{t-1}, x_t] + b_o)      output gate   (输出门)
        C~_t = tanh(W_c [h_{t-1}, x_t] + b_c)       candidate
        C_t  = f_t * C_{t-1} + i_t * C~_t           cell state    (细胞状态)
        h_t  = o_t * tanh(C_t)                      hidden state

    (The tutorial writes [x_t, h_{t-1}]: the order only permutes the columns of W.)

    Weights are those of `keras.layers.LSTMCell`, which this class extends so
    that layout, initialisers (including the unit forget bias), dropout and
    config are the same by construction:

        kernel            [input_dim, 4*units]   multiplies x_t
        recurrent_kernel  [units, 4*units]       multiplies h_{t-1}
        bias              [4*units]

    with the four column blocks in Keras' gate order i, f, c, o. In the row
    vector convention Keras uses, W_f [h_{t-1}, x_t] is
    `h_{t-1} @ recurrent_kernel[:, f] + x_t @ kernel[:, f]`, f = units:2*units.
    The pre-activations are summed in the same order as `LSTMCell` so that
    `keras.layers.RNN(GateLSTMCell(n))` and `keras.layers.LSTM(n)` agree exactly
    on CPU (where the LSTM layer does not use cuDNN).

    Args:
        units: Positive integer, size of h_t and C_t.
        expose_gates: If False (default), the output is h_t, `[batch, units]`,
            exactly as `LSTMCell`: use this to train. If True, the output is
            `[batch, 6*units]`: h, forget gate, input gate, output gate,
            candidate, cell state, in the order of `GATE_OUTPUTS`.
        **kwargs: Every argument of `keras.layers.LSTMCell`; another `activation`
            replaces tanh and another `recurrent_activation` sigma, as there.

    Example:

    >>> layer = keras.layers.RNN(GateLSTMCell(4, expose_gates=True),
    ...                          return_sequences=True)
    >>> layer(np.zeros((2, 7, 3))).shape
    (2, 7, 24)
    """

    def __init__(self, units, expose_gates=False, **kwargs):
        super().__init__(units, **kwargs)
        self.expose_gates = bool(expose_gates)
        self.output_size = len(GATE_OUTPUTS) * units if self.expose_gates else units

    def _preactivations(self, inputs, h_prev, training):
        """W [h_{t-1}, x_t] + b for the gates i, f, c, o, summed as LSTMCell does."""
        if self.implementation == 1:
            # LSTMCell's split-kernel path, which it takes when recurrent_dropout
            # is set: one dropout mask per gate, bias added before the recurrence.
            if training and 0.0 < self.dropout < 1.0:
                input_masks = self.get_dropout_mask(inputs)
                gate_inputs = [inputs * mask for mask in input_masks]
            else:
                gate_inputs = [inputs] * 4
            if training and 0.0 < self.recurrent_dropout < 1.0:
                recurrent_masks = self.get_recurrent_dropout_mask(h_prev)
                gate_states = [h_prev * mask for mask in recurrent_masks]
            else:
                gate_states = [h_prev] * 4
            kernels = ops.split(self.kernel, 4, axis=1)
            biases = ops.split(self.bias, 4, axis=0) if self.use_bias else [None] * 4
            recurrent_kernels = [
                self.recurrent_kernel[:, k * self.units:(k + 1) * self.units]
                for k in range(4)
            ]
            preactivations = []
            for x, h, kernel, bias, recurrent_kernel in zip(
                    gate_inputs, gate_states, kernels, biases, recurrent_kernels):
                z = ops.matmul(x, kernel)
                if bias is not None:
                    z += bias
                preactivations.append(z + ops.matmul(h, recurrent_kernel))
            return preactivations

        if training and 0.0 < self.dropout < 1.0:
            inputs = inputs * self.get_dropout_mask(inputs)
        z = ops.matmul(inputs, self.kernel)
        z = ops.add(z, ops.matmul(h_prev, self.recurrent_kernel))
        if self.use_bias:
            z = ops.add(z, self.bias)
        return ops.split(z, 4, axis=1)

    def call(self, inputs, states, training=False):
        h_prev, cell_state_prev = states[0], states[1]
        z_input, z_forget, z_candidate, z_output = self._preactivations(
            inputs, h_prev, training)

        forget_gate = self.recurrent_activation(z_forget)
        input_gate = self.recurrent_activation(z_input)
        output_gate = self.recurrent_activation(z_output)
        candidate = self.activation(z_candidate)
        cell_state = forget_gate * cell_state_prev + input_gate * candidate
        h = output_gate * self.activation(cell_state)

        if not self.expose_gates:
            return h, [h, cell_state]
        # Same order as GATE_OUTPUTS.
        trace = ops.concatenate(
            [h, forget_gate, input_gate, output_gate, candidate, cell_state], axis=-1)
        return trace, [h, cell_state]

    def get_config(self):
        config = super().get_config()
        config["expose_gates"] = self.expose_gates
        return config


def gated_layer(units, return_sequences=False, expose_gates=False, name=None, unroll=False,
                **cell_kwargs):
    """`keras.layers.RNN(GateLSTMCell(units, **cell_kwargs))`: a drop-in for
    `keras.layers.LSTM` (the same output given the same weights, without `expose_gates`)."""
    cell = GateLSTMCell(units, expose_gates=expose_gates, **cell_kwargs)
    return keras.layers.RNN(cell, return_sequences=return_sequences, name=name, unroll=unroll,
                            dtype=cell_kwargs.get("dtype"))


@dataclasses.dataclass
class GateTrace:
    """One LSTM layer's states and gates, each `[batch, time, units]` (or `[batch, units]`)."""

    h: np.ndarray
    forget_gate: np.ndarray
    input_gate: np.ndarray
    output_gate: np.ndarray
    candidate: np.ndarray
    cell_state: np.ndarray

    def as_dict(self) -> dict[str, np.ndarray]:
        """The arrays keyed by the names in `GATE_OUTPUTS`."""
        return {name: getattr(self, name) for name in GATE_OUTPUTS}


def split_gates(sequence_output, units: int | None = None) -> GateTrace:
    """Cut a gate cell's `[..., 6*units]` output into named arrays.

    `units` defaults to the last axis' width / 6; pass it to check the width.
    """
    trace = np.asarray(sequence_output)
    width = trace.shape[-1]
    blocks = len(GATE_OUTPUTS)
    units = width // blocks if units is None else units
    if width != blocks * units or units <= 0:
        raise ValueError(
            f"A gate trace has {blocks}*units = {blocks * units} values per step, "
            f"got {width}; was the cell built with expose_gates=True?")
    return GateTrace(**{name: trace[..., k * units:(k + 1) * units]
                        for k, name in enumerate(GATE_OUTPUTS)})


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # = 1 / (1 + exp(-z)), without overflow


def numpy_lstm_reference(x, kernel, recurrent_kernel, bias=None,
                         initial_h=None, initial_cell_state=None) -> GateTrace:
    """The tutorial's equations in plain NumPy (float64), for checking and reading:
    `x` [batch, time, features] through a Keras LSTM's weights (`layer.get_weights()`),
    every gate and state at every step [batch, time, units]; states start at zero
    unless given."""
    x = np.asarray(x, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    recurrent_kernel = np.asarray(recurrent_kernel, dtype=np.float64)
    units = recurrent_kernel.shape[0]
    bias = np.zeros(4 * units) if bias is None else np.asarray(bias, dtype=np.float64)

    # W_g acts on [h_{t-1}, x_t]: stack the recurrent rows on top of the input rows.
    def gate_block(name):
        cols = slice(KERAS_GATE_ORDER.index(name) * units,
                     (KERAS_GATE_ORDER.index(name) + 1) * units)
        weight = np.concatenate([recurrent_kernel[:, cols], kernel[:, cols]], axis=0)
        return weight, bias[cols]

    W_f, b_f = gate_block("forget_gate")
    W_i, b_i = gate_block("input_gate")
    W_o, b_o = gate_block("output_gate")
    W_c, b_c = gate_block("candidate")

    batch, steps, _ = x.shape
    h = (np.zeros((batch, units)) if initial_h is None
         else np.asarray(initial_h, dtype=np.float64))
    c = (np.zeros((batch, units)) if initial_cell_state is None
         else np.asarray(initial_cell_state, dtype=np.float64))
    history = {name: [] for name in GATE_OUTPUTS}
    for t in range(steps):
        h_x = np.concatenate([h, x[:, t]], axis=1)       # [h_{t-1}, x_t]
        f = _sigmoid(h_x @ W_f + b_f)
        i = _sigmoid(h_x @ W_i + b_i)
        o = _sigmoid(h_x @ W_o + b_o)
        candidate = np.tanh(h_x @ W_c + b_c)
        c = f * c + i * candidate
        h = o * np.tanh(c)
        for name, value in zip(GATE_OUTPUTS, (h, f, i, o, candidate, c)):
            history[name].append(value)
    return GateTrace(**{name: np.stack(values, axis=1) if values
                        else np.zeros((batch, 0, units))
                        for name, values in history.items()})


def _is_gate_rnn(layer) -> bool:
    return (isinstance(layer, keras.layers.RNN)
            and isinstance(layer.cell, GateLSTMCell))


def _is_recurrent_lstm(layer) -> bool:
    return isinstance(layer, keras.layers.LSTM) or _is_gate_rnn(layer)


def _check_supported(layer) -> None:
    unsupported = [flag for flag in ("return_state", "go_backwards", "stateful")
                   if getattr(layer, flag, False)]
    if unsupported:
        raise UserError(
            f"Layer {layer.name!r} uses {', '.join(unsupported)}; gate inspection "
            "supports plain forward LSTM layers only.")


def _chain_layers(model) -> list:
    """The model's layers in order, checking that each one feeds only the next."""
    if isinstance(model, keras.Sequential):
        return list(model.layers)
    if not isinstance(model, keras.Model) or len(model.inputs) != 1 \
            or len(model.outputs) != 1:
        raise UserError("Gate inspection needs a Keras model with one input and one output.")
    not_a_chain = UserError(
        "Gate inspection supports models whose layers form a single chain "
        "(like a Sequential model).")
    layers = []
    current = model.inputs[0]
    for operation in model._operations:
        if isinstance(operation, keras.layers.InputLayer):
            continue
        # A layer may also have been called in other models; keep this model's calls.
        nodes = [node for k, node in enumerate(operation._inbound_nodes)
                 if f"{id(operation)}_ib-{k}" in model._nodes]
        if (not isinstance(operation, keras.layers.Layer) or len(nodes) != 1
                or len(nodes[0].input_tensors) != 1
                or nodes[0].input_tensors[0] is not current
                or len(nodes[0].outputs) != 1):
            raise not_a_chain
        current = nodes[0].outputs[0]
        layers.append(operation)
    if current is not model.outputs[0]:
        raise not_a_chain
    return layers


def gate_model_from_lstm(model, unroll: bool = False) -> keras.Model:
    """A model that outputs every gate of every LSTM layer of `model`.

    `model` is a chain of layers (Sequential, or functional without branches) whose
    recurrent layers are `keras.layers.LSTM` or `keras.layers.RNN(GateLSTMCell(...))`.
    Every layer is rebuilt from its config with its weights copied (the new model shares
    nothing with `model`), each LSTM as a gate RNN with `return_sequences=True`. Outputs:
    one gate trace `[batch, time, 6*units]` per LSTM layer (`split_gates` cuts it), then
    `model`'s own prediction, unchanged.

    `unroll=True`: the gate layers unrolled over a static time length, a graph with no
    while loop (what `export --gates` converts, so that the ONNX model has no `Loop`).
    """
    try:
        source_input = model.inputs[0]
    except (AttributeError, IndexError, TypeError, ValueError):
        source_input = None
    if source_input is None:
        raise UserError("The model has not been built; call it on data or load a saved model first.")
    layers = _chain_layers(model)
    if not any(_is_recurrent_lstm(layer) for layer in layers):
        raise UserError("The model has no LSTM layer to inspect.")

    inputs = keras.Input(batch_shape=source_input.shape, dtype=source_input.dtype)
    x = inputs
    traces = []
    for layer in layers:
        if _is_recurrent_lstm(layer):
            _check_supported(layer)
            cell = layer.cell
            cell_config = cell.get_config()
            cell_config.pop("expose_gates", None)
            cell_config.pop("name", None)
            gate_rnn = gated_layer(
                expose_gates=True, return_sequences=True, unroll=unroll,
                name=f"{layer.name}_gates", **cell_config)
            trace = gate_rnn(x)
            gate_rnn.set_weights(layer.get_weights())
            traces.append(trace)
            # Feed the next layer what the original layer would have given it.
            x = trace if _is_gate_rnn(layer) and cell.expose_gates else trace[..., :cell.units]
            if not layer.return_sequences:
                x = x[:, -1, :]
        else:
            new_layer = type(layer).from_config(layer.get_config())  # weights set once built
            x = new_layer(x)
            new_layer.set_weights(layer.get_weights())
    return keras.Model(inputs, [*traces, x], name=f"{model.name}_gates")


def trace_gates(model, x, batch_size: int = 256):
    """Run `model` on `x`; return (one `GateTrace` per LSTM layer, prediction). Builds
    the gate model on every call."""
    gate_model = gate_model_from_lstm(model)
    *trace_arrays, prediction = gate_model.predict(x, batch_size=batch_size, verbose=0)
    return [split_gates(trace) for trace in trace_arrays], prediction
