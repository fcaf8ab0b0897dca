"""`lstm-tf tune`: hyper-parameter search with KerasTuner (lstm_tf/tune.py; the `tune` extra)."""

from __future__ import annotations

import click

from .core import _report, data_options, positive


@click.command()
@data_options(window=False)
@click.option("--model", "kind", type=click.Choice(["lstm", "rnn", "gated"]), default="lstm",
              show_default=True, help="The recurrent layer (not searched).")
@click.option("--trials", type=positive, default=12, show_default=True,
              help="Configurations to try (hyperband: its brackets repeat until then).")
@click.option("--algorithm", type=click.Choice(["bayesian", "hyperband"]), default="bayesian",
              show_default=True, help="KerasTuner's Bayesian optimisation or Hyperband.")
@click.option("--epochs", type=positive, default=60, show_default=True,
              help="Epochs of each trial (bayesian) and of the final run.")
@click.option("--max-epochs", type=positive,
              help="Hyperband: the largest epoch budget of a trial (default --epochs).")
@click.option("--patience", type=click.IntRange(min=0), default=10, show_default=True,
              help="Early stopping on validation loss in every trial and the final run; 0: off.")
@click.option("--batch-size", type=positive, default=32, show_default=True)
@click.option("--seed", type=int, default=42, show_default=True,
              help="KerasTuner's seed and every training's.")
@click.option("--device", type=click.Choice(["auto", "cpu", "gpu"]), default="auto",
              show_default=True)
@click.option("--out", type=click.Path(), help="Run directory of the best configuration "
              "(default runs/<name>-tuned).")
@click.option("--force", is_flag=True, help="Replace an existing run directory.")
@click.option("-q", "--quiet", is_flag=True,
              help="Only the result: no line per trial (as `train -q`: no progress).")
def tune(data, kind, trials, algorithm,
         epochs, max_epochs, patience, batch_size, seed, device, out, force, quiet) -> None:
    """Search window, units, layers, learning rate and dropout with KerasTuner, scoring each
    trial by the MAE over every validation window; train the best as a normal run and
    write tuning.json into it. Needs `pip install "lstm-tf[tune]"`."""
    from pathlib import Path

    from lstm_tf import tune as tune_lib
    from lstm_tf.config import ModelConfig, RunConfig, TrainConfig

    tune_lib.keras_tuner(algorithm)  # a missing extra fails first
    source = Path(data.path).stem if data.path else data.dataset
    out = Path(out) if out else Path("runs") / f"{source}-{kind}-tuned"
    base = RunConfig(data=data, model=ModelConfig(kind=kind), train=TrainConfig(device=device))
    settings = tune_lib.TuneConfig(trials=trials, algorithm=algorithm, epochs=epochs,
                                   max_epochs=max_epochs, patience=patience,
                                   batch_size=batch_size, seed=seed)
    result = tune_lib.tune(base, settings, out, force=force,
                           log=(lambda line: None) if quiet else click.echo)
    summary = result["summary"]
    _report(out, result["metrics"])
    click.echo(f"tuning: {len(summary['results'])} trials in {summary['search_seconds']:.1f} s; "
               f"best validation MAE {summary['best']['validation_mae']:.4g}; "
               f"wrote {out}/{tune_lib.TUNING_FILE}")


COMMANDS = [tune]
