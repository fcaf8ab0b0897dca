"""ONNX commands: export, parity, predict."""

from __future__ import annotations

import click


@click.command()
@click.argument("run", type=click.Path())
@click.option("--onnx", "to_onnx", is_flag=True, default=True,
              help="Export to ONNX (the only format; accepted for clarity).")
@click.option("--out", type=click.Path(), help="Output .onnx (default exported/<run>.onnx).")
@click.option("--opset", type=click.IntRange(13, 30),
              help="ONNX opset (default: the newest tf2onnx and onnxruntime both support).")
@click.option("--no-scaling", is_flag=True,
              help="Export the bare network: z-scored inputs and outputs.")
@click.option("--step", is_flag=True,
              help="Also write <name>.step.onnx, a one-observation-at-a-time model with state.")
@click.option("--no-check", is_flag=True, help="Skip the parity check against Keras.")
@click.option("--tolerance", type=click.FloatRange(0, min_open=True), default=1e-5,
              show_default=True, help="Parity tolerance, as a multiple of the target's std.")
@click.option("--allow-loop", is_flag=True,
              help="Accept an unfused ONNX Loop when recurrent-layer fusion fails (slower).")
@click.option("--gates", is_flag=True,
              help="Write the gate model instead (default exported/<run>.gates.onnx): the "
              "forecast plus every gate, candidate, cell state and h sequence of each LSTM "
              "layer, unrolled over the run's window (windows of exactly that length; no "
              "ONNX Loop, so it runs in every runtime); see docs/gates.md.")
@click.option("--loop", "gates_loop", is_flag=True,
              help="With --gates: the dynamic-length variant instead, one ONNX Loop per "
              "layer (any window length; runs in onnxruntime only, and slower).")
@click.option("--force", is_flag=True, help="Replace an existing model.")
def export(run, to_onnx, out, opset, no_scaling, step, no_check, tolerance, allow_loop,
           gates, gates_loop, force) -> None:
    """Export a trained RUN to a self-contained ONNX model, checked against Keras.

    The model takes raw values (`window` [batch, time, features]) and returns raw
    forecasts (`forecast` [batch, horizon, targets]); see exported/README.md.
    A model that fails the parity check is not written.
    """
    import time

    from lstm_tf.export import export_run, parity_path_for
    from lstm_tf.parity import verdict

    started = time.perf_counter()
    result = export_run(run, out, force=force, opset=opset, scaling=not no_scaling, step=step,
                        check=not no_check, tolerance=tolerance, allow_loop=allow_loop,
                        gates=gates, gates_loop=gates_loop, log=click.echo)
    ops = ", ".join(f"{op} x{n}" for op, n in sorted(result.op_counts.items())
                    if op in ("LSTM", "RNN", "GRU", "Loop"))
    ops = ops or "no recurrent node or Loop: a straight graph"
    click.echo(f"wrote {result.path} ({ops}; {time.perf_counter() - started:.1f} s)")
    if result.step_path:
        click.echo(f"wrote {result.step_path}")
    window_name = "gate model" if gates else "window model"
    for name, report in ((window_name, result.parity), ("step model", result.step_parity)):
        if report:
            click.echo(f"{name}: {verdict(report)}")
    if result.parity:
        click.echo(f"parity report: {parity_path_for(result.path)}")


@click.command()
@click.argument("model", type=click.Path())
@click.argument("run", type=click.Path())
@click.option("--tolerance", type=click.FloatRange(0, min_open=True), default=1e-5,
              show_default=True, help="As a multiple of the target's std.")
