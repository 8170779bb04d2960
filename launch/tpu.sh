#!/usr/bin/env bash
# Cloud TPU VM slices for d3d_jax: create, put the code on every worker, run the same
# training command on all of them, and survive preemption by recreating the slice and
# resuming from the gs:// workdir. Run `launch/tpu.sh --help` for the full usage.
#
# Conventions taken from big_vision's run_tpu.sh (one venv per worker, created once; the
# same `python -m ...` on every worker through `gcloud ... ssh --worker=all`), made complete:
# slice life cycle, preemption recovery, logs, and a --dry-run that prints every gcloud call.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: launch/tpu.sh COMMAND [OPTIONS] [-- D3D_JAX_MAIN_FLAGS...]

Commands:
  create   Create the TPU VM slice (or reuse it when it already exists and is READY).
  setup    Put the code on every worker and install '.[tpu]' into ~/d3d_jax_venv (installed
           once per slice; re-installed only when setup.py changes).
  run      Run `python -m d3d_jax.main FLAGS...` on all workers. Output is streamed here and
           appended to ~/d3d_jax_logs/run.log on each worker (--detach: start it and return).
  watch    create + setup + run, then keep it alive: when the slice is preempted, deleted or
           its queued resource suspended, recreate it, set it up again and rerun the same
           command, which resumes from the checkpoints in the (gs://) workdir. At most
           --max-retries recoveries; a run that fails while the slice is READY also counts.
  logs     Show ~/d3d_jax_logs/run.log of --worker (default 0); --follow keeps tailing.
  ssh      Open a shell on --worker (default 0), or run the command given after `--`.
  stop     Stop the training job on all workers (SIGTERM: the trainer checkpoints and
           exits); the slice stays up (and billed).
  delete   Delete the slice (a queued resource is deleted with --force, its node included).

Slice options (each also read from the environment variable in brackets):
  --name=NAME               slice (and queued-resource) name            [D3D_TPU_NAME]
  --zone=ZONE               e.g. us-central2-b                          [D3D_TPU_ZONE]
  --project=PROJECT         default: gcloud's configured project        [D3D_TPU_PROJECT]
  --accelerator-type=TYPE   e.g. v4-32, v5litepod-16 (default v4-8)     [D3D_TPU_ACCELERATOR_TYPE]
  --runtime-version=VER     TPU software version (default tpu-ubuntu2204-base, for v4;
                            v5e: v2-alpha-tpuv5-lite, v5p: v2-alpha-tpuv5, v6e: v2-alpha-tpuv6e)
                                                                        [D3D_TPU_RUNTIME_VERSION]
  --spot                    Spot capacity (preemptible at any time; use with watch).
  --queued                  Create through a queued resource (waits for capacity).

Other options:
  --ref=GIT_REF             setup: ship `git archive GIT_REF` instead of the working tree
                            (default: every tracked and untracked, not ignored file).
  --python=PYTHON           setup: the workers' interpreter for the venv (default python3.11,
                            which setup.py needs; apt-installed when the image lacks it).
  --env=KEY=VALUE           run/watch: export this variable for the job (repeatable).
  --detach                  run: start the job in the background on every worker and return.
  --worker=N|all            logs/ssh: which worker (default 0).
  --follow                  logs: keep following the log.
  --max-retries=N           watch: recoveries allowed (default 5).
  --poll-seconds=S          watch: seconds between state checks while a slice is being
                            created (default 60).
  --dry-run                 Print every gcloud command (shell-quoted) instead of running it.
  -h, --help                This help.

Everything after `--` is passed unchanged to `python -m d3d_jax.main` on the workers (run,
watch) or run as the remote command (ssh). Each argument is quoted for the remote shell, so
values with spaces or parentheses arrive intact:

  launch/tpu.sh watch --name=d3d-k400 --zone=us-central2-b --accelerator-type=v4-32 --spot -- \
      --config=configs/kinetics400_d3d.py --workdir=gs://BUCKET/workdirs/k400_d3d \
      --config.name='s3dg (lambda 1)'

The workdir must be on gs://: a preempted slice loses its disks, and watch resumes from
the workdir. The remote login shell must be bash (the default on TPU VM images).
EOF
}

die() { echo "launch/tpu.sh: $*" >&2; exit 2; }

# ---------------------------------------------------------------------------------------
# Options.
name=${D3D_TPU_NAME:-} zone=${D3D_TPU_ZONE:-} project=${D3D_TPU_PROJECT:-}
accelerator_type=${D3D_TPU_ACCELERATOR_TYPE:-v4-8}
runtime_version=${D3D_TPU_RUNTIME_VERSION:-tpu-ubuntu2204-base}
spot=0 queued=0 dry_run=0 detach=0 follow=0 ref='' worker=0 python=python3.11
max_retries=5 poll_seconds=60
envs=() passthrough=() command=''

