#!/usr/bin/env bash
# One GPU session in one command: the CUDA tests, then the CUDA training bench, figures printed.
#
# Prepare once where the project's virtualenv is: `.venv/bin/python bench/gpu_prepare.py`
# (copies the packages a bare GPU image lacks and the training images into the git-ignored
# .gpu/). On the GPU machine, from the checkout with .gpu/ in it:
#
#     bash bench/gpu_check.sh [bench_train.py options, e.g. --no-levers]
#
# Uses $PYTHON (default python3, which must hold PyTorch with CUDA). The log goes to
# $OUT/gpu_check.log when OUT is set, else .gpu/gpu_check.log. Exit code: non-zero if the tests
# or the bench failed.
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
gpu=${CXR_GPU_DIR:-$repo/.gpu}
python=${PYTHON:-python3}
log=${OUT:-$gpu}/gpu_check.log
if [ ! -d "$gpu/site" ] || [ ! -d "$gpu/data" ]; then
    echo "no $gpu/site or $gpu/data: run bench/gpu_prepare.py first (see README: GPU)" >&2
    exit 2
fi
export PYTHONPATH="$repo:$gpu/site${PYTHONPATH:+:$PYTHONPATH}"
export CXR_DATA="${CXR_DATA:-$gpu/data}" CXR_NO_PROGRESS=1 PYTHONUNBUFFERED=1
workers=$(( $(nproc) / 2 > 2 ? $(nproc) / 2 : 2 ))

run() {
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 || true
    "$python" -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda,
'available', torch.cuda.is_available(),
torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"
    echo "== tests/engine/training/test_cuda.py, tests/engine/training/test_devices.py"
    "$python" -m pytest -q -p no:cacheprovider -rs tests/engine/training/test_cuda.py tests/engine/training/test_devices.py
    tests=$?
    echo "== bench/bench_train.py --device cuda --workers $workers $*"
    "$python" bench/bench_train.py --device cuda --workers "$workers" "$@"
    bench=$?
    echo "== tests exit $tests, bench exit $bench"
    [ "$tests" -eq 0 ] && [ "$bench" -eq 0 ]
}

mkdir -p "$(dirname "$log")"
run "$@" 2>&1 | tee "$log"
