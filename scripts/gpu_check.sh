#!/usr/bin/env bash
# Exercise every GPU-only path of lstm-tf end to end, on a machine with NVIDIA GPU(s).
#
#   scripts/gpu_check.sh [WORKDIR]
#
# Runs short trainings, exports and experiments on the GPU(s) and checks what each one
# printed and wrote; prints PASS / FAIL / SKIP per check and exits non-zero if any check
# failed. WORKDIR (default: a new temporary directory) keeps every run and log for a bug
# report. Takes a few minutes. Needs `pip install -e ".[gpu]"` (tensorflow[and-cuda]).
#
# It has NOT been run by the project: lstm-tf is developed on machines without a GPU (the
# test suite hides GPUs and tests the GPU-only branches by making Keras believe a GPU is
# present). README, "Checking the GPU paths", lists what each check covers.
#
# LSTM_TF (default `lstm-tf`) and PYTHON (default `python`) name the commands to use.

set -uo pipefail

LSTM_TF=${LSTM_TF:-lstm-tf}
PYTHON=${PYTHON:-python}
WORK=${1:-$(mktemp -d -t lstm-tf-gpu-check.XXXXXX)}
mkdir -p "$WORK" && cd "$WORK" || exit 2
export LSTM_TF_VERBOSE_TF=${LSTM_TF_VERBOSE_TF:-}
passed=0 failed=0 skipped=0

result() {  # STATUS NAME DETAIL
    printf '%-4s %-34s %s\n' "$1" "$2" "$3"
    case $1 in PASS) passed=$((passed + 1)) ;; FAIL) failed=$((failed + 1)) ;;
                SKIP) skipped=$((skipped + 1)) ;; esac
}

run() {  # NAME COMMAND...: run it, output to NAME.log; status 0 when it exited 0
    local name=$1; shift
    "$@" >"$name.log" 2>&1
}

expect() {  # NAME PATTERN...: every fixed-string PATTERN occurs in NAME.log
    local name=$1; shift
    for pattern in "$@"; do
        if ! grep -qF -- "$pattern" "$name.log"; then
            result FAIL "$name" "missing '$pattern' (see $WORK/$name.log)"
            return 1
        fi
    done
    return 0
}

check_cli() {  # NAME "PATTERN|PATTERN..." COMMAND...: run a command, check its output
    local name=$1 patterns=() status
    IFS='|' read -r -a patterns <<<"$2"
    shift 2
    run "$name" "$@"
    status=$?
    if [[ $status != 0 ]]; then
        result FAIL "$name" "exit status $status: $(tail -n 1 "$name.log") (see $WORK/$name.log)"
        return
    fi
    expect "$name" "${patterns[@]}" && result PASS "$name" "${*:2}"
}

check_python() {  # NAME CODE: the code's assertions hold (its last line is the detail)
    local name=$1 code=$2
    if run "$name" "$PYTHON" -c "$code"; then
        result PASS "$name" "$(tail -n 1 "$name.log")"
    else
        result FAIL "$name" "$(grep -v '^\s*$' "$name.log" | tail -n 1) (see $WORK/$name.log)"
    fi
}

echo "lstm-tf GPU check in $WORK"

