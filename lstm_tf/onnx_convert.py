"""Trace a Keras forecaster and convert it to ONNX with fused recurrent nodes.

The conversion goes through `tf2onnx.convert.from_function` with an explicit input
signature (`from_keras` fails on Keras 3 Sequential models) and leaves the batch and
time axes dynamic. Every recurrent layer must come out as one ONNX `LSTM` or `RNN`
node: tf2onnx fuses Keras' LSTM itself, and `rnn_fusion` adds the missing rule for
SimpleRNN. A `Loop` left in the graph means a layer was not fused; onnxruntime runs
such a loop several times slower, so `convert` refuses it unless asked not to.

`reference_lstm_onnx` / `reference_rnn_onnx` build by hand the smallest ONNX graph
computing the same forecast, the bar a converted model's latency is measured against.
"""

import collections
import contextlib
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from lstm_tf.errors import UserError

# tf2onnx 1.17 is tested on opsets 14 to 18; older opsets also change Squeeze/Unsqueeze.
MIN_OPSET = 14

# Keras activation name -> ONNX recurrent activation name, where both define the
# same function (Keras 3's hard_sigmoid, for one, is not ONNX's HardSigmoid default).
ONNX_ACTIVATIONS = {"tanh": "Tanh", "sigmoid": "Sigmoid", "relu": "Relu"}


class FusionError(UserError):
    """A recurrent layer stayed a `Loop` in the ONNX graph instead of a fused node."""


