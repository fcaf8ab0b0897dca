"""An ensemble of K networks in one Keras model (`--ensemble K`), trained in one fit.

    window ─┬─ member 0: RNN/LSTM × layers → head → [batch, horizon, targets] ─┐
            ├─ member 1: its own layers, its own initial weights ─────────────┼─ Average → forecast
            └─ ... member K-1 ───────────────────────────────────────────────┘

Every member is the single network (`models.build_model`) with its own weights; the
members share the inputs (window, and the covariates and series index when the run takes
them) and nothing else. The saved model outputs the members' mean, so everything that
runs a model (evaluation, the keep rule, backtests, parity, the exported ONNX graph with
its K fused recurrent nodes) sees one forecaster with the inputs and outputs of a single
network.

Training fits the *trainer* (`trainer`), the same layers with the members' forecasts
stacked [batch, horizon, targets, K] as its output, on the same batches, with the loss

    loss = 1/K · Σ_k L(y, member_k)

so each member's weights get the gradient of its own loss only (K independent networks
trained side by side; Adam's steps do not depend on the 1/K). Early stopping watches
`forecast_loss`, L of the members' mean, on the validation windows: the combined forecast
is what is kept or zeroed (`zero` zeros every member's head) and exported.

Member 0's layers keep the single network's names (`head`, `lstm_0`, ...); member k > 0
adds `_m<k>`; member k's forecast is the layer `member_<k>`. `member(model, 0)` is a
single chain model with member 0's layers, what gate inspection, the gate page and the
gate export trace.
"""

from __future__ import annotations

MONITOR = "val_forecast_loss"  # early stopping of an ensemble: its combined forecast's loss

# The default (no --ensemble): a panel of up to PANEL_WINDOWS training windows and
# PANEL_STEPS window steps (training windows x window) trains PANEL_MEMBERS networks.
# Measured (docs/accuracy.md): 5 members took the fertility panel (48,576 steps) from 1.054
# to 0.932 mean MASE, no change on macrodata, us-employment or single series; each member
# costs one network's time, so a large panel (150 x 300 months: ~35,000 windows) keeps one,
# as does one of long windows (two hourly series, 232,724 steps: 0.586 with 5 or with 1).
PANEL_MEMBERS = 5
PANEL_WINDOWS = 20_000
PANEL_STEPS = 100_000


def default_members(config, train_windows: int) -> int:
    """The ensemble size when --ensemble is not given: PANEL_MEMBERS for a panel of up to
    PANEL_WINDOWS training windows and PANEL_STEPS window steps (point forecasts), else
    one network."""
    small_panel = (bool(config.panel) and train_windows <= PANEL_WINDOWS
                   and train_windows * config.data.window <= PANEL_STEPS)
    return PANEL_MEMBERS if small_panel and not config.model.quantiles else 1


def member_name(index: int) -> str:
    """The layer whose output is member `index`'s forecast."""
    return f"member_{index}"


def suffix(index: int) -> str:
    """What member `index`'s layer names add to the single network's."""
    return f"_m{index}" if index else ""


def size(model) -> int:
    """K: the networks in `model` (1 for a single network)."""
    names = {layer.name for layer in model.layers}
    count = 0
    while member_name(count) in names:
        count += 1
    return max(count, 1)


def member(model, index: int = 0):
    """Member `index` of an ensemble as a model of its own (sharing its layers and
    weights); a single network as it is."""
    if size(model) == 1:
        return model
    import keras

    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    return keras.Model(inputs, model.get_layer(member_name(index)).output,
                       name=f"{model.name}_{member_name(index)}")


def member_0_note(members: int) -> str | None:
    """What gate inspection, the gate page and the gate export say of an ensemble of
    `members` networks (they show member 0); None for one network."""
    return None if members <= 1 else (
        f"an ensemble of {members} networks: the gates, and the forecast beside them, are "
        f"member 0's; the run forecasts with the mean of all {members}")


def heads(model) -> list:
    """Every member's Dense head, member 0 first."""
    return [model.get_layer(f"head{suffix(index)}") for index in range(size(model))]


def trainer(model):
    """The model that training fits: for an ensemble, its layers with the members'
    forecasts stacked on a last axis [..., K]; a single network as it is."""
    count = size(model)
    if count == 1:
        return model
    import keras

    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    stacked = keras.ops.stack([model.get_layer(member_name(k)).output for k in range(count)],
                              axis=-1)
    return keras.Model(inputs, stacked, name=f"{model.name}_trainer")


def losses(loss: str):
    """(the trainer's loss, [its `forecast_loss` metric]) for a point loss name (mse,
    huber, mae): the members' mean loss, and the loss of the members' mean."""
    import keras

    base = {"mse": keras.losses.mean_squared_error, "mae": keras.losses.mean_absolute_error,
            "huber": keras.losses.huber}[loss]

    def members_loss(y_true, stacked):
        count = stacked.shape[-1]
        return keras.ops.mean(keras.ops.stack(
            [base(y_true, stacked[..., k]) for k in range(count)], axis=0), axis=0)

    def forecast_loss(y_true, stacked):
        return base(y_true, keras.ops.mean(stacked, axis=-1))

    return members_loss, [forecast_loss]
