#!/usr/bin/env bash
# Runs one experiment on this machine's CPU (2-core friendly XLA flags).
#   launch/local.sh configs/synthetic_flow_teacher.py /tmp/d3d_jax/demo/flow_teacher [--config.x=y ...]
set -euo pipefail
config=$1 workdir=$2; shift 2
cd "$(dirname "$0")/.."
export XLA_FLAGS="${XLA_FLAGS:-} --xla_cpu_multi_thread_eigen=false"
exec python -m d3d_jax.main --config="$config" --workdir="$workdir" "$@"