def default_opset():
    """The newest ONNX opset that tf2onnx, onnx and onnxruntime all support."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from tf2onnx import constants   # imports TensorFlow

    return min(max(constants.OPSET_TO_IR_VERSION), onnx.defs.onnx_opset_version(),
               _onnxruntime_max_opset())


def _onnxruntime_max_opset():
    try:
        from onnxruntime.capi.onnxruntime_pybind11_state import get_all_operator_schema
    except ImportError:   # minimal onnxruntime builds ship no schemas
        return onnx.defs.onnx_opset_version()
    return max(schema.since_version for schema in get_all_operator_schema()
               if schema.domain in ("", "ai.onnx"))


def _checked_opset(opset):
    newest = default_opset()
    if opset is None:
        return newest
    if not MIN_OPSET <= opset <= newest:
        raise UserError(f"opset {opset} is not supported here: choose one from {MIN_OPSET} "
                        f"to {newest} (the newest tf2onnx and onnxruntime both support)")
    return int(opset)


@contextlib.contextmanager
def trace_without_cudnn(model):
    """Inside the block, every layer with a `use_cudnn` switch has it off (restored on
    exit): where a GPU is visible, Keras traces LSTM and GRU as `CudnnRNNV3`, which tf2onnx
    cannot convert. Trace inside the block: a function traced before keeps its cuDNN graph.
    """
    # `_flatten_layers` also reaches layers nested in sub-models and wrappers such as
    # Bidirectional, which `model.layers` does not.
    layers = [layer for layer in model._flatten_layers(include_self=True, recursive=True)
              if hasattr(layer, "use_cudnn")]
    saved = [layer.use_cudnn for layer in layers]
    try:
        for layer in layers:
            layer.use_cudnn = False
        yield model
    finally:
        for layer, use_cudnn in zip(layers, saved):
            layer.use_cudnn = use_cudnn


def op_counts(model):
    """How many nodes of each op type the top-level graph has, e.g. {"LSTM": 2, ...}."""
    return dict(collections.Counter(node.op_type for node in model.graph.node))


def _loop_names(graph):
    """Names of the Loop nodes in `graph` and in the subgraphs of its nodes."""
    names = []
    for node in graph.node:
        if node.op_type == "Loop":
            names.append(node.name)
        for attribute in node.attribute:
            for subgraph in [attribute.g] if attribute.HasField("g") else list(attribute.graphs):
                names += _loop_names(subgraph)
    return names


def _rename_tensor(graph, old, new):
    for node in graph.node:
        node.input[:] = [new if name == old else name for name in node.input]
        node.output[:] = [new if name == old else name for name in node.output]
    for value in list(graph.output) + list(graph.value_info):
        if value.name == old:
            value.name = new


def _name_dynamic_axes(graph):
    """Name the dynamic axes: `batch` first, and `time` second in a [batch, time, features] input."""
    for value, is_input in [(v, True) for v in graph.input] + [(v, False) for v in graph.output]:
        dims = value.type.tensor_type.shape.dim
        names = ["batch", "time"] if is_input and len(dims) == 3 else ["batch"]
        for dim, name in zip(dims, names):
            if not dim.HasField("dim_value"):
                dim.dim_param = name


# Positions of initial_h (and initial_c) among the inputs of ONNX recurrent nodes.
INITIAL_STATE_INPUTS = {"RNN": (5,), "GRU": (5,), "LSTM": (5, 6)}
# Ops whose output is all zeros whenever their first (data) input is.
ZERO_PRESERVING_OPS = {"Expand", "Unsqueeze", "Squeeze", "Reshape", "Cast", "Identity", "Tile"}


def _drop_zero_initial_states(graph):
    """Leave out initial states that are zeros built at run time: ONNX's default is zero.

    Keras starts every recurrent layer from `zeros([batch, units])`, which tf2onnx
    exports as a Shape-Slice-Concat-Expand-Unsqueeze chain run on every call.
    """
    producers = {output: node for node in graph.node for output in node.output}
    initializers = {tensor.name: tensor for tensor in graph.initializer}

    def is_zero(name):
        while name in producers and producers[name].op_type in ZERO_PRESERVING_OPS:
            name = producers[name].input[0]
        if name in initializers:
            return not numpy_helper.to_array(initializers[name]).any()
        node = producers.get(name)
        if node is not None and node.op_type == "Constant":
            values = [a.t for a in node.attribute if a.name == "value"]
            return bool(values) and not numpy_helper.to_array(values[0]).any()
        return False

    for node in graph.node:
        for index in INITIAL_STATE_INPUTS.get(node.op_type, ()):
            if index < len(node.input) and node.input[index] and is_zero(node.input[index]):
                node.input[index] = ""
        while node.op_type in INITIAL_STATE_INPUTS and node.input[-1] == "":
            node.input.pop()   # trailing optional inputs may simply be left out


def _names_read_by(node):
    """The tensors `node` reads, including outer-scope names read inside its subgraphs."""
    names = [name for name in node.input if name]
    for attribute in node.attribute:
        for subgraph in [attribute.g] if attribute.HasField("g") else list(attribute.graphs):
            for inner in subgraph.node:
                names += _names_read_by(inner)
    return names


def _remove_unused(graph):
    """Remove the nodes and initializers no graph output depends on (graph is sorted)."""
    needed = {output.name for output in graph.output}
    kept = []
    for node in reversed(graph.node):
        if any(output in needed for output in node.output):
            kept.append(node)
            needed.update(_names_read_by(node))
    del graph.node[:]
    graph.node.extend(reversed(kept))
    initializers = [tensor for tensor in graph.initializer if tensor.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(initializers)


def convert(function, input_signature, opset=None, allow_loop=False, output_name="forecast"):
    """Convert a traced forecaster to ONNX, with every recurrent layer as one fused node.

    Args:
        function: a `tf.function` (or a plain callable, wrapped in one here), e.g.
            `lambda window: model((window - mean) / std) * target_std + target_mean`.
        input_signature: its `tf.TensorSpec`s; None dimensions stay dynamic in ONNX
            and the spec's name becomes the input's name.
        opset: ONNX opset; default `default_opset()`.
        allow_loop: accept a `Loop` node left by a recurrent layer that could not be
            fused (slow in onnxruntime) instead of raising `FusionError`.
        output_name: the output's name, or a list of names for a function with several
            outputs (in order); None keeps tf2onnx's names.

    Returns:
        The `onnx.ModelProto`, already checked with `onnx.checker.check_model(full_check=True)`.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf
    import tf2onnx

    from lstm_tf.rnn_fusion import fuse_keras_simple_rnn

    opset = _checked_opset(opset)
    if not hasattr(function, "get_concrete_function"):
        function = tf.function(function, input_signature=input_signature)
    model, _ = tf2onnx.convert.from_function(
        function, input_signature=input_signature, opset=opset,
        custom_rewriter=[fuse_keras_simple_rnn()])

    # tf2onnx converts with continue_on_error, leaving unconvertible TF ops in place.
    unknown = sorted({node.op_type for node in model.graph.node
                      if not onnx.defs.has(node.op_type, node.domain)})
    if unknown:
        raise UserError(f"tf2onnx could not convert these TensorFlow ops to ONNX: {', '.join(unknown)}")
    loops = _loop_names(model.graph)
    if loops and not allow_loop:
        raise FusionError(
            f"{len(loops)} Loop node(s) remain in the ONNX graph ({', '.join(loops)}): a recurrent "
            "layer was not fused into an ONNX LSTM/RNN/GRU node (unsupported activation, masking "
            "or layer type?). onnxruntime runs a Loop several times slower; pass allow_loop=True "
            "to export it anyway.")

    if output_name is not None:
        names = [output_name] if isinstance(output_name, str) else list(output_name)
        if len(model.graph.output) != len(names):
            raise ValueError(f"{len(names)} output name(s) for {len(model.graph.output)} outputs")
        for output, name in zip(list(model.graph.output), names):
            _rename_tensor(model.graph, output.name, name)
    _drop_zero_initial_states(model.graph)
    _remove_unused(model.graph)
    _name_dynamic_axes(model.graph)
    onnx.checker.check_model(model, full_check=True)
    return model


# --- Hand-built reference graphs ------------------------------------------------------

def _onnx_activation(layer, attribute):
    name = getattr(layer, attribute).__name__
    if name not in ONNX_ACTIVATIONS:
        raise UserError(f"layer {layer.name!r}: {attribute}={name!r} has no ONNX equivalent here "
                        f"(supported: {', '.join(ONNX_ACTIVATIONS)})")
    return ONNX_ACTIVATIONS[name]


def _onnx_weights(layer, lstm: bool):
    """Keras LSTM (4 gates) or SimpleRNN weights in ONNX layout: W [1, gates·h, in],
    R [1, gates·h, h], B [1, 2·gates·h].

    Keras stacks the LSTM's gates as (input, forget, cell, output), ONNX as (input,
    output, forget, cell).
    """
    def onnx_gate_order(matrix):   # gates along the last axis
        if not lstm:
            return matrix
        input_gate, forget_gate, cell_gate, output_gate = np.split(matrix, 4, axis=-1)
        return np.concatenate([input_gate, output_gate, forget_gate, cell_gate], axis=-1)

    kernel, recurrent_kernel, *bias = layer.get_weights()
    bias = bias[0] if bias else np.zeros(kernel.shape[1], kernel.dtype)
    return (onnx_gate_order(kernel).T[None], onnx_gate_order(recurrent_kernel).T[None],
            np.concatenate([onnx_gate_order(bias), np.zeros_like(bias)])[None])


class _Graph:
    """The nodes and initializers of a hand-built ONNX graph, added one at a time."""

    def __init__(self):
        self.nodes, self.initializers = [], []

    def constant(self, name, value):
        self.initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(self, op_type, inputs, outputs, **attributes):
        self.nodes.append(helper.make_node(op_type, inputs, outputs, name=outputs[0], **attributes))
        return outputs[0]


def _recurrent_nodes(graph, layer, current, prefix, recurrent_type):
    """One ONNX `recurrent_type` node for a Keras recurrent layer reading the time-major
    `current`; returns its output: the time-major sequence [time, batch, hidden] with
    return_sequences, else the last state [batch, hidden]."""
    if layer.go_backwards or layer.return_state or layer.stateful:
        raise UserError(f"layer {layer.name!r}: go_backwards, return_state and stateful "
                        "are not supported in the reference graph")
    w, r, b = _onnx_weights(layer, recurrent_type == "LSTM")
    activations = [_onnx_activation(layer, "activation")]
    if recurrent_type == "LSTM":
        activations = [_onnx_activation(layer, "recurrent_activation")] + activations * 2
    all_outputs, last_output = f"{prefix}_Y", f"{prefix}_Y_h"
    graph.nodes.append(helper.make_node(
        recurrent_type,
        [current, graph.constant(f"{prefix}_W", w), graph.constant(f"{prefix}_R", r),
         graph.constant(f"{prefix}_B", b)],
        [all_outputs, last_output], name=prefix,
        hidden_size=layer.units, activations=activations))
    if layer.return_sequences:   # Y [time, 1, batch, hidden] -> [time, batch, hidden]
        return graph.node("Squeeze", [all_outputs, graph.constant(f"{prefix}_axis1", np.array([1]))],
                          [f"{prefix}_sequence"])
    # Y_h [1, batch, hidden] -> [batch, hidden]
    return graph.node("Squeeze", [last_output, graph.constant(f"{prefix}_axis0", np.array([0]))],
                      [f"{prefix}_last"])


def _quantile_nodes(graph, layer, current, prefix):
    """quantiles.QuantileHead: the median, then each further quantile its neighbour
    plus (above) or minus (below) a scaled softplus of its raw output."""
    # Gather with a [1] index keeps the axis: each raw[j] is [batch, horizon, targets, 1].
    raw = [graph.node("Gather", [current, graph.constant(f"{prefix}_i{j}", np.array([j]))],
                      [f"{prefix}_raw{j}"], axis=3) for j in range(len(layer.levels))]
    values, m = list(raw), layer.median
    scale = np.maximum(layer.get_weights()[0], 0)  # [targets, Q]
    for j in [*range(m + 1, len(raw)), *range(m - 1, -1, -1)]:
        neighbour = values[j - 1] if j > m else values[j + 1]
        offset = graph.node("Mul", [graph.node("Softplus", [raw[j]], [f"{prefix}_softplus{j}"]),
                                    graph.constant(f"{prefix}_scale{j}", scale[:, j:j + 1])],
                            [f"{prefix}_offset{j}"])
        values[j] = graph.node("Add" if j > m else "Sub", [neighbour, offset], [f"{prefix}_q{j}"])
    return graph.node("Concat", values, [f"{prefix}_quantiles"], axis=3)


def _head_nodes(graph, layer, current, prefix, recurrent_class):
    """The batch-major nodes of one head layer: a linear Dense, a Reshape or a
    QuantileHead; any other layer is refused."""
    import keras

    if isinstance(layer, keras.layers.Dense):
        if layer.activation.__name__ != "linear":
            raise UserError(f"layer {layer.name!r}: only a linear Dense head is supported")
        kernel, *bias = layer.get_weights()
        current = graph.node("MatMul", [current, graph.constant(f"{prefix}_kernel", kernel)],
                             [f"{prefix}_matmul"])
        if bias:
            current = graph.node("Add", [current, graph.constant(f"{prefix}_bias", bias[0])],
                                 [f"{prefix}_dense"])
        return current
    if isinstance(layer, keras.layers.Reshape):
        shape = np.array([-1, *layer.target_shape], dtype=np.int64)
        return graph.node("Reshape", [current, graph.constant(f"{prefix}_shape", shape)],
                          [f"{prefix}_reshaped"])
    if hasattr(layer, "levels"):  # quantiles.QuantileHead
        return _quantile_nodes(graph, layer, current, prefix)
    raise UserError(f"layer {layer.name!r} ({type(layer).__name__}) is not supported in the "
                    f"reference graph: use {recurrent_class.__name__}, Dropout, Dense and Reshape")


def _reference_onnx(keras_model, opset, recurrent_type):
    """One ONNX `recurrent_type` node per recurrent layer, then the Dense/Reshape head."""
    import keras

    recurrent_class = {"LSTM": keras.layers.LSTM, "RNN": keras.layers.SimpleRNN}[recurrent_type]
    opset = default_opset() if opset is None else opset
    graph = _Graph()
    features = keras_model.input_shape[-1]
    current, time_major = "window", False
    for index, layer in enumerate(keras_model.layers):
        prefix = f"{layer.name}_{index}"
        if isinstance(layer, (keras.layers.InputLayer, keras.layers.Dropout)):
            continue   # Dropout is the identity at inference
        if isinstance(layer, recurrent_class):
            if not time_major:   # ONNX recurrent nodes read [time, batch, features]
                current = graph.node("Transpose", [current], [f"{prefix}_time_major"],
                                     perm=[1, 0, 2])
            current = _recurrent_nodes(graph, layer, current, prefix, recurrent_type)
            time_major = layer.return_sequences
            continue
        if time_major:   # back to batch-major for the head
            current = graph.node("Transpose", [current], [f"{prefix}_batch_major"], perm=[1, 0, 2])
            time_major = False
        current = _head_nodes(graph, layer, current, prefix, recurrent_class)
    if time_major:
        current = graph.node("Transpose", [current], ["output_batch_major"], perm=[1, 0, 2])
    graph.nodes[-1].output[0] = "forecast"

    output_dims = ["batch", *keras_model.output_shape[1:]]
    model = helper.make_model(
        helper.make_graph(
            graph.nodes, f"reference_{recurrent_type.lower()}",
            [helper.make_tensor_value_info("window", TensorProto.FLOAT, ["batch", "time", features])],
            [helper.make_tensor_value_info("forecast", TensorProto.FLOAT, output_dims)],
            graph.initializers),
        opset_imports=[helper.make_opsetid("", opset)], producer_name="lstm-tf reference")
    onnx.checker.check_model(model, full_check=True)
    return model


def reference_lstm_onnx(keras_model, opset=None):
    """The hand-built ONNX graph of a Keras LSTM forecaster (a stack of LSTM, Dropout, a
    linear Dense, Reshape): one `LSTM` node per layer; `window` in, `forecast` out."""
    return _reference_onnx(keras_model, opset, "LSTM")


def reference_rnn_onnx(keras_model, opset=None):
    """The hand-built ONNX graph of a Keras SimpleRNN forecaster: one `RNN` node per layer."""
    return _reference_onnx(keras_model, opset, "RNN")