while (($#)); do
  case $1 in
    -h|--help) usage; exit 0 ;;
    --name=*) name=${1#*=} ;;
    --zone=*) zone=${1#*=} ;;
    --project=*) project=${1#*=} ;;
    --accelerator-type=*) accelerator_type=${1#*=} ;;
    --runtime-version=*) runtime_version=${1#*=} ;;
    --spot) spot=1 ;;
    --queued) queued=1 ;;
    --ref=*) ref=${1#*=} ;;
    --python=*) python=${1#*=} ;;
    --env=*) envs+=("${1#*=}") ;;
    --detach) detach=1 ;;
    --worker=*) worker=${1#*=} ;;
    --follow) follow=1 ;;
    --max-retries=*) max_retries=${1#*=} ;;
    --poll-seconds=*) poll_seconds=${1#*=} ;;
    --dry-run|--dry_run) dry_run=1 ;;
    --) shift; passthrough=("$@"); break ;;
    -*) die "unknown option $1 (options of d3d_jax.main go after \`--\`; see --help)" ;;
    *) [[ -z $command ]] || die "two commands given: $command and $1"; command=$1 ;;
  esac
  shift
done

[[ -n $command ]] || { usage >&2; exit 2; }
case $command in
  create|setup|run|watch|logs|ssh|stop|delete) ;;
  *) die "unknown command '$command' (create, setup, run, watch, logs, ssh, stop, delete)" ;;
esac
[[ -n $name ]] || die "--name (or D3D_TPU_NAME) is required"
[[ -n $zone ]] || die "--zone (or D3D_TPU_ZONE) is required"
[[ $max_retries =~ ^[0-9]+$ ]] || die "--max-retries must be a whole number, got '$max_retries'"
[[ $poll_seconds =~ ^[0-9]+([.][0-9]+)?$ ]] || die "--poll-seconds must be a number, got '$poll_seconds'"
[[ $python =~ ^[A-Za-z0-9._/-]+$ ]] || die "--python must be an interpreter name or path, got '$python'"
[[ $worker == all || $worker =~ ^[0-9]+$ ]] || die "--worker must be a number or 'all', got '$worker'"
for kv in ${envs[@]+"${envs[@]}"}; do
  [[ $kv =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || die "--env must be KEY=VALUE, got '$kv'"
done

if [[ $command == run || $command == watch ]]; then
  workdir='' previous=''
  for arg in ${passthrough[@]+"${passthrough[@]}"}; do
    if [[ $arg == --workdir=* ]]; then workdir=${arg#--workdir=}
    elif [[ $previous == --workdir ]]; then workdir=$arg; fi
    previous=$arg
  done
  [[ -n $workdir ]] || die "$command needs '-- --config=... --workdir=gs://...'"
  if [[ $workdir != gs://* ]]; then
    echo "launch/tpu.sh: warning: --workdir=$workdir is not on gs://; the workers' disks" \
         "are lost with the slice, so a recreated slice cannot resume from it" >&2
  fi
fi

repo=$(cd "$(dirname "$0")/.." && pwd)
# Expanded by the remote shell.
remote_dir='$HOME/d3d_jax' remote_venv='$HOME/d3d_jax_venv' remote_logs='$HOME/d3d_jax_logs'
exec 3>&1  # --dry-run prints here, also from functions whose stdout is captured.

# ---------------------------------------------------------------------------------------
# gcloud, or its printout under --dry-run.
zone_flags=(--zone="$zone")
[[ -z $project ]] || zone_flags+=(--project="$project")

gcloud_do() {
  if ((dry_run)); then
    { printf 'gcloud'; printf ' %q' "$@"; printf '\n'; } >&3
  else
    gcloud "$@"
  fi
}

tpu_vm() { gcloud_do compute tpus tpu-vm "$@"; }
queued_resource() { gcloud_do compute tpus queued-resources "$@"; }

log() { echo "[launch/tpu.sh $(date -u +%H:%M:%S)] $*" >&2; }

# The slice's state as gcloud reports it (queued resource: the request's state), or
# NOT_FOUND when it does not exist. Under --dry-run the describe is printed and the slice
# is assumed absent before `create` and READY afterwards.
raw_state() {
  local raw err
  if ((dry_run)); then
    if ((queued)); then
      queued_resource describe "$name" "${zone_flags[@]}" --format='value(state.state)'
    else
      tpu_vm describe "$name" "${zone_flags[@]}" --format='value(state)'
    fi
    if [[ ${1:-} == before_create ]]; then echo NOT_FOUND; else echo READY; fi
    return
  fi
  err=$(mktemp)
  if ((queued)); then
    raw=$(gcloud compute tpus queued-resources describe "$name" "${zone_flags[@]}" \
          --format='value(state.state)' 2>"$err") || raw=''
  else
    raw=$(gcloud compute tpus tpu-vm describe "$name" "${zone_flags[@]}" \
          --format='value(state)' 2>"$err") || raw=''
  fi
  if [[ -z $raw ]]; then
    if grep -q 'NOT_FOUND' "$err"; then raw=NOT_FOUND
    else cat "$err" >&2; rm -f "$err"; die "cannot read the state of slice '$name'"; fi
  fi
  rm -f "$err"
  echo "$raw"
}

# A raw state reduced to READY, PENDING (being created), GONE (preempted, deleted,
# suspended, failed: recreate it) or STOPPED (stopped by a person: leave it alone).
classify_state() {
  case $1 in
    READY|ACTIVE) echo READY ;;
    CREATING|STARTING|RESTARTING|REPAIRING|ACCEPTED|WAITING_FOR_RESOURCES|PROVISIONING)
      echo PENDING ;;
    PREEMPTED|TERMINATED|NOT_FOUND|SUSPENDING|SUSPENDED|FAILED|DELETING) echo GONE ;;
    STOPPING|STOPPED) echo STOPPED ;;
    *) echo "$1" ;;
  esac
}

