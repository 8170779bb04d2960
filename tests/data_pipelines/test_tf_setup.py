"""The CLI's stderr filter drops TensorFlow's C++ start-up noise and nothing else."""

import os
import subprocess
import sys

from data_pipelines import tf_setup

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_NOISE_LINES = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1796206739.582097    9020 port.cc:153] oneDNN custom operations are on.",
    "I0000 00:00:1796206739.582390    9020 cudart_stub.cc:31] Could not find cuda drivers "
    "on your machine, GPU will not be used.",
    "E0000 00:00:1796206741.998633    9020 cuda_platform.cc:52] failed call to cuInit: "
    "INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)",
    "To enable the following instructions: AVX2 FMA, in other operations, rebuild "
    "TensorFlow with the appropriate compiler flags.",
    'W0000 00:00:1796206886.598458    9745 op_level_cost_estimator.cc:699] Error in '
    'PredictCost() for the op: op: "CropAndResize" attr { key: "T" }',
]
_KEPT_LINES = [
    "/tmp/x.py:6: UserWarning: a python warning stays",
    "I1202 10:11:12.123456 140 trainer.py:88] Resumed from /w/checkpoints step 6",
    "W0000 00:00:1796206886.598458    9745 some_other_file.cc:12] a real warning",
    "Traceback (most recent call last):",
]


def test_the_known_tensorflow_lines_are_noise():
  assert all(tf_setup.is_tensorflow_noise(line) for line in _NOISE_LINES)


def test_python_warnings_logs_and_other_cpp_lines_are_kept():
  assert not any(tf_setup.is_tensorflow_noise(line) for line in _KEPT_LINES)


def test_a_cli_process_prints_no_tensorflow_noise_but_keeps_python_warnings(tmp_path):
  script = tmp_path / "cli.py"
  script.write_text(
      "import sys, warnings\n"
      "from data_pipelines import tf_setup\n"
      "tf_setup.quiet_tensorflow_logs()\n"
      "import tensorflow as tf\n"
      "tf_setup.hide_accelerators()\n"
      "images = tf.zeros([1, 8, 8, 3], tf.uint8)\n"
      "ds = tf.data.Dataset.range(4).map(lambda i: tf.image.crop_and_resize(\n"
      "    images, [[0., 0., 1., 1.]], [0], [4, 4]))\n"
      "for _ in ds: pass\n"
      "warnings.warn('a python warning stays')\n"
      "print('to stderr', file=sys.stderr)\n")
  env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL",
                                                          "D3D_JAX_TF_LOGS")}
  def run(**extra_env):
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          env=dict(env, PYTHONPATH=REPO, **extra_env), timeout=120,
                          check=True)
  unfiltered = run(D3D_JAX_TF_LOGS="1")
  assert [line for line in unfiltered.stderr.splitlines()
          if tf_setup.is_tensorflow_noise(line)], "TensorFlow printed no noise to filter"
  result = run()
  assert "a python warning stays" in result.stderr
  assert "to stderr" in result.stderr
  assert not [line for line in result.stderr.splitlines()
              if tf_setup.is_tensorflow_noise(line)]
  assert "absl::InitializeLog" not in result.stderr
