"""Hyper-parameter search with KerasTuner (`lstm-tf tune`; the `tune` extra).

The search space, around the data's default window (`data.default_window`):

    window         default/2, default, 2 x default (capped by the training rows)
    units          16, 32, 64
    layers         1, 2
    learning rate  log-uniform 1e-4 .. 1e-2
    dropout        0, 0.1, 0.2 (between the layers: only with 2 layers)

Every trial prepares its own data (a window changes the windows and their anchor),
builds and fits the network as `train` does, with early stopping on the validation
windows. Its score is the MAE in original units of anchor + network over every
validation window (stride 1) and horizon step, or the anchor's alone when the network
does not beat it (`train.keep_network_if_better` would zero it); the test part is never
looked at. The best configuration is trained as an ordinary run (`train.train`), with
`tuning.json` (every trial, the best, the seconds) written into it.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from . import data as data_lib
from .atomic import refuse_overwrite, write_json
from .config import DataConfig, ModelConfig, RunConfig, TrainConfig, check_positive
from .data.panel import Panel
from .data.prepare import load_data, prepare_any
from .errors import UserError, check_choice

ALGORITHMS = ("bayesian", "hyperband")
UNITS = (16, 32, 64)
LAYERS = (1, 2)
DROPOUTS = (0.0, 0.1, 0.2)
LEARNING_RATES = (1e-4, 1e-2)  # log-uniform between
TUNING_FILE = "tuning.json"
MISSING = 'lstm-tf tune needs keras-tuner: pip install "lstm-tf[tune]"'
MISSING_SKLEARN = ('lstm-tf tune --algorithm bayesian needs scikit-learn: pip install '
                   '"lstm-tf[tune]" (or --algorithm hyperband)')


def keras_tuner(algorithm: str = "bayesian"):
    """The keras_tuner module, or a one-line error naming the extra.

    The Bayesian oracle imports scikit-learn only when a search starts, and keras-tuner
    installs it only through its own `bayesian` extra (which the `tune` extra asks for):
    without it the search would end in an ImportError traceback after the data were read."""
    try:
        import keras_tuner as kt
    except ImportError:
        raise UserError(MISSING) from None
    if algorithm == "bayesian":
        try:
            import sklearn  # noqa: F401
        except ImportError:
            raise UserError(MISSING_SKLEARN) from None
    return kt


@dataclass
class TuneConfig:
    trials: int = 12
    algorithm: str = "bayesian"
    epochs: int = 60  # per trial (bayesian) and for the final run
    max_epochs: int | None = None  # hyperband's largest budget; None: epochs
    patience: int = 10
    batch_size: int = 32
    seed: int = 42
    hyperband_factor: int = 3

    def validate(self) -> None:
        check_choice("algorithm", self.algorithm, ALGORITHMS)
        check_positive(trials=self.trials, epochs=self.epochs, batch_size=self.batch_size,
                       **({} if self.max_epochs is None else {"max_epochs": self.max_epochs}))


@dataclass
class Trial:
    number: int
    window: int
    units: int
    layers: int
    learning_rate: float
    dropout: float
    epochs: int  # the budget given (hyperband: tuner/epochs)
    epochs_run: int = 0
    score: float = math.inf  # validation MAE, original units
    anchor_score: float = math.inf  # the anchor alone
    network_kept: bool = False
    seconds: float = 0.0

    def hyperparameters(self) -> dict:
        return {"window": self.window, "units": self.units, "layers": self.layers,
                "learning_rate": self.learning_rate, "dropout": self.dropout}

    def describe(self) -> str:
        return (f"window {self.window}, units {self.units}, layers {self.layers}, "
                f"lr {self.learning_rate:.2g}, dropout {self.dropout}")


@dataclass
class Search:
    trials: list[Trial] = field(default_factory=list)

    @property
    def best(self) -> Trial:
        return min(self.trials, key=lambda trial: trial.score)


def window_choices(data: DataConfig, rows: int) -> list[int]:
    """default/2, default, 2 x default, each at most half the training rows (minus the
    horizon), so that every window still leaves training windows to learn from."""
    default = data_lib.default_window(rows, data.season, data.horizon, data.val_fraction,
                                      data.test_fraction, data.holdout)
    test = data.holdout if data.holdout is not None else int(round(rows * data.test_fraction))
    train_rows = (rows - test) * (1 - data.val_fraction)
    cap = max(1, int((train_rows - data.horizon) // 2))
    return sorted({min(max(1, w), cap) for w in (default // 2, default, 2 * default)})


def run_trial(trial: Trial, series, base: RunConfig, tune: TuneConfig) -> Trial:
    """Prepare the data for the trial's window, train the network, score it (see the
    module docstring)."""
    import keras

    from . import train as train_lib

    started = time.perf_counter()
    data = copy.deepcopy(base.data)
    data.window = trial.window
    prepared, _ = prepare_any(series, data)
    config = RunConfig(
        data=data, model=ModelConfig(kind=base.model.kind, units=trial.units,
                                     layers=trial.layers, dropout=trial.dropout, ensemble=1),
        train=TrainConfig(epochs=trial.epochs, batch_size=tune.batch_size,
                          learning_rate=trial.learning_rate, patience=tune.patience,
                          seed=tune.seed, device=base.train.device))
    keras.backend.clear_session()
    strategy, policy = train_lib.start_tensorflow(config.train, data.window, trial.layers)
    # The run's own pipelines (every replica gets windows in every batch) and model.
    train_set, val_set, steps = train_lib.datasets(prepared, config, 0)
    # One network (ensemble 1): the trainer `build_trainer` returns is the model itself.
    model, _ = train_lib.build_trainer(prepared, config, strategy, policy, log=lambda line: None)
    callbacks = [keras.callbacks.TerminateOnNaN()]
    if tune.patience:
        callbacks.append(keras.callbacks.EarlyStopping(patience=tune.patience,
                                                       restore_best_weights=True))
    history = model.fit(train_set, validation_data=val_set, epochs=config.train.epochs,
                        steps_per_epoch=steps, callbacks=callbacks, verbose=0, shuffle=False)
    # MAE in original units over every validation window (a panel: of every series;
    # stride 1) and horizon step, of anchor + network and of the anchor alone.
    starts = (prepared.starts["val"] if prepared.series_of is not None else data_lib.window_starts(
        *prepared.split.bounds("val"), data.window, data.horizon, 1))
    score, anchor = train_lib.network_and_anchor_mae(model, prepared, data, starts)
    trial.epochs_run = len(history.history.get("loss", []))
    trial.anchor_score = anchor
    trial.network_kept = bool(np.isfinite(score) and score < anchor)
    trial.score = score if trial.network_kept else anchor  # a zeroed network: the anchor
    trial.seconds = round(time.perf_counter() - started, 2)
    return trial


def tune(base: RunConfig, tune_config: TuneConfig, out: str | Path, force: bool = False,
         log: Callable[[str], None] = print) -> dict:
    """Search, train the best configuration as a run at `out`, write its tuning.json.

    `base` holds the data options (its window, model sizes and learning rate are
    searched); returns the tuning summary (what tuning.json holds)."""
    kt = keras_tuner(tune_config.algorithm)
    from . import train as train_lib

    tune_config.validate()
    base.validate()
    refuse_overwrite(out, force, "run directory")  # before the slow part
    started = time.perf_counter()
    base.data.window = None
    series = load_data(base.data)  # fills in season, targets, default window (a panel too)
    prepare_any(series, base.data)  # data problems fail now, at the default window
    # Rows of a series; a panel's median series length (its defaults are chosen by it).
    rows = int(np.median(series.lengths)) if isinstance(series, Panel) else len(series.values)
    windows = window_choices(base.data, rows)
    search = run_search(kt, series, base, tune_config, windows, log)
    search_seconds = time.perf_counter() - started
    best = search.best
    log(f"best: trial {best.number}: {best.describe()} -> validation MAE {best.score:.4g}; "
        f"training it as {out}")
    # The best configuration trained as an ordinary run, with the full epoch budget.
    config = RunConfig(
        data=copy.deepcopy(base.data),
        model=ModelConfig(kind=base.model.kind, units=best.units, layers=best.layers,
                          dropout=best.dropout),
        train=TrainConfig(epochs=tune_config.epochs, batch_size=tune_config.batch_size,
                          learning_rate=best.learning_rate, patience=tune_config.patience,
                          seed=tune_config.seed, device=base.train.device))
    config.data.window = best.window
    with _quiet_tensorflow():
        metrics = train_lib.train(config, out, force=force, verbose=0, log=log)
    summary = {**tuning_summary(tune_config, windows, search, metrics),
               "search_seconds": round(search_seconds, 2),
               "final_train_seconds": metrics["train_seconds"],
               "seconds": round(time.perf_counter() - started, 2),
               "test": {"mae": metrics["model"]["mae"], "naive_mae": metrics["naive"]["mae"]}}
    write_json(Path(out) / TUNING_FILE, summary)
    return {"summary": summary, "metrics": metrics}


def make_oracle(kt, tune_config: TuneConfig, windows: list[int]):
    """The KerasTuner oracle of `tune_config.algorithm` over the search space, capped at
    `tune_config.trials` trials."""
    hp = kt.HyperParameters()
    hp.Choice("window", windows)
    hp.Choice("units", list(UNITS))
    hp.Choice("layers", list(LAYERS))
    hp.Float("learning_rate", LEARNING_RATES[0], LEARNING_RATES[1], sampling="log")
    with hp.conditional_scope("layers", [2]):
        hp.Choice("dropout", list(DROPOUTS))
    objective = kt.Objective("validation_mae", direction="min")
    if tune_config.algorithm == "bayesian":
        return kt.oracles.BayesianOptimizationOracle(
            objective=objective, max_trials=tune_config.trials, seed=tune_config.seed,
            hyperparameters=hp, tune_new_entries=False, allow_new_entries=False)
    oracle = kt.oracles.HyperbandOracle(
        objective=objective, max_epochs=tune_config.max_epochs or tune_config.epochs,
        factor=tune_config.hyperband_factor, hyperband_iterations=None,
        seed=tune_config.seed, hyperparameters=hp, tune_new_entries=False,
        allow_new_entries=False)
    oracle.max_trials = tune_config.trials  # --trials caps hyperband too: its brackets repeat
    return oracle


def run_search(kt, series, base: RunConfig, tune_config: TuneConfig, windows: list[int],
               log: Callable[[str], None]) -> Search:
    """Every trial the oracle proposes, run by `run_trial` in a temporary KerasTuner
    directory (deleted afterwards); the first error ends the search and is raised as is."""
    search = Search()
    total = tune_config.trials

    class Tuner(kt.engine.base_tuner.BaseTuner):
        """Runs `run_trial`; a user error (bad data for a window) ends the search."""

        failure: BaseException | None = None

        def run_trial(self, kt_trial, *args, **kwargs):
            values = kt_trial.hyperparameters
            layers = values.get("layers")
            trial = Trial(number=len(search.trials) + 1, window=values.get("window"),
                          units=values.get("units"), layers=layers,
                          learning_rate=float(values.get("learning_rate")),
                          dropout=float(values.get("dropout")) if layers > 1 else 0.0,
                          epochs=int(values.values.get("tuner/epochs", tune_config.epochs)))
            try:
                run_trial(trial, series, base, tune_config)
            except Exception as error:  # not a failed trial to retry: stop and report it
                self.failure = error
                raise kt.errors.FatalError(str(error)) from error
            search.trials.append(trial)
            log(f"trial {trial.number}/{total}: {trial.describe()} -> validation MAE "
                f"{trial.score:.4g} (best {search.best.score:.4g})")
            return trial.score

        def save_model(self, trial_id, model, step=0):
            pass

        def load_model(self, trial):
            return None

    workdir = tempfile.mkdtemp(prefix="lstm-tf-tune-")
    try:
        tuner = Tuner(make_oracle(kt, tune_config, windows), directory=workdir,
                      project_name="search", overwrite=True)
        tuner.oracle.verbose = 0
        log(f"tuning on {series.source} ({tune_config.algorithm}, {total} trials): windows "
            f"{', '.join(map(str, windows))}; units {', '.join(map(str, UNITS))}; layers 1, 2; "
            f"learning rate {LEARNING_RATES[0]:g}..{LEARNING_RATES[1]:g}; dropout "
            f"{', '.join(map(str, DROPOUTS))} (2 layers); score: validation MAE")
        try:
            with _quiet_tensorflow():
                tuner.search()
        except kt.errors.FatalError:
            if tuner.failure is not None:
                raise tuner.failure from None
            raise
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if not search.trials:
        raise UserError("the search finished no trial")
    return search


def tuning_summary(tune_config: TuneConfig, windows: list[int], search: Search,
                   metrics: dict) -> dict:
    """What tuning.json holds about the search: its settings, space, every trial and the
    best (`tune` adds the seconds and the final run's test errors)."""
    best = search.best
    return {
        "algorithm": tune_config.algorithm, "trials": tune_config.trials,
        "seed": tune_config.seed, "epochs": tune_config.epochs,
        "max_epochs": (tune_config.max_epochs or tune_config.epochs)
        if tune_config.algorithm == "hyperband" else None,
        "patience": tune_config.patience,
        "score": "validation MAE (original units; every validation window, stride 1, every "
                 "horizon step; anchor + network, or the anchor alone when it is better)",
        "space": {"window": windows, "units": list(UNITS), "layers": list(LAYERS),
                  "learning_rate": {"min": LEARNING_RATES[0], "max": LEARNING_RATES[1],
                                    "sampling": "log"},
                  "dropout": list(DROPOUTS)},
        "results": [{"trial": t.number, **t.hyperparameters(), "epochs": t.epochs,
                     "epochs_run": t.epochs_run, "validation_mae": t.score,
                     "anchor_validation_mae": t.anchor_score, "network_kept": t.network_kept,
                     "seconds": t.seconds} for t in search.trials],
        "best": {"trial": best.number, **best.hyperparameters(), "validation_mae": best.score},
    }


@contextlib.contextmanager
def _quiet_tensorflow():
    """Every trial builds new models: TensorFlow's retracing warnings say nothing useful."""
    tf_logger = logging.getLogger("tensorflow")
    level = tf_logger.level
    tf_logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        tf_logger.setLevel(level)
