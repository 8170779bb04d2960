#!/usr/bin/env bash
# Runs one experiment on this GPU host (all local GPUs form the 'data' mesh axis).
#   launch/gpu.sh configs/synthetic_d3d.py /tmp/d3d [--config.x=y ...]
# For several hosts, start it on each with JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES and
# JAX_PROCESS_ID set (or under SLURM); d3d_jax.main calls jax.distributed.initialize().
set -euo pipefail
config=$1 workdir=$2; shift 2
cd "$(dirname "$0")/.."
pip install -q -e '.[gpu]'
exec python -m d3d_jax.main --config="$config" --workdir="$workdir" "$@"