# ---------------------------------------------------------------- the GPUs themselves
GPUS=$("$PYTHON" -c "
import tensorflow as tf
print(len(tf.config.list_physical_devices('GPU')))" 2>/dev/null | tail -n 1)
if [[ -z $GPUS || $GPUS == 0 ]]; then
    echo "TensorFlow sees no GPU here (nvidia-smi, the driver, pip install -e '.[gpu]'?): nothing to check"
    exit 2
fi
check_python tensorflow-sees-gpus "
import tensorflow as tf
build = tf.sysconfig.get_build_info()
gpus = tf.config.list_physical_devices('GPU')
details = [tf.config.experimental.get_device_details(gpu) for gpu in gpus]
names = ', '.join(f\"{d.get('device_name')} (compute {d.get('compute_capability')})\" for d in details)
tf32 = any((d.get('compute_capability') or (0, 0))[0] >= 8 for d in details)
print(f'TensorFlow {tf.__version__}, CUDA {build.get(\"cuda_version\")}, cuDNN '
      f'{build.get(\"cudnn_version\")}: {len(gpus)} GPU(s): {names}; TensorFloat-32 '
      + ('on by default (Ampere or newer)' if tf32 else 'not used by these GPUs'))
"

# ------------------------------------------------------ cuDNN kernel, memory growth
check_python cudnn-kernel-on-gpu "
import os, subprocess
import keras, tensorflow as tf
from lstm_tf.tf_setup import tensorflow
tensorflow()  # lstm-tf's start: TF_FORCE_GPU_ALLOW_GROWTH=true before the GPUs start
assert os.environ['TF_FORCE_GPU_ALLOW_GROWTH'] == 'true'
model = keras.Sequential([keras.Input((48, 1)), keras.layers.LSTM(16), keras.layers.Dense(1)])
step = tf.function(lambda x: model(x, training=True))
graph = step.get_concrete_function(tf.TensorSpec([8, 48, 1])).graph.as_graph_def()
ops = {n.op for n in graph.node} | {n.op for f in graph.library.function for n in f.node_def}
assert 'CudnnRNNV3' in ops, sorted(ops)
out = step(tf.random.normal([8, 48, 1]))
assert 'GPU' in out.device, out.device
used = total = None
try:
    apps = subprocess.check_output(['nvidia-smi', '--query-compute-apps=pid,used_memory',
                                    '--format=csv,noheader,nounits'], text=True)
    used = sum(int(m) for p, m in (l.split(', ') for l in apps.splitlines() if l.strip())
               if int(p) == os.getpid())
    total = int(subprocess.check_output(['nvidia-smi', '--query-gpu=memory.total',
                                         '--format=csv,noheader,nounits'], text=True).split()[0])
except (OSError, subprocess.CalledProcessError, ValueError):
    pass
if used:  # 0: this process is not listed (a container's own pid namespace)
    assert used < total / 2, f'{used} of {total} MiB taken: memory growth is not in effect'
print(f'CudnnRNNV3 traced and run on {out.device}; this process holds '
      + (f'{used} of {total} MiB of GPU 0' if used else 'an unknown amount of GPU memory (nvidia-smi does not list it)'))
"

SMALL=(--dataset sine --window 24 --units 16 --epochs 3 --patience 0 -q --force)
check_cli train-cudnn "device: GPU x1 (|cuDNN: all 1 recurrent layer(s) eligible (used on this GPU)" \
    "$LSTM_TF" train "${SMALL[@]}" --device gpu --strategy default --anchor none --out runs/cudnn

# Two trainings at once on the same GPU: each takes memory as it needs it.
( "$LSTM_TF" train "${SMALL[@]}" --device gpu --strategy default --out runs/both-a >both-a.log 2>&1 ) &
first=$!
"$LSTM_TF" train "${SMALL[@]}" --device gpu --strategy default --out runs/both-b >both-b.log 2>&1
second=$?
wait $first && [[ $second == 0 ]] \
    && result PASS two-processes-one-gpu "both trainings finished (memory growth)" \
    || result FAIL two-processes-one-gpu "see $WORK/both-a.log, both-b.log"

check_python gpu-after-cpu-is-refused "
from lstm_tf_cli.main import cli
from lstm_tf.errors import UserError
small = ['--dataset', 'sine', '--window', '24', '--units', '8', '--epochs', '1', '-q', '--force']
cli(['train', *small, '--device', 'cpu', '--out', 'runs/cpu-first'], standalone_mode=False)
try:
    cli(['train', *small, '--device', 'gpu', '--out', 'runs/gpu-second'], standalone_mode=False)
except UserError as error:
    assert 'hid its GPUs' in str(error), error
    print('refused: ' + str(error)[:80] + ' ...')
else:
    raise AssertionError('--device gpu after --device cpu trained (on the CPU)')
"

# ------------------------------------------------ mixed_float16 with loss scaling
check_cli train-mixed-float16 "device: GPU x1 (|precision mixed_float16" \
    "$LSTM_TF" train "${SMALL[@]}" --device gpu --strategy default --mixed-precision --out runs/mixed
check_python mixed-float16-loss-scaling "
import json, math
import numpy as np
import keras, tensorflow as tf
from lstm_tf.config import ModelConfig, TrainConfig
from lstm_tf.models import build_model
from lstm_tf.train import compile_model
train = json.load(open('runs/mixed/config.json'))['train']
assert train['precision'] == 'mixed_float16', train
mae = json.load(open('runs/mixed/metrics.json'))['model']['mae']
assert math.isfinite(mae), mae
model = build_model(ModelConfig('lstm', 16, 1), features=1, horizon=1, targets=1,
                    dtype_policy='mixed_float16')
compile_model(model, TrainConfig(), 'mixed_float16')
assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
x = np.random.default_rng(0).standard_normal((256, 24, 1)).astype('float32')
history = model.fit(x, x[:, -1:, :1], epochs=2, batch_size=32, verbose=0)
losses = history.history['loss']
assert all(math.isfinite(l) for l in losses), losses
print(f'run MAE {mae:.4g}; LossScaleOptimizer, loss scale {float(model.optimizer.dynamic_scale):g}, losses {losses}')
"

# --------------------------------------------------------------------- XLA refusal
check_cli xla-refused-for-cudnn "XLA off (requested, but a layer does not support it" \
    "$LSTM_TF" train "${SMALL[@]}" --device gpu --strategy default --xla --out runs/xla-lstm
check_cli xla-on-without-cudnn "XLA on|cuDNN: gated_0 not eligible" \
    "$LSTM_TF" train "${SMALL[@]}" --device gpu --strategy default --xla --model gated --out runs/xla-gated

# ------------------------------------------------------------ mirrored over all GPUs
if [[ $GPUS -ge 2 ]]; then
    check_cli mirrored-all-gpus "device: GPU x$GPUS (|MirroredStrategy, $GPUS replica(s) in sync" \
        "$LSTM_TF" train "${SMALL[@]}" --device gpu --strategy mirrored --out runs/mirrored
    # Every part ends in a batch of one window (train and validation % batch == 1 where the
    # batch allows, test % 256 == 1): no replica may get an empty share (cuDNN rejects it).
    BATCH=$("$PYTHON" -c "
import numpy as np
rows = np.arange(514)
values = np.sin(2 * np.pi * rows / 12) + 0.1 * np.cos(rows)
open('long.csv', 'w').write('step,value\n' + ''.join(f'{i},{v:.6f}\n' for i, v in zip(rows, values)))
n = $GPUS  # 145 train, 105 validation, 257 test windows with the options below
both = [b for b in range(n, 145, n) if 144 % b == 0 and 104 % b == 0]
print(max(both or [b for b in range(n, 145, n) if 144 % b == 0] or [n]))")
    check_cli mirrored-last-batch-of-one "MirroredStrategy, $GPUS replica(s)|145 train / 105 val / 257 test windows" \
        "$LSTM_TF" train --data long.csv --window 7 --val-fraction 0.2043 --test-fraction 0.5 \
        --batch-size "$BATCH" --units 8 --epochs 2 --patience 0 --device gpu --strategy mirrored \
        --out runs/last-batch -q --force
    check_python bench-train-mirrored "
import json, subprocess, shlex
out = subprocess.run(shlex.split('$LSTM_TF') + ['bench-train', '--samples', '1024', '--repeats', '2',
                     '--device', 'gpu', '--json'], capture_output=True, text=True, check=True).stdout
report = json.loads(out[out.index('{'):])
assert (report['strategy'], report['replicas']) == ('mirrored', $GPUS), report
assert report['config']['steps_per_execution'] == 1, report['config']
print(f\"auto: mirrored over {report['replicas']} GPUs, 1 step per execution: \"
      f\"{report['training_samples_per_second']:,.0f} samples/s\")
"
else
    result SKIP mirrored-all-gpus "one GPU: --strategy mirrored needs two or more"
    check_python bench-train-one-gpu "
import json, subprocess, shlex
out = subprocess.run(shlex.split('$LSTM_TF') + ['bench-train', '--samples', '1024', '--repeats', '2',
                     '--device', 'gpu', '--json'], capture_output=True, text=True, check=True).stdout
report = json.loads(out[out.index('{'):])
assert (report['device'], report['strategy'], report['replicas']) == ('gpu', 'default', 1), report
print(f\"{report['training_samples_per_second']:,.0f} samples/s on one GPU\")
"
fi

# -------------------------------------------------------------------- export parity
check_cli export-parity "parity PASSED" \
    "$LSTM_TF" export runs/cudnn --step --out models/cudnn.onnx --force
check_cli export-parity-gates "parity PASSED" \
    "$LSTM_TF" export runs/cudnn --gates --out models/cudnn-gates.onnx --force
check_cli export-parity-mixed "parity PASSED" \
    "$LSTM_TF" export runs/mixed --out models/mixed.onnx --force
check_cli parity-command "parity PASSED" "$LSTM_TF" parity models/cudnn.onnx runs/cudnn

# ---------------------------------------------------------------------- experiments
# The memory experiment's 1000-step runs are the ones compiled with XLA (a plain LSTM
# there would have been cuDNN inside XLA); gradients covers gradient tapes through cuDNN.
check_cli experiment-memory "wrote " \
    "$LSTM_TF" experiment memory --quick --lengths 20 --out experiments/memory --force
check_cli experiment-gradients "wrote " \
    "$LSTM_TF" experiment gradients --quick --out experiments/gradients --force

echo "$passed passed, $failed failed, $skipped skipped; runs and logs in $WORK"
[[ $failed == 0 ]]
