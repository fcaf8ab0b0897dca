"""onnxruntime sessions and lstm-tf metadata, without TensorFlow.

This module (with `contract` and `data`) is all the ONNX-only paths use, so
`lstm-tf predict` never imports TensorFlow.
"""

from __future__ import annotations

import os
from pathlib import Path

from . import contract
from .errors import UserError


def session(model: str | os.PathLike | bytes, threads: int | None = None):
    """An onnxruntime CPU session for a model file or serialized bytes.

    `threads` sets intra-op threads (default: onnxruntime's own choice). One thread
    is fastest for batch-1 forecasts: a recurrent forecast is a chain of tiny
    matrix-vector products, one per step, too small to split across threads.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = threads
    source = model if isinstance(model, bytes) else str(model)
    if not isinstance(model, bytes) and not Path(model).is_file():
        raise UserError(f"model file {Path(model)} does not exist")
    try:
        return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own exception types
        name = "the model" if isinstance(model, bytes) else str(model)
        message = " ".join(str(error).split())[:200]
        raise UserError(f"{name} is not a valid ONNX model ({message})") from None


def metadata(sess, source: str) -> dict:
    """The validated lstm-tf metadata of an onnxruntime session's model."""
    raw = sess.get_modelmeta().custom_metadata_map.get(contract.METADATA_KEY)
    return contract.parse_metadata(raw, source)
