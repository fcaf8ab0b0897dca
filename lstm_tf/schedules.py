"""Learning-rate schedules (`--lr-schedule`), as Keras callbacks.

    constant  the learning rate `--learning-rate` throughout (the default)
    plateau   lr <- lr / 2 when the validation loss has not improved for
              max(2, patience // 3) epochs, down to lr / 32

A plateau schedule lets early stopping see a second, finer descent before it stops: the
step that overshoots at the start is halved where the validation loss stalls.
"""

from __future__ import annotations

MIN_FACTOR = 1 / 32


def schedule_callbacks(train, monitor: str = "val_loss") -> list:
    """The callbacks of `train.lr_schedule` (a `config.TrainConfig`), watching the logged
    value `monitor`; [] for constant."""
    if train.lr_schedule == "constant":
        return []
    import keras

    return [keras.callbacks.ReduceLROnPlateau(
        monitor=monitor, factor=0.5, patience=max(2, train.patience // 3),
        min_lr=train.learning_rate * MIN_FACTOR, verbose=0)]
