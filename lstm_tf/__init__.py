"""lstm-tf: SimpleRNN and LSTM forecasters in Keras 3, exported to ONNX.

Importing this package is cheap: TensorFlow is imported only by the modules that
need it (models, train, export), so the CLI's help and the ONNX-only `predict`
path never load it.
"""

__version__ = "0.1.0"
