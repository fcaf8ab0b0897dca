"""A run's configuration: three dataclasses, saved together as `config.json`.

`config.json` holds everything needed to rebuild the data pipeline and the model:
the data source and columns, the split, window and horizon, the scaler statistics,
the hyper-parameters, the seed and the library versions the run used.
"""

from __future__ import annotations

import platform
import sys
from dataclasses import asdict, dataclass, field, fields
from importlib import metadata

from .errors import UserError, check_choice

MODEL_KINDS = ("lstm", "rnn", "gated")
LOSSES = ("mse", "huber", "mae", "pinball")  # pinball: the loss of a quantile model, and only of it
LR_SCHEDULES = ("constant", "plateau")
DEVICES = ("auto", "cpu", "gpu")
STRATEGIES = ("auto", "default", "mirrored", "multiworker")
UNROLL_MAX_WINDOW = 64  # longer windows make unrolled graphs slow to build


@dataclass
class DataConfig:
    dataset: str | None = "elnino"  # a built-in dataset, or None when `path` is given
    path: str | None = None  # a CSV file
    targets: list[str] | None = None  # None: the dataset's default / the first column
    features: list[str] = field(default_factory=list)
    time_column: str | None = None
    fill: str | None = None
    window: int | None = None  # None: chosen from the season and the data (`default_window`)
    horizon: int = 1
    stride: int = 1
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    season: int | None = None  # season length: seasonal anchors and the seasonal naive baseline
    # What the network corrects (lstm_tf/anchors.py): auto|network|none|last|...; None:
    # network for a panel, auto for a single series (`data.prepare.anchor_choice`).
    anchor: str | None = None
    # A test part sized for a backtest of this many forecast origins, `backtest_step`
    # rows apart: horizon + step * (windows - 1) rows (replaces test_fraction).
    backtest_windows: int | None = None
    backtest_step: int = 1
    # The last N rows of every series as its test / validation part (as the forecasting
    # competitions do; replace test_fraction / val_fraction).
    test_size: int | None = None
    val_size: int | None = None
    # A panel's scaling (data/prepare.py): "window" (each window by its own statistics,
    # serves unseen series) or "series" (each series' training statistics, looked up by
    # the series index); None: window for a panel; a single series uses its z-scores.
    scaling: str | None = None
    # A panel (lstm_tf/data/panel.py): a long CSV's series column, or every target
    # column of a wide CSV its own series.
    series_column: str | None = None
    columns_as_series: bool = False
    # A wide panel's series columns, filled in by training from --target (default all);
    # `targets` then names the one target of every series ("value").
    series_columns: list[str] | None = None
    # Future-known covariates (data/covariates.py): calendar features of the time column
    # (month, dayofweek, ...) and columns whose future values are known (a price, a
    # promotion); the model sees both over the forecast horizon.
    calendar: list[str] = field(default_factory=list)
    known: list[str] = field(default_factory=list)

    def validate(self) -> None:
        check_positive(horizon=self.horizon, stride=self.stride, backtest_step=self.backtest_step)
        optional = {"window": self.window, "backtest_windows": self.backtest_windows,
                    "test_size": self.test_size, "val_size": self.val_size, "season": self.season}
        check_positive(**{name: value for name, value in optional.items() if value is not None})
        if self.scaling not in (None, "window", "series"):
            raise UserError(f"unknown scaling {self.scaling!r}; choose window or series")
        from .data.covariates import check_calendar

        check_calendar(self.calendar)
        # (A known column may also be a feature: its past values in the window.)
        overlap = set(self.known) & set(self.targets or [])
        if overlap:
            raise UserError(f"--known: column(s) {', '.join(sorted(overlap))} also given as "
                            "target")

    @property
    def holdout(self) -> int | None:
        """Rows of the test part when it is sized for a backtest, else None."""
        if self.backtest_windows is None:
            return self.test_size
        return self.horizon + self.backtest_step * (self.backtest_windows - 1)


