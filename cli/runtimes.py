"""`lstm-tf runtimes`: one exported model in every ONNX runtime installed."""

from __future__ import annotations

import click


@click.command()
@click.argument("model", type=click.Path())
@click.argument("run", type=click.Path(), required=False)
@click.option("--runtimes", "names", metavar="NAMES",
              help="Comma-separated runtimes to try (default all): onnxruntime, openvino, "
              "tract, reference, node. onnxruntime always runs: it is the reference.")
@click.option("--windows", type=click.IntRange(min=1), default=32, show_default=True,
              help="Windows compared in every runtime (the run's last test windows, or "
              "synthetic ones made from the metadata without a RUN).")
@click.option("--budget", type=click.FloatRange(0.01), default=0.5, show_default=True,
              help="Seconds of timed calls per runtime and batch size.")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True,
              help="Intra-op threads of onnxruntime, OpenVINO and onnxruntime-node (tract "
              "and the reference evaluator have no such setting).")
@click.option("--tolerance", type=click.FloatRange(0, min_open=True), default=1e-5,
              show_default=True, help="As a multiple of the target's std.")
def runtimes(model, run, names, windows, budget, threads, tolerance) -> None:
    """Run an exported MODEL in every installed ONNX runtime and compare them.

    onnxruntime, OpenVINO (with INFERENCE_PRECISION_HINT f32), tract, the ONNX reference
    evaluator and onnxruntime-node (when `node` and exported/node_modules are present)
    get the same inputs; every output is compared with onnxruntime's and, given the
    model's RUN, with Keras (the parity check, run in each runtime). Prints one table
    with batch-1 and batch-256 latency; exits 1 if a runtime misses the tolerance or
    cannot run the model. A runtime not installed is listed as such.
    """
    from lstm_tf import runtimes as runtimes_lib
    from lstm_tf.errors import UserError

    selected = runtimes_lib.parse_names(names)
    report = runtimes_lib.compare(model, run, selected, windows=windows, budget=budget,
                                  threads=threads, tolerance=tolerance)
    click.echo(runtimes_lib.table(report))
    if not report.passed:
        failed = [row.runtime for row in report.rows if not row.passed(tolerance)]
        raise UserError(f"{model}: {', '.join(failed)} missed {tolerance:g} x std or could "
                        "not run it (see the table)")


COMMANDS = [runtimes]
