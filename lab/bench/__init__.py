"""Benchmark helpers, out of the core package's way: `inference` (latency of a run's
forecast through Keras, tf.function and onnxruntime), `training` (samples per second
of training and of its input pipeline), `onnx_graphs` (converted against hand-built
ONNX graphs: `python -m lstm_tf_lab.bench.onnx_graphs`)."""
