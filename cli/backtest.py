"""`lstm-tf backtest`: rolling-origin evaluation of a run (lstm_tf/backtest.py)."""

from __future__ import annotations

import click


@click.command()
@click.argument("run", type=click.Path())
@click.option("--windows", type=click.IntRange(min=1),
              help="Cutoffs (forecast origins). Default: as many as the run's test part holds "
              "with --step (a run trained with --backtest-windows N: N).")
@click.option("--step", type=click.IntRange(min=1),
              help="Rows between cutoffs. Default: the run's --backtest-step if it was trained "
              "with --backtest-windows, else 1.")
@click.option("--refit", is_flag=True,
              help="Train a fresh run (same configuration and seed) on the rows before every "
              "cutoff (slow); without it the run's model forecasts every cutoff, which must all "
              "lie in its test part.")
@click.option("--baselines", metavar="ets,arima",
              help="Also statsforecast AutoETS / AutoARIMA (needs `pip install \"lstm-tf[stats]\"`).")
@click.option("--data", "data_path", type=click.Path(),
              help="Backtest on this CSV (same columns; rows counted as in the run's data, e.g. "
              "the same series grown since training) instead of the run's data.")
@click.option("--out", type=click.Path(), help="Output directory (default RUN/backtest).")
@click.option("--force", is_flag=True, help="Replace an existing output directory.")
def backtest(run, windows, step, refit, baselines, data_path, out, force) -> None:
    """Rolling-origin backtest of RUN at the end of the series: backtest.csv (every cutoff x
    step x target, with the naive baselines), metrics.json and metrics_by_cutoff.csv."""
    from pathlib import Path

    from lstm_tf import backtest as backtest_lib
    from lstm_tf import baselines as baselines_lib
    from lstm_tf.atomic import exclusive, refuse_overwrite

    from lstm_tf.runs import load_config

    names = baselines_lib.parse(baselines)
    load_config(run)  # a missing or broken run fails first, before any folder is made
    out = Path(out) if out else Path(run) / "backtest"
    with exclusive(out, "backtest directory"):
        refuse_overwrite(out, force, "backtest directory")  # before the slow part
        result = backtest_lib.backtest(run, windows, step, refit, names, data_path,
                                       log=click.echo)
        summary = backtest_lib.write(result, out, force=True)
    click.echo(f"backtest of {run}: {summary['windows']} cutoff(s) {summary['step']} row(s) "
               f"apart, horizon {summary['horizon']}, "
               + ("refit at every cutoff" if refit else "without refit")
               + (f"; every one of {summary['series_count']} series (MASE: mean over series "
                  "and cutoffs, each scaled by its own series)" if "series_count" in summary
                  else f"; first forecast row {summary['first_forecast_row']}"))
    for note in summary["notes"]:
        click.echo(f"note: {note}")
    click.echo(backtest_lib.table(summary))
    click.echo(f"wrote {out}/{{{backtest_lib.CSV_FILE}, {backtest_lib.METRICS_FILE}, "
               f"{backtest_lib.BY_CUTOFF_FILE}}}")


COMMANDS = [backtest]