def parity(model, run, tolerance) -> None:
    """Check an exported MODEL against the Keras model of RUN on real data."""
    from lstm_tf import parity as parity_lib
    from lstm_tf import runs, runtime
    from lstm_tf.errors import UserError

    session = runtime.session(model)
    meta = runtime.metadata(session, model)
    config = runs.load_config(run)
    keras_model = runs.load_model(run)
    check = {"step": parity_lib.check_step_model, "gates": parity_lib.check_gate_model}.get(
        meta["model"], parity_lib.check_window_model)
    options = {}
    if meta["model"] == "gates":  # an unrolled gate model takes one time length only
        time = meta.get("inputs", {}).get("window", [None, None])[1]
        options["fixed_time"] = time if isinstance(time, int) else None
    report = check(model, keras_model, config, scaling=meta["scaling"] == "in-graph",
                   tolerance=tolerance, **options)
    click.echo(parity_lib.verdict(report))
    if not report["passed"]:
        raise UserError(f"{model} does not match {run} within {tolerance:g} x std")


COMMANDS = [export, parity]


@click.command()
@click.argument("model", type=click.Path())
@click.option("--data", "data_path", type=click.Path(), required=True,
              help="CSV with the model's columns; the forecast follows its last row.")
@click.option("--steps", type=click.IntRange(min=1),
              help="Rows to forecast (default: the horizon; more rolls a univariate model).")
@click.option("--series-column", metavar="ID",
              help="A panel model: the CSV's series column (default: the one it was trained "
              "with). Every series is forecast from its latest rows, in one batched call.")
@click.option("--out", type=click.Path(), help="Write the forecast CSV here instead of stdout.")
@click.option("--force", is_flag=True, help="Replace an existing --out file.")
def predict(model, data_path, steps, series_column, out, force) -> None:
    """Forecast with an exported MODEL.onnx (onnxruntime only; no TensorFlow)."""
    from lstm_tf.atomic import exclusive, refuse_overwrite, write_text
    from lstm_tf.predict import predict_file

    if not out:
        text, _, skipped = predict_file(model, data_path, steps, series_column)
        click.echo(text, nl=False)
    else:
        with exclusive(out):  # a second predict --out of the same file stops at once
            refuse_overwrite(out, force)
            text, rows, skipped = predict_file(model, data_path, steps, series_column)
            write_text(out, text)
        click.echo(f"wrote {rows} forecast row(s) to {out}")
    for name, why in skipped.items():
        click.echo(f"skipped series {name}: {why}", err=True)


COMMANDS.append(predict)


@click.command()
@click.argument("target", metavar="[RUN_OR_MODEL]", type=click.Path(exists=True),
                required=False)
@click.option("--batch", "batches", type=click.IntRange(min=1), multiple=True,
              help="Batch size(s) to time (default 1 and 256).")
@click.option("--budget", type=click.FloatRange(0.05), default=1.0, show_default=True,
              help="Seconds of timed calls per path and batch size.")
@click.option("--train", "training", is_flag=True,
              help="Instead: training throughput of the reference LSTM and of its input "
              "pipeline (`lstm-tf bench-train` with its defaults; it has the options).")
@click.pass_context
def bench(ctx, target, batches, budget, training) -> None:
    """Inference latency per call (median, p90): Keras, tf.function, onnxruntime, step model.

    Given a run, it exports in memory and compares every path, plus a hand-built
    ONNX graph with the same weights; given a .onnx file, onnxruntime only. With
    --train, training throughput instead.
    """
    from pathlib import Path

    from lstm_tf.errors import UserError

    if training:
        if target or batches:
            raise UserError("bench --train takes no RUN_OR_MODEL or --batch; for options, "
                            "use lstm-tf bench-train")
        from .bench_train import bench_train

        return ctx.invoke(bench_train)
    if target is None:
        raise UserError("bench: give RUN_OR_MODEL (a run directory or a .onnx file), or --train")
    from lstm_tf_lab.bench.inference import bench_model, bench_run, ratios, table

    batches = batches or (1, 256)
    if Path(target).is_file():
        timings = bench_model(target, batches, budget)
    else:
        timings = bench_run(target, batches, budget)
    click.echo(table(timings))
    for line in ratios(timings):
        click.echo(line)


COMMANDS.append(bench)
