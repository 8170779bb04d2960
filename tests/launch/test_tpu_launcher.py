"""launch/tpu.sh against a fake gcloud that records calls and simulates preemption.

The fake (tests/launch/fake_gcloud.py) executes each training run's remote command with
bash in a simulated worker home whose venv puts a recording `python` first on PATH, so the
tests check the argv that `python -m d3d_jax.main` would receive on a worker.
"""

import json
import os
import pathlib
import re
import shlex
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
TPU_SH = REPO / 'launch' / 'tpu.sh'
FAKE_GCLOUD = pathlib.Path(__file__).with_name('fake_gcloud.py')
MAIN_FLAGS = ['--config=configs/kinetics400_d3d.py', '--workdir=gs://bucket/k400',
              '--config.name=a b (c)', "--config.note=it's \"quoted\" $HOME;"]


def _executable(path, text):
  path.write_text(text)
  path.chmod(0o755)


def _json_lines(path):
  return [json.loads(l) for l in path.read_text().splitlines()] if path.exists() else []


class Launcher:
  """Runs launch/tpu.sh with the fake gcloud; reads back the calls and the world."""

  def __init__(self, tmp_path, nodes=None, queued=None, run_outcomes=()):
    self.tmp = tmp_path
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    gcloud = bin_dir / 'gcloud'
    _executable(gcloud, f'#!/bin/sh\nexec {sys.executable} -S -E {FAKE_GCLOUD} "$@"\n')
    self.calls_file = tmp_path / 'calls.jsonl'
    self.world_file = tmp_path / 'world.json'
    self.world_file.write_text(json.dumps({
        'nodes': nodes or {}, 'queued': queued or {},
        'run_outcomes': list(run_outcomes)}))
    # One simulated worker. Its PATH starts with fakes: `python` records its argv,
    # `python3.11 -m venv DIR` makes a venv whose `pip` records its argv.
    fakebin = tmp_path / 'fakebin'
    fakebin.mkdir()
    self.python_calls = tmp_path / 'python_calls.jsonl'
    self.pip_calls = tmp_path / 'pip_calls.jsonl'
    recorder = ('#!{exe} -S\nimport json, sys\n'
                "with open({log!r}, 'a') as f:\n"
                '  f.write(json.dumps(sys.argv[1:]) + "\\n")\n')
    _executable(fakebin / 'python', recorder.format(exe=sys.executable,
                                                    log=str(self.python_calls)))
    _executable(fakebin / 'python3.11', (
        '#!/bin/sh\n[ "$1 $2" = "-m venv" ] || exit 1\nmkdir -p "$3/bin"\n'
        ': > "$3/bin/activate"\ncat > "$3/bin/pip" <<EOF\n'
        + recorder.format(exe=sys.executable, log=str(self.pip_calls)) +
        'EOF\nchmod +x "$3/bin/pip"\n'))
    worker = tmp_path / 'worker'
    (worker / 'd3d_jax').mkdir(parents=True)
    (worker / 'd3d_jax_venv' / 'bin').mkdir(parents=True)
    (worker / 'd3d_jax_venv' / 'bin' / 'activate').write_text('')
    self.worker = worker
    self.env = dict(os.environ, PATH=f'{bin_dir}:{fakebin}:{os.environ["PATH"]}',
                    FAKE_GCLOUD_CALLS=str(self.calls_file),
                    FAKE_GCLOUD_WORLD=str(self.world_file),
                    FAKE_GCLOUD_WORKER_HOME=str(worker))

  def __call__(self, *args):
    return subprocess.run(['bash', str(TPU_SH), *args], env=self.env, capture_output=True,
                          text=True, timeout=60, check=False)

  def calls(self):
    return _json_lines(self.calls_file)

  def steps(self):
    """Each call as 'GROUP VERB' (an ssh also says what it does: run, stop, setup)."""
    steps = []
    for argv in self.calls():
      step = f'{argv[2]} {argv[3]}'
      command = next((a for a in argv if a.startswith('--command=')), '')
      if argv[3] == 'ssh':
        step += (' run' if 'd3d_jax.main' in command else
                 ' stop' if 'kill -TERM' in command else ' setup')
      steps.append(step)
    return steps

  def worker_python_calls(self):
    return _json_lines(self.python_calls)

  def worker_pip_calls(self):
    return _json_lines(self.pip_calls)

  def world(self):
    return json.loads(self.world_file.read_text())


SLICE = ['--name=d3d-test', '--zone=us-central2-b', '--accelerator-type=v4-32',
         '--runtime-version=tpu-ubuntu2204-base', '--poll-seconds=0']


def test_watch_recreates_a_preempted_spot_slice_and_resumes_with_the_same_command(tmp_path):
  launcher = Launcher(tmp_path, run_outcomes=['preempt', 'ok'])
  result = launcher('watch', *SLICE, '--spot', '--', *MAIN_FLAGS)
  assert result.returncode == 0, result.stderr
  assert launcher.steps() == [
      'tpu-vm describe', 'tpu-vm create', 'tpu-vm describe',   # create, wait READY
      'tpu-vm scp', 'tpu-vm ssh setup',                          # setup
      'tpu-vm ssh run',                                          # run: preempted mid-run
      'tpu-vm describe', 'tpu-vm describe',                      # PREEMPTED (not pending)
      'tpu-vm describe', 'tpu-vm delete', 'tpu-vm create',       # free the name, recreate
      'tpu-vm describe', 'tpu-vm scp', 'tpu-vm ssh setup',       # READY, setup again
      'tpu-vm ssh run',                                          # rerun: finishes
      'tpu-vm describe',                                         # READY + exit 0: done
  ]
  creates = [argv for argv in launcher.calls() if argv[3] == 'create']
  assert creates[0] == creates[1] == [
      'compute', 'tpus', 'tpu-vm', 'create', 'd3d-test', '--zone=us-central2-b',
      '--accelerator-type=v4-32', '--version=tpu-ubuntu2204-base', '--spot']
  # Both runs received the same argv: the rerun resumes from the same gs:// workdir.
  assert launcher.worker_python_calls() == [['-m', 'd3d_jax.main', *MAIN_FLAGS]] * 2
  assert launcher.world()['nodes'] == {'d3d-test': 'READY'}
  # Each fresh slice got the code and one install of the TPU extra.
  install = ['install', '-q', '-e', f'{launcher.worker}/d3d_jax[tpu]']
  assert [c for c in launcher.worker_pip_calls() if '-e' in c] == [install] * 2
  assert (launcher.worker / 'd3d_jax' / 'launch' / 'tpu.sh').exists()


def test_watch_with_queued_resources_deletes_the_suspended_request_and_queues_again(tmp_path):
  launcher = Launcher(tmp_path, run_outcomes=['preempt', 'ok'])
  result = launcher('watch', *SLICE, '--queued', '--spot', '--', *MAIN_FLAGS)
  assert result.returncode == 0, result.stderr
  steps = launcher.steps()
  assert steps.count('queued-resources create') == 2
  assert steps[steps.index('queued-resources delete') - 1] == 'queued-resources describe'
  delete = next(a for a in launcher.calls() if a[3] == 'delete')
  assert delete == ['compute', 'tpus', 'queued-resources', 'delete', 'd3d-test',
                    '--zone=us-central2-b', '--force', '--quiet']
  create = next(a for a in launcher.calls() if a[3] == 'create')
  assert create == ['compute', 'tpus', 'queued-resources', 'create', 'd3d-test',
                    '--node-id=d3d-test', '--zone=us-central2-b', '--accelerator-type=v4-32',
                    '--runtime-version=tpu-ubuntu2204-base', '--spot']
  assert launcher.worker_python_calls() == [['-m', 'd3d_jax.main', *MAIN_FLAGS]] * 2


def test_watch_reruns_a_job_that_failed_on_a_ready_slice_after_stopping_it(tmp_path):
  launcher = Launcher(tmp_path, nodes={'d3d-test': 'READY'}, run_outcomes=['fail', 'ok'])
  result = launcher('watch', *SLICE, '--', *MAIN_FLAGS)
  assert result.returncode == 0, result.stderr
  assert launcher.steps() == [
      'tpu-vm describe', 'tpu-vm scp', 'tpu-vm ssh setup',   # reused slice, setup
      'tpu-vm ssh run', 'tpu-vm describe',                    # exit 1, slice READY
      'tpu-vm ssh stop', 'tpu-vm ssh run', 'tpu-vm describe']
  assert 'the job exited with code 1 on a READY slice' in result.stderr


def test_watch_gives_up_after_max_retries(tmp_path):
  launcher = Launcher(tmp_path, run_outcomes=['preempt', 'preempt', 'ok'])
  result = launcher('watch', *SLICE, '--max-retries=1', '--', *MAIN_FLAGS)
  assert result.returncode == 2
  assert 'giving up after 1 recoveries (last: slice GONE, exit code 255)' in result.stderr
  assert launcher.steps().count('tpu-vm ssh run') == 2


def test_setup_installs_once_per_slice_and_again_when_setup_py_changes(tmp_path):
  launcher = Launcher(tmp_path, nodes={'d3d-test': 'READY'})
  for _ in range(2):
    result = launcher('setup', *SLICE)
    assert result.returncode == 0, result.stderr
  assert launcher.worker_pip_calls() == [
      ['install', '-q', '-U', 'pip'],
      ['install', '-q', '-e', f'{launcher.worker}/d3d_jax[tpu]']]
  assert (launcher.worker / 'd3d_jax' / 'setup.py').read_bytes() == (
      REPO / 'setup.py').read_bytes()
  (launcher.worker / 'd3d_jax_venv' / '.d3d_jax_installed').write_text('other\n')
  launcher('setup', *SLICE)
  assert len(launcher.worker_pip_calls()) == 4


def test_create_reuses_a_ready_slice(tmp_path):
  launcher = Launcher(tmp_path, nodes={'d3d-test': 'READY'})
  result = launcher('create', *SLICE)
  assert result.returncode == 0, result.stderr
  assert launcher.steps() == ['tpu-vm describe']
  assert "slice 'd3d-test' exists and is READY: reusing it" in result.stderr


def test_config_overrides_reach_the_remote_command_intact(tmp_path):
  launcher = Launcher(tmp_path, nodes={'d3d-test': 'READY'}, run_outcomes=['ok'])
  result = launcher('run', *SLICE, '--env=TFDS_DATA_DIR=gs://b/tf ds', '--', *MAIN_FLAGS)
  assert result.returncode == 0, result.stderr
  (ssh,) = launcher.calls()
  command = next(a for a in ssh if a.startswith('--command='))[len('--command='):]
  # Parsed as the remote shell would: the python argv is the launcher's, unchanged.
  words = shlex.split(command)
  start = words.index('d3d_jax.main') + 1
  assert words[start:start + len(MAIN_FLAGS)] == MAIN_FLAGS
  assert 'TFDS_DATA_DIR=gs://b/tf ds;' in words
  # And as bash runs it on the worker (fake_gcloud executes the command).
  assert launcher.worker_python_calls() == [['-m', 'd3d_jax.main', *MAIN_FLAGS]]
  assert (launcher.worker / 'd3d_jax_logs' / 'run.pid').exists()
  assert (launcher.worker / 'd3d_jax_logs' / 'run.log').exists()


def test_detached_run_quotes_overrides_through_the_nested_shell(tmp_path):
  launcher = Launcher(tmp_path, nodes={'d3d-test': 'READY'}, run_outcomes=['ok'])
  result = launcher('run', *SLICE, '--detach', '--', *MAIN_FLAGS)
  assert result.returncode == 0, result.stderr
  for _ in range(100):  # The job runs in the background on the worker.
    if launcher.worker_python_calls():
      break
    subprocess.run(['sleep', '0.05'], check=True)
  assert launcher.worker_python_calls() == [['-m', 'd3d_jax.main', *MAIN_FLAGS]]


def test_dry_run_prints_every_gcloud_command_and_runs_none(tmp_path):
  launcher = Launcher(tmp_path)
  result = launcher('watch', *SLICE, '--dry-run', '--', *MAIN_FLAGS)
  assert result.returncode == 0, result.stderr
  assert launcher.calls() == []
  lines = result.stdout.splitlines()
  gcloud = [shlex.split(l)[:5] for l in lines if l.startswith('gcloud ')]
  assert [' '.join(g[3:5]) for g in gcloud] == [
      'tpu-vm describe', 'tpu-vm create', 'tpu-vm scp', 'tpu-vm ssh', 'tpu-vm ssh',
      'tpu-vm describe']
  assert lines[1] == ('gcloud compute tpus tpu-vm create d3d-test --zone=us-central2-b '
                      '--accelerator-type=v4-32 --version=tpu-ubuntu2204-base')
  # The printed run command is copy-pasteable: the shell gives back the same --command.
  run_line = [l for l in lines if 'd3d_jax.main' in l][0]
  command = next(w for w in shlex.split(run_line) if w.startswith('--command='))
  words = shlex.split(command[len('--command='):])
  start = words.index('d3d_jax.main') + 1
  assert words[start:start + len(MAIN_FLAGS)] == MAIN_FLAGS


def test_delete_and_stop_and_logs_issue_the_expected_commands(tmp_path):
  launcher = Launcher(tmp_path)
  outputs = [launcher(cmd, *SLICE, '--dry-run').stdout.strip()
             for cmd in ('delete', 'stop', 'logs')]
  assert outputs[0] == 'gcloud compute tpus tpu-vm delete d3d-test --zone=us-central2-b --quiet'
  assert re.search(r'--worker=all --command=.*kill\\ -TERM', outputs[1])
  assert re.search(r'--worker=0 --command=tail\\ -n\\ 200\\ ', outputs[2])


def test_help_lists_every_command(tmp_path):
  result = Launcher(tmp_path)('--help')
  assert result.returncode == 0
  for command in ('create', 'setup', 'run', 'watch', 'logs', 'ssh', 'stop', 'delete'):
    assert re.search(rf'^  {command} ', result.stdout, re.M)


@pytest.mark.parametrize('args, message', [
    (['run', *SLICE, '--', '--config=c.py'], "run needs '-- --config=... --workdir=gs://...'"),
    (['run', '--zone=z', '--', '--workdir=gs://b/w'], '--name (or D3D_TPU_NAME) is required'),
    (['run', *SLICE, '--config.x=1'], 'unknown option --config.x=1'),
    (['watch', *SLICE, '--max-retries=many', '--', '--workdir=gs://b'],
     "--max-retries must be a whole number, got 'many'"),
])
def test_bad_arguments_are_clear_errors(tmp_path, args, message):
  result = Launcher(tmp_path)(*args)
  assert result.returncode == 2
  assert message in result.stderr
