#!/usr/bin/env bash
# One command for a session with an NVIDIA GPU (issue 11): CPU/GPU parity, OOM fallback, end-to-end
# timings and the side-by-side benchmark. Needs embeval's dependencies with a CUDA build of torch.
#   bash bench/gpu_check.sh            # ≈ 8-10 min on one H100/H200 (then gpu_check_commands.py)
#   bash bench/gpu_check.sh --cluster-only   # only the LocalCluster tile parity + speed (≈ 1 min)
#   bash bench/gpu_check.sh --allow-cpu --cluster-only --skip-bench   # the same on CPU (torch on CPU tensors)
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
PY="${PYTHON:-python3}"
nvidia-smi --query-gpu=name,memory.total,memory.used,driver_version --format=csv || true
"$PY" -c "import torch, numpy, faiss, typer, rich; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
rc=0
"$PY" bench/gpu_check.py "$@" || rc=$?
# the commands built on the compute layer (retrieval AUC, audit, diff, gap, sweeps): cpu vs cuda
[[ " $* " == *" --cluster-only "* ]] && exit $rc
"$PY" bench/gpu_check_commands.py $([[ " $* " == *" --allow-cpu "* ]] && echo "--allow-cpu --n 3000 --queries 200") || rc=$?
exit $rc
