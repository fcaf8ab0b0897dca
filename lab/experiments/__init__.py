"""The tutorial's claims as experiments you can rerun (`lstm-tf experiment`): `adding`
runs the gradient and memory experiments on the adding problem."""
