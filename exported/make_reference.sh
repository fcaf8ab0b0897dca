#!/usr/bin/env bash
# Regenerate exported/reference/ with lstm-tf's own pipeline, from the built-in El Niño
# data: `lstm-tf train` (an LSTM, 24 months in, 12 ahead, without an anchor so that it
# also has a step model for the consumers that feed one row at a time), then
# `lstm-tf export --step` (parity-checked against Keras; a model that fails is not written).
#
#   exported/make_reference.sh            # from the repository root, lstm-tf installed
#
# Writes elnino-lstm.onnx, elnino-lstm.step.onnx, elnino-lstm.parity.json,
# elnino-tail.csv (the last 120 months of the data, for the consumers to read) and
# reference.json (what the browser page loads by default). Same seed, same numbers on CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
export TF_CPP_MIN_LOG_LEVEL=3
out=exported/reference
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python -m lstm_tf_cli train --dataset elnino --model lstm --horizon 12 --window 24 \
    --anchor none --seed 42 -q \
    --out "$work/elnino-lstm"
mkdir -p "$out"
python -m lstm_tf_cli export "$work/elnino-lstm" --step --force --out "$out/elnino-lstm.onnx"
cp "$work/elnino-lstm/metrics.json" "$out/elnino-lstm.metrics.json"

data=lstm_tf/datasets/elnino.csv
{ head -n 1 "$data"; tail -n 120 "$data"; } > "$out/elnino-tail.csv"

cat > "$out/reference.json" <<'EOF'
{
  "description": "Monthly sea-surface temperature, Nino 1+2 region (NOAA ERSST.V3B, public domain): an LSTM (1 x 32 units) reads 24 months and forecasts the next 12.",
  "model": "elnino-lstm.onnx",
  "step_model": "elnino-lstm.step.onnx",
  "parity": "elnino-lstm.parity.json",
  "metrics": "elnino-lstm.metrics.json",
  "csv": "elnino-tail.csv",
  "units": {"sst": "°C"},
  "command": "exported/make_reference.sh"
}
EOF
ls -l "$out"
