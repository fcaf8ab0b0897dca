"""lstm-tf's lab, beside the library: the tutorial's claims as experiments (`experiments`:
`lstm-tf experiment`) and the benchmark helpers (`bench`: `lstm-tf onnx bench`,
`lstm-tf bench-train`). It imports the library; the library never imports it."""
