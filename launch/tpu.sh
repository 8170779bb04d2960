#!/usr/bin/env bash
# Runs one experiment on every host of a Cloud TPU VM pod slice.
#   launch/tpu.sh TPU_NAME ZONE configs/kinetics400_d3d.py gs://BUCKET/workdirs/k400_d3d [--config.x=y ...]
# Copies the repo to every worker, installs it with the TPU extra, and starts the same
# command everywhere; d3d_jax.main calls jax.distributed.initialize() on pods.
set -euo pipefail
name=$1 zone=$2 config=$3 workdir=$4; shift 4
repo=$(cd "$(dirname "$0")/.." && pwd)
gcloud compute tpus tpu-vm scp --recurse "$repo" "$name": --zone="$zone" --worker=all
gcloud compute tpus tpu-vm ssh "$name" --zone="$zone" --worker=all --command "
  cd $(basename "$repo") && pip install -q -e '.[tpu]' &&
  nohup python -m d3d_jax.main --config=$config --workdir=$workdir $* > train.log 2>&1 &"
