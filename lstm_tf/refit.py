"""The final fit (`--final`): once validation has chosen, train again on every row before
the test part.

    validation run  : network trained on the training windows; early stopping picks the
                      best epoch E on the validation windows; the anchor is chosen there
                      and whether the network beats it ("network kept")
    final fit       : a fresh network (same seed) trained E epochs on the training AND
                      validation windows, no early stopping; zeroed like the first when
                      the first was not kept

The anchor's regressions are already refitted on the training and validation windows
when it is chosen (anchors.choose), and a single series keeps its training rows' scaler,
so the network is the one thing refitted. The test part is never seen: its windows'
targets lie after every row the final fit reads, so a run's test metrics stay honest
held-out figures of the model it exports, which forecasts from the latest data.

The validation windows are in-sample for the final network, so nothing is chosen on
them afterwards (a quantile run's calibration still uses them: slightly optimistic).
"""

from __future__ import annotations

import numpy as np

from . import data as data_lib
from . import quantiles as quantiles_lib


def final_starts(prepared) -> np.ndarray:
    """Every window whose targets lie before the test part: training and validation."""
    return np.sort(np.concatenate([prepared.starts["train"], prepared.starts["val"]]))


def zero_network(model, config) -> None:
    """Zero the head's output (a quantile head: its median's), so the model is its anchor."""
    head = model.get_layer("head")
    if config.model.quantiles:
        quantiles_lib.zero_median(head, config.model.quantiles)
    else:
        head.set_weights([np.zeros_like(w) for w in head.get_weights()])


def final_fit(config, prepared, strategy, policy: str, epochs: int, network_kept: bool,
              verbose: int = 0):
    """A fresh network trained `epochs` epochs on `final_starts` (see the module
    docstring); returns it, zeroed when `network_kept` is False."""
    from .devices import batches_per_epoch, even_shards, with_data_sharding
    from .models import build_model
    from .tf_setup import set_seed
    from .train import compile_model, largest_divisor

    data, train = config.data, config.train
    series, n_targets = prepared.series, prepared.n_targets
    set_seed(train.seed, deterministic_ops=not train.xla)  # the same start as the first fit
    starts = final_starts(prepared)
    dataset = with_data_sharding(even_shards(data_lib.make_dataset(
        prepared.scaled, starts, data.window, data.horizon, n_targets, train.batch_size,
        shuffle=True, seed=train.seed, epochs=range(epochs), anchor=prepared.anchor,
        window_scaled=prepared.window_scaled, window_measure=prepared.window_measure,
        covariates=prepared.covariates,
        row_series=series.series_index() if prepared.series_input else None), train.replicas))
    steps = batches_per_epoch(len(starts), train.batch_size, train.replicas)
    with strategy.scope():
        model = build_model(config.model, features=len(series.columns), horizon=data.horizon,
                            targets=n_targets, dtype_policy=policy,
                            unroll_window=data.window if train.unroll else None,
                            zero_head=prepared.anchor.relative_inputs,
                            covariates=(prepared.covariate_spec.count
                                        if prepared.covariate_spec else 0),
                            series_count=len(series.names) if prepared.series_input else 0)
        if train.init:  # the same start as the first fit's
            from .transfer import start_from

            start_from(model, train.init)
        compile_model(model, _with_steps(train, largest_divisor(steps,
                                                                train.steps_per_execution)),
                      policy)
    model.fit(dataset, epochs=epochs, steps_per_epoch=steps, verbose=verbose, shuffle=False)
    if not network_kept and prepared.anchor.relative_inputs:
        zero_network(model, config)
    return model


def _with_steps(train, steps_per_execution: int):
    from dataclasses import replace

    return replace(train, steps_per_execution=steps_per_execution)