slice_state() { classify_state "$(raw_state "$@")"; }

create_slice() {
  local provisioning=()
  ((spot)) && provisioning+=(--spot)
  if ((queued)); then
    queued_resource create "$name" --node-id="$name" "${zone_flags[@]}" \
      --accelerator-type="$accelerator_type" --runtime-version="$runtime_version" \
      ${provisioning[@]+"${provisioning[@]}"}
  else
    tpu_vm create "$name" "${zone_flags[@]}" --accelerator-type="$accelerator_type" \
      --version="$runtime_version" ${provisioning[@]+"${provisioning[@]}"}
  fi
}

delete_slice() {
  if ((queued)); then
    queued_resource delete "$name" "${zone_flags[@]}" --force --quiet
  else
    tpu_vm delete "$name" "${zone_flags[@]}" --quiet
  fi
}

# Waits until the slice is READY; returns 1 when it is GONE or STOPPED.
wait_ready() {
  local state
  while true; do
    state=$(slice_state)
    case $state in
      READY) return 0 ;;
      PENDING) log "slice '$name' is being created; next check in ${poll_seconds}s"
               sleep "$poll_seconds" ;;
      *) log "slice '$name' is $state"; return 1 ;;
    esac
  done
}

cmd_create() {
  local raw state
  raw=$(raw_state before_create)
  state=$(classify_state "$raw")
  case $state in
    READY) log "slice '$name' exists and is READY: reusing it"; return 0 ;;
    PENDING) log "slice '$name' is already being created" ;;
    STOPPED) die "slice '$name' is stopped; start it (gcloud compute tpus tpu-vm start) or delete it" ;;
    GONE)
      # A preempted node or a suspended queued resource still holds the name: free it.
      [[ $raw == NOT_FOUND ]] || delete_slice
      create_slice ;;
    *) die "slice '$name' is in state $raw; delete it or pick another --name" ;;
  esac
  ((dry_run)) || wait_ready || die "slice '$name' did not become READY"
}

ssh_all() { tpu_vm ssh "$name" "${zone_flags[@]}" --worker=all --command="$1"; }

