"""A stand-in for `gcloud compute tpus ...` that records its calls and simulates a slice.

The launcher tests put an executable named `gcloud` on PATH that runs this file. Each call
appends its argv (without the program name) as one JSON line to $FAKE_GCLOUD_CALLS. The
world it simulates lives in the JSON file $FAKE_GCLOUD_WORLD:

  nodes:        TPU VM name -> state (READY, PREEMPTED, ...); a missing name is NOT_FOUND
  queued:       queued-resource name -> state (ACTIVE, SUSPENDED, ...)
  run_outcomes: what each training run (an ssh whose command runs d3d_jax.main) does, in
                order: 'ok' (exit 0), 'fail' (exit 1) or 'preempt' (the slice is preempted
                mid-run: node PREEMPTED, queued resource SUSPENDED, ssh exits 255)

Every ssh --command is executed with bash, with HOME=$FAKE_GCLOUD_WORKER_HOME (one
simulated worker), and scp copies into that home, so the test sees exactly what a worker's
shell would do. Creating or deleting the slice empties the home: a new slice is a fresh VM.
"""

import json
import os
import shutil
import subprocess
import sys


def main(argv):
  with open(os.environ['FAKE_GCLOUD_CALLS'], 'a') as f:
    f.write(json.dumps(argv) + '\n')
  world_path = os.environ['FAKE_GCLOUD_WORLD']
  with open(world_path) as f:
    world = json.load(f)
  group, verb = argv[2], argv[3]  # compute tpus GROUP VERB ...
  positional = [a for a in argv[4:] if not a.startswith('-')]
  name = positional[0].split(':')[0] if verb != 'scp' else positional[1].split(':')[0]
  options = dict(a[2:].split('=', 1) for a in argv if a.startswith('--') and '=' in a)
  table = world['queued'] if group == 'queued-resources' else world['nodes']
  home = os.environ['FAKE_GCLOUD_WORKER_HOME']
  code = 0
  if verb == 'describe':
    if name not in table:
      print(f"ERROR: (gcloud.compute.tpus.{group}.describe) NOT_FOUND: Resource "
            f"'{name}' was not found", file=sys.stderr)
      code = 1
    else:
      print(table[name])
  elif verb == 'create':
    if name in table:
      print(f'ERROR: ALREADY_EXISTS: {name}', file=sys.stderr)
      code = 1
    elif group == 'queued-resources':
      world['queued'][name] = 'ACTIVE'
      world['nodes'][options['node-id']] = 'READY'
    else:
      world['nodes'][name] = 'READY'
    if not code:
      _fresh_home(home)
  elif verb == 'delete':
    table.pop(name, None)
    if group == 'queued-resources':
      world['nodes'].pop(name, None)
    _fresh_home(home)
  elif verb == 'scp':
    source, destination = positional[0], positional[1].split(':', 1)[1]
    shutil.copy(source, os.path.join(home, destination))
  elif verb == 'ssh':
    env = dict(os.environ, HOME=home)
    code = subprocess.run(['bash', '-c', options['command']], env=env,
                          check=False).returncode
  if verb == 'ssh' and 'd3d_jax.main' in options.get('command', ''):
    outcome = world['run_outcomes'].pop(0)
    if outcome == 'preempt':
      world['nodes'][name] = 'PREEMPTED'
      if name in world['queued']:
        world['queued'][name] = 'SUSPENDED'
      code = 255
    elif outcome == 'fail':
      code = 1
  with open(world_path, 'w') as f:
    json.dump(world, f)
  return code


def _fresh_home(home):
  shutil.rmtree(home, ignore_errors=True)
  os.makedirs(home)


if __name__ == '__main__':
  sys.exit(main(sys.argv[1:]))
