"""Demo command: serve-demo (the browser page on localhost)."""

from __future__ import annotations

import click


@click.command("serve-demo")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="Port on 127.0.0.1 (0: any free port).")
@click.option("--models", type=click.Path(file_okay=False),
              help="Also serve this directory at /models/ (open /web/?model=/models/X.onnx"
                   "&csv=/models/Y.csv).")
@click.option("--run", "run", type=click.Path(),
              help="Show this lstm or gated run's gates beside the forecast (the gate explorer "
                   "of `inspect --html`).")
def serve_demo(port, models, run) -> None:
    """Serve the browser demo (exported/web) on http://127.0.0.1:PORT/web/.

    The page runs an exported model with onnxruntime-web (WebAssembly) from the npm
    package's own files; nothing is fetched from the network. Needs a source
    checkout with `ONNXRUNTIME_NODE_INSTALL=skip npm ci` run once in exported/.
    Stop it with Ctrl-C.
    """
    from lstm_tf import demo

    gates = None
    if run:
        from lstm_tf.gate_page import page_data

        gates = page_data(run)
    server = demo.make_server(port, models=models, gates=gates)
    click.echo(f"serving {demo.EXPORTED} on {demo.page_url(server)}  (Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


COMMANDS = [serve_demo]
