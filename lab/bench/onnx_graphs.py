"""Batch-1 onnxruntime latency of converted forecasters against hand-built ONNX graphs.

    python -m lstm_tf_lab.bench.onnx_graphs           # 2 layers x 64 units, window 48, horizon 1

For the reference LSTM and SimpleRNN it times, side by side in one process:
the converted model (`onnx_convert.convert`), the hand-built graph with one recurrent
node per layer and the same weights (`reference_*_onnx`) and, for SimpleRNN, the
unfused `Loop` graph that plain tf2onnx produces. Timings on a shared machine are
noisy: sessions are timed in interleaved rounds and the median call is reported.
"""

import os

import numpy as np


def reference_model(kind, layers=2, units=64, window=48, features=1, horizon=1, seed=0):
    """The project's forecaster (`models.build_model`) with random non-zero weights and biases."""
    import keras

    from lstm_tf.config import ModelConfig
    from lstm_tf.models import build_model

    keras.utils.set_random_seed(seed)
    model = build_model(ModelConfig(kind, units=units, layers=layers, dropout=0.2),
                        features=features, horizon=horizon, targets=features)
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        scale = 1 / np.sqrt(weight.shape[0]) if len(weight.shape) == 2 else 0.1
        weight.assign(rng.normal(scale=scale, size=weight.shape).astype("float32"))
    return model


def compare(layers=2, units=64, window=48, budget_seconds=0.3, rounds=300, threads=1):
    """Median batch-1 latencies (seconds) of converted vs hand-built vs Loop graphs,
    timed in interleaved rounds (`bench.time_interleaved`)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf
    import tf2onnx

    from lstm_tf import onnx_convert
    from lstm_tf_lab.bench.inference import time_interleaved
    from lstm_tf.runtime import session

    signature = [tf.TensorSpec([None, None, 1], tf.float32, name="window")]
    feed = {"window": np.random.default_rng(1).normal(size=(1, window, 1)).astype("float32")}
    sessions = {}
    for kind, reference in [("lstm", onnx_convert.reference_lstm_onnx),
                            ("rnn", onnx_convert.reference_rnn_onnx)]:
        model = reference_model(kind, layers, units, window)
        converted = onnx_convert.convert(lambda window: model(window), signature)
        sessions[f"{kind} converted"] = session(converted.SerializeToString(), threads)
        sessions[f"{kind} hand-built"] = session(reference(model).SerializeToString(), threads)
        if kind == "rnn":
            unfused, _ = tf2onnx.convert.from_function(
                tf.function(lambda window: model(window), input_signature=signature),
                input_signature=signature, opset=onnx_convert.default_opset())
            sessions["rnn Loop (tf2onnx alone)"] = session(unfused.SerializeToString(), threads)
    candidates = {name: (lambda run=ort_session.run: run(None, feed))
                  for name, ort_session in sessions.items()}
    timings = time_interleaved(candidates, budget_seconds, rounds)
    return {name: median for name, (median, _) in timings.items()}


def main():
    threads = int(os.environ.get("BENCH_THREADS", "1"))
    latencies = compare(threads=threads)
    print(f"batch 1, 2 layers x 64 units, window 48, intra_op_num_threads={threads}")
    for name, seconds in latencies.items():
        print(f"  {name:28s} {seconds * 1e6:9.1f} us")
    print(f"  LSTM converted / hand-built   {latencies['lstm converted'] / latencies['lstm hand-built']:.2f}x")
    print(f"  RNN converted / hand-built    {latencies['rnn converted'] / latencies['rnn hand-built']:.2f}x")
    print(f"  RNN Loop / converted          "
          f"{latencies['rnn Loop (tf2onnx alone)'] / latencies['rnn converted']:.2f}x")


if __name__ == "__main__":
    main()