cmd_setup() {
  local archive setup_hash
  if ((dry_run)); then archive=/tmp/d3d_jax.tar.gz; else archive=$(mktemp -d)/d3d_jax.tar.gz; fi
  if [[ -n $ref ]]; then
    if ((dry_run)); then printf 'git archive --format=tar.gz -o %q %q\n' "$archive" "$ref" >&3
    else git -C "$repo" archive --format=tar.gz -o "$archive" "$ref"; fi
    setup_hash=$(git -C "$repo" show "$ref:setup.py" | cksum | cut -d' ' -f1)
  else
    if ((dry_run)); then printf 'tar -czf %q -C %q (git ls-files --cached --others --exclude-standard)\n' "$archive" "$repo" >&3
    else
      # --ignore-failed-read: a tracked file deleted in the working tree is left out.
      (cd "$repo" && git ls-files -z --cached --others --exclude-standard \
        | tar -czf "$archive" --null -T - --ignore-failed-read 2>/dev/null)
    fi
    setup_hash=$(cksum < "$repo/setup.py" | cut -d' ' -f1)
  fi
  tpu_vm scp "$archive" "$name:d3d_jax.tar.gz" "${zone_flags[@]}" --worker=all
  # The venv and the editable install survive code updates; pip runs again only for a
  # fresh worker or a changed setup.py (the marker holds setup.py's checksum).
  ssh_all "set -e; rm -rf $remote_dir && mkdir -p $remote_dir && tar -xzf \$HOME/d3d_jax.tar.gz -C $remote_dir
if [ \"\$(cat $remote_venv/.d3d_jax_installed 2>/dev/null)\" != $setup_hash ]; then
  command -v $python >/dev/null || { sudo apt-get update -qq && sudo apt-get install -y -qq $python $python-venv; }
  $python -m venv $remote_venv && $remote_venv/bin/pip install -q -U pip &&
  $remote_venv/bin/pip install -q -e \"$remote_dir[tpu]\" && echo $setup_hash > $remote_venv/.d3d_jax_installed
fi"
  ((dry_run)) || rm -rf "$(dirname "$archive")"
}

# The command every worker runs: the job's pid in run.pid (for stop), its output appended
# to run.log and, unless detached, streamed back through ssh.
remote_run_command() {
  local exports='' kv main
  for kv in ${envs[@]+"${envs[@]}"}; do exports+="export ${kv%%=*}=$(printf %q "${kv#*=}"); "; done
  main="python -m d3d_jax.main$(printf ' %q' "${passthrough[@]}")"
  local prefix="set -o pipefail; cd $remote_dir && . $remote_venv/bin/activate && mkdir -p $remote_logs && ${exports}"
  if ((detach)); then
    local job="echo \$\$ > $remote_logs/run.pid; exec $main"
    echo "${prefix}nohup setsid bash -c $(printf %q "$job") >> $remote_logs/run.log 2>&1 < /dev/null &"
  else
    # `exec` inside the subshell makes the recorded pid the python process itself.
    echo "${prefix}(echo \$BASHPID > $remote_logs/run.pid; exec $main ) 2>&1 | tee -a $remote_logs/run.log"
  fi
}

cmd_run() { ssh_all "$(remote_run_command)"; }

cmd_stop() {
  ssh_all "if [ -f $remote_logs/run.pid ]; then kill -TERM \$(cat $remote_logs/run.pid) 2>/dev/null || true; fi"
}

cmd_logs() {
  local tail_flags='-n 200'
  ((follow)) && tail_flags='-n 200 -F'
  tpu_vm ssh "$name" "${zone_flags[@]}" --worker="$worker" --command="tail $tail_flags $remote_logs/run.log"
}

cmd_ssh() {
  if ((${#passthrough[@]})); then
    tpu_vm ssh "$name" "${zone_flags[@]}" --worker="$worker" --command="$(printf '%q ' "${passthrough[@]}")"
  else
    tpu_vm ssh "$name" "${zone_flags[@]}" --worker="$worker"
  fi
}

cmd_watch() {
  local recoveries=0 rc state
  ((detach)) && die "watch runs the job in the foreground; drop --detach"
  cmd_create
  cmd_setup
  while true; do
    log "running on all workers of '$name' (recoveries so far: $recoveries/$max_retries)"
    rc=0; cmd_run || rc=$?
    state=$(slice_state)
    if [[ $state == READY && $rc == 0 ]]; then
      log "the job finished on '$name'"; return 0
    fi
    if [[ $state == STOPPED ]]; then
      die "slice '$name' was stopped by someone; not recreating it"
    fi
    if ((recoveries >= max_retries)); then
      die "giving up after $recoveries recoveries (last: slice $state, exit code $rc)"
    fi
    recoveries=$((recoveries + 1))
    if [[ $state == READY ]]; then
      log "the job exited with code $rc on a READY slice; stopping leftovers and rerunning"
      cmd_stop || true
    else
      log "slice '$name' is $state (exit code $rc): recreating it and resuming from $workdir"
      wait_ready_or_gone
      cmd_create
      cmd_setup
    fi
  done
}

# After a preemption the node may pass through transient states before it reads GONE.
wait_ready_or_gone() {
  local state
  while true; do
    state=$(slice_state)
    [[ $state == PENDING ]] || return 0
    sleep "$poll_seconds"
  done
}

case $command in
  create) cmd_create ;;
  setup) cmd_setup ;;
  run) cmd_run ;;
  watch) cmd_watch ;;
  logs) cmd_logs ;;
  ssh) cmd_ssh ;;
  stop) cmd_stop ;;
  delete) delete_slice ;;
esac
