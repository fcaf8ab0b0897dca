"""The `lstm-tf` command line: thin Click commands over the `lstm_tf` library."""
