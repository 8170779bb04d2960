r"""Pictures of a trained attention network's maps over its input frames (Liu Fig. 2).

  python -m d3d_jax.visualize_attention --config=configs/synthetic_prob_distill.py \
      --workdir=/tmp/d3d_jax/demo/prob_distill_seed0 [--num_clips=8] \
      [--config.teacher.checkpoint=/tmp/d3d_jax/demo/attention_flow_teacher]

Reads the run's export and the first views of its eval split, and writes one PNG per
view to ``<workdir>/eval/attention/step<total_steps>_clip<i>.png`` (and the same
pictures to TensorBoard): the frames, then each attention map of the network (and the
teacher's map, when the config's ``evals.attention_maps.teacher_map`` names one)
blended over them, one column per time slice of the map. The pictures are those of the
``attention_maps`` evaluator (`d3d_jax.evaluators.attention_maps`), which draws them
during training too.
"""

from absl import app, flags
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "The run's experiment config (configs/*.py).", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "The run's workdir (its export is read).")
_NUM_CLIPS = flags.DEFINE_integer("num_clips", 4, "How many eval views to draw.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv) -> None:
  del argv
  from data_pipelines import tf_setup  # pylint: disable=g-import-not-at-top
  tf_setup.hide_accelerators()
  import ml_collections  # pylint: disable=g-import-not-at-top
  from d3d_jax import evaluation  # pylint: disable=g-import-not-at-top
  from d3d_jax.evaluators import evaluator_config  # pylint: disable=g-import-not-at-top
  config = _CONFIG.value
  section = (ml_collections.ConfigDict(config.evals.attention_maps.to_dict())
             if "attention_maps" in config.evals else evaluator_config("attention_maps"))
  section.num_clips = _NUM_CLIPS.value
  batches = -(-_NUM_CLIPS.value // config.input.eval_batch_size)
  written = evaluation.draw_attention(config, _WORKDIR.value, section, max_batches=batches)
  print("\n".join(written))


if __name__ == "__main__":
  from data_pipelines import tf_setup  # pylint: disable=g-import-not-at-top
  tf_setup.quiet_tensorflow_logs()
  app.run(main)
