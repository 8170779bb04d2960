#!/usr/bin/env bash
# Runs one experiment on this GPU host, or on one host of a multi-host GPU job.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: launch/gpu.sh [OPTIONS] CONFIG WORKDIR [--config.key=value ...]

Runs `python -m d3d_jax.main --config=CONFIG --workdir=WORKDIR [overrides]` with every
visible GPU of this host on the mesh's 'data' axis.

Options:
  --gpus=LIST             GPUs to use, e.g. 0,1 (sets CUDA_VISIBLE_DEVICES; default: all).
  --coordinator=HOST:PORT multi-host: process 0's address   (sets JAX_COORDINATOR_ADDRESS)
  --num_processes=N       multi-host: number of processes   (sets JAX_NUM_PROCESSES)
  --process_id=I          multi-host: this process, 0..N-1  (sets JAX_PROCESS_ID)
  --install               pip install -e '.[gpu]' first.
  --dry-run               print the environment and the command instead of running it.
  -h, --help              this help.

Multi-host: start the same command on every host, each with its own --process_id (or
with the three JAX_* variables already exported); d3d_jax.main then calls
jax.distributed.initialize(). Under SLURM nothing is needed: JAX reads the SLURM_*
variables of `srun` itself (one process per GPU; see the README, "GPU clusters").
The workdir must be on storage every host sees (a shared file system or gs://).
EOF
}

die() { echo "launch/gpu.sh: $*" >&2; exit 2; }

install=0 dry_run=0 positional=()
while (($#)); do
  case $1 in
    -h|--help) usage; exit 0 ;;
    --gpus=*) export CUDA_VISIBLE_DEVICES=${1#*=} ;;
    --coordinator=*) export JAX_COORDINATOR_ADDRESS=${1#*=} ;;
    --num_processes=*) export JAX_NUM_PROCESSES=${1#*=} ;;
    --process_id=*) export JAX_PROCESS_ID=${1#*=} ;;
    --install) install=1 ;;
    --dry-run|--dry_run) dry_run=1 ;;
    --config.*|--config=*|--workdir=*) break ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) positional+=("$1"); ((${#positional[@]} < 2)) || { shift; break; } ;;
  esac
  shift
done
((${#positional[@]} == 2)) || { usage >&2; exit 2; }
config=${positional[0]} workdir=${positional[1]}

# The same variables d3d_jax.main reads: the coordinator with both counts, or none of them.
multi=(JAX_COORDINATOR_ADDRESS JAX_NUM_PROCESSES JAX_PROCESS_ID)
set_count=0
for var in "${multi[@]}"; do [[ -z ${!var:-} ]] || set_count=$((set_count + 1)); done
if ((set_count != 0 && set_count != 3)) && [[ -z ${SLURM_NTASKS:-} ]]; then
  die "multi-host needs all of --coordinator, --num_processes and --process_id" \
      "(JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES, JAX_PROCESS_ID), or SLURM"
fi
for var in JAX_NUM_PROCESSES JAX_PROCESS_ID; do
  [[ -z ${!var:-} || ${!var} =~ ^[0-9]+$ ]] || die "$var must be a whole number, got '${!var}'"
done
if ((set_count == 3)) && ((JAX_PROCESS_ID >= JAX_NUM_PROCESSES)); then
  die "--process_id=$JAX_PROCESS_ID must be below --num_processes=$JAX_NUM_PROCESSES"
fi

cd "$(dirname "$0")/.."
command=(python -m d3d_jax.main --config="$config" --workdir="$workdir" "$@")
if ((dry_run)); then
  for var in CUDA_VISIBLE_DEVICES "${multi[@]}"; do
    [[ -z ${!var:-} ]] || printf '%s=%q\n' "$var" "${!var}"
  done
  ((install)) && echo "pip install -q -e '.[gpu]'"
  printf '%q ' "${command[@]}"; printf '\n'
  exit 0
fi
((install)) && pip install -q -e '.[gpu]'
exec "${command[@]}"