@dataclass
class ModelConfig:
    kind: str = "lstm"
    units: int = 32
    layers: int = 1
    dropout: float = 0.0
    # Quantile levels (lstm_tf/quantiles.py): a head of non-crossing quantiles trained with
    # the pinball loss, the median as the point forecast; None: a point forecaster.
    quantiles: list[float] | None = None
    # A panel's learned series embedding: each series index -> a vector of this size,
    # concatenated with the encoder's last state before the head (0: none).
    series_embedding: int = 0
    # K networks (different initial weights) trained side by side in one fit, the
    # forecast their mean, exported as one graph (lstm_tf/ensemble.py); 1: one network.
    # None: the default, chosen once the data is known (`ensemble.default_members`).
    ensemble: int | None = None

    @property
    def members(self) -> int:
        """The networks the model holds: `ensemble`, or one while it is not chosen."""
        return self.ensemble or 1

    def validate(self) -> None:
        if self.ensemble is not None and (isinstance(self.ensemble, bool)
                                          or not isinstance(self.ensemble, int)
                                          or self.ensemble <= 0):
            raise UserError(f"--ensemble must be a positive integer (the number of networks), "
                            f"got {self.ensemble}")
        _bounded(">= 0", series_embedding=self.series_embedding)
        if self.quantiles is not None:
            from .quantiles import parse_levels

            self.quantiles = parse_levels(self.quantiles)
        check_choice("model kind", self.kind, MODEL_KINDS)
        check_positive(units=self.units, layers=self.layers)
        if not 0 <= self.dropout < 1:
            raise UserError(f"--dropout must be in [0, 1), got {self.dropout}")


@dataclass
class TrainConfig:
    epochs: int = 60
    batch_size: int = 32
    learning_rate: float = 3e-3
    # mae: the mean absolute error in network units, the metric's units (MASE) for a
    # single series' z-scores and close to them for a panel's windows; measured against
    # mse in docs/accuracy.md.
    loss: str = "mae"
    patience: int = 10  # early stopping on validation loss; 0 turns it off
    clipnorm: float | None = None
    seed: int = 42
    steps_per_execution: int = 16
    # Where and how (see lstm_tf/devices.py). Training replaces "auto" by what it used.
    device: str = "auto"  # auto | cpu | gpu
    strategy: str = "auto"  # auto | default | mirrored | multiworker
    mixed_precision: bool = False  # mixed_float16 on GPU, mixed_bfloat16 on CPU
    precision: str = "float32"  # the dtype policy used, filled in by training
    xla: bool = False
    unroll: bool | None = None  # None: stacked layers on a CPU without XLA, short windows
    threads: int = 0  # TensorFlow intra-op threads; 0: 1 unrolled on a CPU, else one per core
    cpu_devices: int = 1  # logical CPU devices, to rehearse --strategy mirrored on a CPU
    replicas: int = 1  # replicas in sync, filled in by training (batch_size is global)
    # A quantile run's offsets scaled to each level's coverage on the validation windows
    # after training (quantiles.calibrate); no effect on a point forecaster.
    calibrate_quantiles: bool = True
    # After validation has chosen the epochs, the anchor and whether the network helps,
    # train a fresh network on the training and validation windows (train.final_fit).
    final: bool = False
    # "plateau": halve the learning rate when the validation loss has not improved for
    # a third of `patience` epochs (lstm_tf/schedules.py); "constant": never.
    lr_schedule: str = "constant"
    # Start the network from another run's trained weights (lstm_tf/transfer.py).
    init: str | None = None
    # After training, when naive persistence, the seasonal naive forecast or (anchor
    # network) the fitted anchor beats the model on the validation windows, forecast the
    # best of them or of their means with the model (train.floor; not with anchor none).
    floor: bool = True

    def validate(self) -> None:
        check_positive(epochs=self.epochs, batch_size=self.batch_size,
                  steps_per_execution=self.steps_per_execution, cpu_devices=self.cpu_devices)
        _bounded(">= 0", threads=self.threads)
        check_choice("device", self.device, DEVICES)
        check_choice("strategy", self.strategy, STRATEGIES)
        _bounded("> 0", learning_rate=self.learning_rate)
        check_choice("loss", self.loss, LOSSES)
        check_choice("--lr-schedule", self.lr_schedule, LR_SCHEDULES)
        _bounded(">= 0", patience=self.patience)
        _bounded("> 0", clipnorm=self.clipnorm)


