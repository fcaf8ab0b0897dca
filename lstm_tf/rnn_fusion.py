"""A tf2onnx rewriter that turns Keras 3's SimpleRNN while-loop into one ONNX `RNN` node.

tf2onnx fuses Keras' LSTM and GRU loops (`rewriter/lstm_tf2_rewriter.py`,
`gru_tf2_rewriter.py`) but has no rule for Keras 3's SimpleRNN, whose `While` then
becomes an ONNX `Loop` that onnxruntime runs several times slower than its `RNN`
kernel. This module adds that rule, built the way tf2onnx builds its own TF2 rules,
in two phases over the graphs tf2onnx hands to every rewriter:

1. Body phase. tf2onnx rewrites each while-loop body (a TF function) before the
   main graph. In a body we look for the SimpleRNN cell

       x_t    = TensorListGetItem(inputs, time)
       h_t    = activation(x_t @ kernel + bias + h_{t-1} @ recurrent_kernel)
       output = TensorListSetItem(outputs, time or 0, h_t)

   and remember, by body name, which loop input carries each of these tensors.
2. Main phase. For every `While` whose body matched, and whose weights are constants,
   we build `RNN(X, W, R, B, initial_h)` from the loop's inputs and rewire the loop's
   consumers to the RNN outputs. The orphaned `While` is then pruned by tf2onnx.

Anything unexpected (masking, another activation, weights that are not constants)
leaves the loop as it is; `onnx_convert.convert` then reports the remaining `Loop`.
Only TF-only code paths import this module (it imports tf2onnx, hence TensorFlow).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")   # before tf2onnx imports TensorFlow

import numpy as np  # noqa: E402
from tf2onnx import utils  # noqa: E402
from tf2onnx.graph_builder import GraphBuilder  # noqa: E402
from tf2onnx.graph_matcher import GraphMatcher, OpTypePattern  # noqa: E402
from tf2onnx.tf_loader import find_function  # noqa: E402

# TF activation op -> ONNX RNN activation name. ONNX's RNN knows more activations,
# but these are the ones whose Keras and ONNX definitions agree exactly.
ONNX_ACTIVATIONS = {"Tanh": "Tanh", "Relu": "Relu", "Sigmoid": "Sigmoid"}


def _cell_patterns():
    """The SimpleRNN cell, with and without bias, for both operand orders of the sum."""
    def input_projection(use_bias):
        matmul = OpTypePattern("MatMul", name="input_matmul", inputs=[
            OpTypePattern("TensorListGetItem", name="x_t"),
            OpTypePattern("*", name="kernel"),
        ])
        if not use_bias:
            return matmul
        return OpTypePattern("BiasAdd|Add|AddV2", name="bias_add", inputs=[
            matmul, OpTypePattern("*", name="bias"),
        ])

    def recurrent_projection():
        return OpTypePattern("MatMul", name="recurrent_matmul", inputs=[
            OpTypePattern("*", name="previous_output"),
            OpTypePattern("*", name="recurrent_kernel"),
        ])

    patterns = []
    for use_bias in (True, False):
        for summands in ((input_projection(use_bias), recurrent_projection()),
                         (recurrent_projection(), input_projection(use_bias))):
            total = OpTypePattern("Add|AddV2", name="pre_activation", inputs=list(summands))
            patterns.append((use_bias, OpTypePattern("*", name="activation", inputs=[total])))
    return patterns


def _through_identities(node):
    while node.type == "Identity":
        node = node.inputs[0]
    return node


def _graph_input_index(g, node):
    """Index of `node` among the graph inputs (= loop inputs), or None."""
    node = _through_identities(node)
    return g.input_names.index(node.output[0]) if node.is_graph_input() else None


def _graph_output_index(g, tensor_name):
    """Index of the body output that forwards `tensor_name` (through Identity ops), or None."""
    for index, output in enumerate(g.outputs):
        while output != tensor_name:
            node = g.get_node_by_output(output)
            if node is None or node.type != "Identity":
                break
            output = node.input[0]
        if output == tensor_name:
            return index
    return None


def _match_body(g, ops):
    """Phase 1: the loop-input positions of a SimpleRNN cell in a while body, or None."""
    for use_bias, pattern in _cell_patterns():
        for match in GraphMatcher(pattern, allow_reorder=False).match_ops(ops):
            activation = match.get_op("activation")
            if activation.type not in ONNX_ACTIVATIONS:
                continue
            if use_bias:
                bias_add = match.get_op("bias_add")
                if bias_add.type == "BiasAdd" and bias_add.data_format != "NHWC":
                    continue
            x_t = match.get_op("x_t")
            positions = {
                "inputs": _graph_input_index(g, x_t.inputs[0]),
                "time": _graph_input_index(g, x_t.inputs[1]),
                "state": _graph_input_index(g, match.get_op("previous_output")),
                "kernel": _graph_input_index(g, match.get_op("kernel")),
                "recurrent_kernel": _graph_input_index(g, match.get_op("recurrent_kernel")),
                "bias": _graph_input_index(g, match.get_op("bias")) if use_bias else -1,
            }
            if None in positions.values():
                continue
            # The new state must be this cell's output: h_{t-1} of the next step is h_t.
            if _graph_output_index(g, activation.output[0]) != positions["state"]:
                continue
            # The output sequence: one TensorListSetItem of h_t (a Select here would
            # mean masking, which this rule does not support).
            consumers = g.find_output_consumers(activation.output[0])
            set_items = [n for n in consumers if n.type == "TensorListSetItem"]
            if len(set_items) != 1 or any(n.type == "Select" for n in consumers):
                continue
            set_item = set_items[0]
            positions["outputs"] = _graph_input_index(g, set_item.inputs[0])
            if positions["outputs"] is None:
                continue
            write_index = set_item.inputs[1]
            if _graph_input_index(g, write_index) == positions["time"]:
                positions["keeps_last_only"] = False   # return_sequences=True
            elif write_index.is_const() and int(write_index.get_tensor_value()) == 0:
                positions["keeps_last_only"] = True    # the list holds the last output only
            else:
                continue
            positions["activation"] = ONNX_ACTIVATIONS[activation.type]
            return positions
    return None


def _rewrite_while(g, loop, cell):
    """Phase 2: replace one matched `While` by an ONNX RNN node. Returns True on success."""
    weight_names = [loop.input[cell["kernel"]], loop.input[cell["recurrent_kernel"]]]
    if cell["bias"] >= 0:
        weight_names.append(loop.input[cell["bias"]])
    if not all(g.is_const(name) for name in weight_names):
        return False
    kernel = g.get_tensor_value(weight_names[0], as_list=False)
    recurrent_kernel = g.get_tensor_value(weight_names[1], as_list=False)
    hidden = recurrent_kernel.shape[0]
    if kernel.ndim != 2 or recurrent_kernel.shape != (hidden, hidden) or kernel.shape[1] != hidden:
        return False
    if cell["bias"] >= 0:
        bias = g.get_tensor_value(weight_names[2], as_list=False).reshape(-1)
    else:
        bias = np.zeros(hidden, dtype=kernel.dtype)

    # The loop must walk the whole input sequence from its start.
    sequence = loop.inputs[cell["inputs"]]
    start_time = loop.input[cell["time"]]
    if sequence.type != "TensorListFromTensor":
        return False
    if not g.is_const(start_time) or int(g.get_tensor_value(start_time)) != 0:
        return False
    if cell["keeps_last_only"]:
        reserve = loop.inputs[cell["outputs"]]
        if reserve.type != "TensorListReserve" or not reserve.inputs[1].is_const() \
                or int(reserve.inputs[1].get_tensor_value()) != 1:
            return False

    x = sequence.input[0]   # [time, batch, features]: Keras transposes to time-major
    x_shape = g.get_shape(x) or [-1, -1, kernel.shape[0]]
    dtype = g.get_dtype(x)
    builder = GraphBuilder(g)
    # ONNX: W [directions, hidden, input], R [directions, hidden, hidden], B = [Wb, Rb].
    w = g.make_const(utils.make_name(loop.name + "_W"), kernel.T[None].copy()).output[0]
    r = g.make_const(utils.make_name(loop.name + "_R"), recurrent_kernel.T[None].copy()).output[0]
    b = g.make_const(utils.make_name(loop.name + "_B"),
                     np.concatenate([bias, np.zeros_like(bias)])[None]).output[0]
    initial_h = builder.make_unsqueeze({"data": loop.input[cell["state"]], "axes": [0]})
    rnn = g.make_node(
        "RNN", [x, w, r, b, "", initial_h],
        attr={"hidden_size": hidden, "activations": [cell["activation"]], "direction": "forward"},
        output_count=2,
        shapes=[[x_shape[0], 1, x_shape[1], hidden], [1, x_shape[1], hidden]],
        dtypes=[dtype, dtype],
        op_name_scope=loop.name,
    )
    all_outputs, last_output = rnn.output

    for consumer in g.find_output_consumers(loop.output[cell["outputs"]]):
        if consumer.type != "TensorListStack":
            continue
        if cell["keeps_last_only"]:
            replacement = last_output   # [1, batch, hidden] = the one-element list, stacked
        else:
            replacement = builder.make_squeeze({"data": all_outputs, "axes": [1]})
        g.replace_all_inputs(consumer.output[0], replacement)
    final_state = builder.make_squeeze({"data": last_output, "axes": [0]})
    g.replace_all_inputs(loop.output[cell["state"]], final_state)
    return True


def fuse_keras_simple_rnn():
    """A fresh tf2onnx rewriter (pass it in `custom_rewriter=[...]`) for one conversion.

    The returned function keeps what it learned from the loop bodies in its closure,
    so every conversion needs a new one.
    """
    cells_by_body = {}

    def rewrite_keras_simple_rnn(g, ops):
        cell = _match_body(g, ops)
        if cell is not None:
            cells_by_body[g.graph_name] = cell
        for op in ops:
            if op.is_while():
                body_name = op.get_attr_str("body")
                if body_name in cells_by_body and find_function(body_name) is not None:
                    _rewrite_while(g, op, cells_by_body[body_name])
        return g.get_nodes()

    return rewrite_keras_simple_rnn
