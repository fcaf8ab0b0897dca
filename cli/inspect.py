"""Inspect command: the gates of a trained LSTM for one window."""

from __future__ import annotations

import click


@click.command()
@click.argument("run", type=click.Path())
@click.option("--data", "data_path", type=click.Path(),
              help="Take the window from this CSV (same columns) instead of the test part.")
@click.option("--index", type=int,
              help="Window number, 0-based, among the test windows (or every window of --data).")
@click.option("--last", is_flag=True, help="The last window (the default).")
@click.option("--out", type=click.Path(), help="Output directory (default RUN/inspect/).")
@click.option("--html", "html", type=click.Path(dir_okay=False),
              help="Write the interactive gate explorer, one self-contained HTML file, "
                   "instead (any window; --index picks the first shown, default 0).")
@click.option("--force", is_flag=True, help="Replace existing output files.")
def inspect(run, data_path, index, last, out, html, force) -> None:
    """Trace every gate of RUN's LSTM layers over one input window.

    Writes the forget, input and output gates, the candidate, the cell state and
    h of each layer at every step (NPZ and CSV, step x unit) and a figure: the
    input window and its forecast above one row of heatmaps per layer. Works for
    lstm and gated runs; see docs/gates.md.

    With --html FILE it writes the gate explorer instead: one HTML file that opens
    offline and computes every gate for any window chosen with a slider.
    """
    from lstm_tf.errors import UserError

    if last and index is not None:
        raise UserError("give either --index N or --last, not both")
    if html:
        if out:
            raise UserError("--out is for the NPZ, CSV and figure; --html names its own file")
        from lstm_tf.gate_page import write_page

        page = write_page(run, html, data_path, index, last, force)
        click.echo(f"wrote {page.path} ({page.bytes / 1e6:.2f} MB, {page.windows} windows, "
                   f"window {page.default} shown first; {page.seconds:.1f} s)")
        _say_member_0(run)
        return
    from lstm_tf.inspect_gates import inspect_run, summary_lines

    result = inspect_run(run, data_path, index, out, force)
    window = result.inspection.window
    where = "test window" if window.part == "test" else f"window of {data_path}"
    click.echo(f"{where} {window.index} (of 0..{window.count - 1}), "
               f"forecast from row {window.start}")
    for line in summary_lines(result.inspection.summary):
        click.echo(line)
    for path in result.paths.values():
        click.echo(f"wrote {path}")
    _say_member_0(run)
    click.echo(f"({result.seconds:.1f} s)")


def _say_member_0(run) -> None:
    """An ensemble's gates are member 0's: say so."""
    from lstm_tf import runs
    from lstm_tf.ensemble import member_0_note

    note = member_0_note(runs.load_config(run).model.ensemble)
    if note:
        click.echo(note)


COMMANDS = [inspect]