@dataclass
class RunConfig:
    data: DataConfig
    model: ModelConfig
    train: TrainConfig
    scaler: dict | None = None  # {"columns", "mean", "std"}, filled in by training
    split: dict | None = None  # {"train_end", "val_end", "rows"}
    # The anchor used (anchors.Anchor.to_dict), filled in by training; None: a run from
    # before anchors, whose network saw absolute z-scores (anchor "none").
    anchor: dict | None = None
    # A panel run's anchor per series (series_anchors.SeriesAnchor.to_dict) when the floor
    # took it (train.floor); None otherwise.
    series_anchor: dict | None = None
    # A panel run: the series names in index order, the skipped ones, the series column
    # and the scaling (filled in by training); None for a single series.
    panel: dict | None = None
    # Future-known covariates and their scaling (data/covariates.Covariates.to_dict),
    # filled in by training; None without.
    covariates: dict | None = None
    versions: dict = field(default_factory=dict)

    def validate(self) -> None:
        self.data.validate()
        self.model.validate()
        self.train.validate()
        if self.model.quantiles and (self.data.calendar or self.data.known):
            raise UserError("--quantiles cannot be combined with --calendar or --known yet: a "
                            "model with future-known covariates gives point forecasts")
        if self.model.quantiles and self.model.series_embedding:
            raise UserError("--quantiles cannot be combined with --series-embedding yet: a "
                            "model with a series embedding gives point forecasts")
        if self.model.quantiles and self.model.members > 1:
            raise UserError("--quantiles cannot be combined with --ensemble yet: an ensemble "
                            "gives point forecasts")
        if self.model.quantiles and self.train.loss != "pinball":
            raise UserError(f"--quantiles trains with the pinball (quantile) loss; --loss "
                            f"{self.train.loss} is for a point forecast: leave out --loss")
        if self.train.loss == "pinball" and not self.model.quantiles:
            raise UserError("--loss pinball needs --quantiles (the levels it is the loss of)")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict) -> "RunConfig":
        try:
            config = cls(data=_build(DataConfig, raw["data"]),
                         model=_build(ModelConfig, raw["model"]),
                         train=_build(TrainConfig, raw["train"]), scaler=raw.get("scaler"),
                         split=raw.get("split"), anchor=raw.get("anchor"),
                         series_anchor=raw.get("series_anchor"),
                         panel=raw.get("panel"), covariates=raw.get("covariates"),
                         versions=raw.get("versions", {}))
        except (KeyError, TypeError) as error:
            raise UserError(f"config.json is not an lstm-tf run configuration ({error})") from None
        if config.model.ensemble is None and config.anchor is not None:
            config.model.ensemble = 1  # a run saved before ensembles: one network
        return config


def _build(cls, raw: dict):
    known = {f.name for f in fields(cls)}
    return cls(**{key: value for key, value in raw.items() if key in known})


def check_positive(**values: int) -> None:
    for name, value in values.items():
        if value is None or value <= 0:
            raise UserError(f"--{name.replace('_', '-')} must be a positive integer, got {value}")


def _bounded(bound: str, **values: float | None) -> None:
    """Each option `value` (None: not given) is `bound` (">= 0" or "> 0")."""
    for name, value in values.items():
        if value is not None and not (value >= 0 if bound == ">= 0" else value > 0):
            raise UserError(f"--{name.replace('_', '-')} must be {bound}, got {value}")


def library_versions() -> dict[str, str]:
    """Versions of Python and the libraries a run or export depends on."""
    versions = {"python": sys.version.split()[0], "platform": platform.platform()}
    for package in ("lstm-tf", "tensorflow", "keras", "numpy", "tf2onnx", "onnx", "onnxruntime",
                    "matplotlib"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions
