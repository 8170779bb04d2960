"""launch/gpu.sh: the command and the multi-host environment it hands to d3d_jax.main.

A fake `python` first on PATH records its argv and the JAX / CUDA variables it was
started with, so the tests see exactly what d3d_jax.main would receive.
"""

import json
import os
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[2]
GPU_SH = REPO / 'launch' / 'gpu.sh'
VARIABLES = ('CUDA_VISIBLE_DEVICES', 'JAX_COORDINATOR_ADDRESS', 'JAX_NUM_PROCESSES',
             'JAX_PROCESS_ID')


def _run(tmp_path, *args, env=None):
  bin_dir = tmp_path / 'bin'
  bin_dir.mkdir(exist_ok=True)
  python = bin_dir / 'python'
  python.write_text(
      f'#!{sys.executable} -S\nimport json, os, sys\n'
      f"json.dump({{'argv': sys.argv[1:], 'env': {{k: os.environ.get(k) for k in "
      f"{VARIABLES!r}}}}}, open({str(tmp_path / 'python.json')!r}, 'w'))\n")
  python.chmod(0o755)
  base = {k: v for k, v in os.environ.items() if k not in VARIABLES and
          not k.startswith('SLURM_')}
  base['PATH'] = f'{bin_dir}:{base["PATH"]}'
  proc = subprocess.run(['bash', str(GPU_SH), *args], env={**base, **(env or {})},
                        capture_output=True, text=True, timeout=30, check=False)
  record = tmp_path / 'python.json'
  return proc, json.loads(record.read_text()) if record.exists() else None


def test_runs_main_with_config_workdir_and_overrides_intact(tmp_path):
  proc, started = _run(tmp_path, '--gpus=0,1', 'configs/kinetics400_d3d.py', '/w/k400',
                       '--config.name=a b (c)', '--config.batch_size=8')
  assert proc.returncode == 0, proc.stderr
  assert started['argv'] == ['-m', 'd3d_jax.main', '--config=configs/kinetics400_d3d.py',
                             '--workdir=/w/k400', '--config.name=a b (c)',
                             '--config.batch_size=8']
  assert started['env'] == {'CUDA_VISIBLE_DEVICES': '0,1', 'JAX_COORDINATOR_ADDRESS': None,
                            'JAX_NUM_PROCESSES': None, 'JAX_PROCESS_ID': None}


def test_multi_host_flags_become_the_variables_main_reads(tmp_path):
  proc, started = _run(tmp_path, '--coordinator=10.0.0.1:8476', '--num_processes=4',
                       '--process_id=3', 'configs/x.py', 'gs://b/w')
  assert proc.returncode == 0, proc.stderr
  assert started['env'] == {'CUDA_VISIBLE_DEVICES': None,
                            'JAX_COORDINATOR_ADDRESS': '10.0.0.1:8476',
                            'JAX_NUM_PROCESSES': '4', 'JAX_PROCESS_ID': '3'}


def test_dry_run_prints_environment_and_quoted_command(tmp_path):
  proc, started = _run(tmp_path, '--dry-run', '--coordinator=h:1', '--num_processes=2',
                       '--process_id=0', 'configs/x.py', '/w', '--config.name=a b (c)')
  assert started is None
  assert proc.stdout.splitlines() == [
      'JAX_COORDINATOR_ADDRESS=h:1', 'JAX_NUM_PROCESSES=2', 'JAX_PROCESS_ID=0',
      r'python -m d3d_jax.main --config=configs/x.py --workdir=/w --config.name=a\ b\ \(c\) ']


def test_a_partial_multi_host_setting_is_an_error(tmp_path):
  proc, started = _run(tmp_path, 'configs/x.py', '/w', env={'JAX_NUM_PROCESSES': '2'})
  assert started is None and proc.returncode == 2
  assert 'multi-host needs all of --coordinator, --num_processes and --process_id' in (
      proc.stderr)


def test_under_slurm_the_jax_variables_are_not_required(tmp_path):
  proc, started = _run(tmp_path, 'configs/x.py', '/w',
                       env={'SLURM_NTASKS': '8', 'JAX_COORDINATOR_ADDRESS': 'n1:1'})
  assert proc.returncode == 0, proc.stderr
  assert started['argv'][:2] == ['-m', 'd3d_jax.main']


def test_process_id_must_be_below_the_number_of_processes(tmp_path):
  proc, _ = _run(tmp_path, '--coordinator=h:1', '--num_processes=2', '--process_id=2',
                 'configs/x.py', '/w')
  assert proc.returncode == 2
  assert '--process_id=2 must be below --num_processes=2' in proc.stderr
