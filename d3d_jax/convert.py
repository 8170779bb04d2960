r"""Convert a published checkpoint into our orbax format.

    python -m d3d_jax.convert --from=FORMAT --input=PATH --output=DIR \
        [--num_classes=N] [--model=NAME] [--model_option=key=value ...] \
        [--scope=PREFIX] [--exclude=REGEX ...] [--overwrite]

FORMAT is one of `d3d_jax.weights.FORMATS`: 'deepmind_i3d' (kinetics-i3d TF
checkpoints), 'slim_s3dg' (TF-slim S3D-G / D3D), 'slim_inception_v1' (TF-slim's
ImageNet Inception-v1, inflated to 3-D), 'torchvision_s3d', 'pytorch_i3d'
(state dicts as .pt with torch installed, or .npz / .safetensors), 'd3d_jax'.
The network is `build_model(--model or the format's reference network)`, with the
options the reference needs (e.g. BN scale and symmetric padding for torchvision) and
those read off the file (input channels, conv1's temporal size, classes), then any
``--model_option``. ``--num_classes`` different from the file's re-initialises the Logits
layer (seeded by ``--seed``). The file must fill the network exactly (see
`d3d_jax.weights.import_plan`). DIR is written with
`d3d_jax.export.save_model_variables`, with the `build_model` call in its metadata;
train from it with ``config.model.init_from.path=DIR`` (format 'd3d_jax').
"""

import ast
import os
import sys
from typing import Any, Optional, Sequence

from absl import app, flags, logging
import flax.linen as nn
import jax
import jax.numpy as jnp

from d3d_jax.export import load_metadata, save_model_variables
from d3d_jax.models import build_model
from d3d_jax.weights import FORMATS, get_format, import_tensors, infer_model_options
from d3d_jax.weights.import_plan import compile_patterns, flatten
from d3d_jax.weights.transfer import replace
from data_pipelines import paths

FLAGS = flags.FLAGS
flags.DEFINE_enum("from", None, sorted(FORMATS), "Format of --input.")
flags.DEFINE_string("input", None, "Checkpoint to convert (TF prefix, .pt, .npz, .safetensors, "
                    "orbax directory).")
flags.DEFINE_string("output", None, "Orbax directory to write.")
flags.DEFINE_integer("num_classes", None, "Classes of the converted network; default: the "
                     "file's. Another number re-initialises the Logits layer.")
flags.DEFINE_string("model", None, "build_model name; default: the format's reference network.")
flags.DEFINE_multi_string("model_option", [], "build_model option key=value (a Python "
                          "literal or a bare string), e.g. --model_option=bn_scale=True.")
flags.DEFINE_string("scope", None, "Which network of a file holding several, e.g. "
                    "'Flow/inception_i3d/'.")
flags.DEFINE_multi_string("exclude", [], "Regex of variable paths to leave at their "
                          "initial values (e.g. '^Logits/').")
flags.DEFINE_integer("seed", 0, "Seed of the initial values of excluded variables.")
flags.DEFINE_bool("overwrite", False, "Replace --output if it exists.")

# Any input size builds the same variables; a small one keeps initialisation cheap.
_INIT_CLIP = (1, 8, 32, 32)


def parse_model_options(items: Sequence[str]) -> dict[str, Any]:
  """['bn_scale=True', 'padding=symmetric'] -> {'bn_scale': True, 'padding': 'symmetric'}."""
  options = {}
  for item in items:
    key, sep, value = item.partition("=")
    if not sep or not key:
      raise ValueError(f"--model_option must be key=value, got {item!r}")
    try:
      options[key.strip()] = ast.literal_eval(value)
    except (ValueError, SyntaxError):
      options[key.strip()] = value
  return options


def _variables_to_fill(model, input_channels: int, seed: int, exclude: Sequence[str]):
  """(params, batch_stats): shapes, with initial values only where `exclude` matches.

  Only excluded variables keep initial values, so only they are initialised: the jitted
  init returns just them and XLA drops every other initializer (compiling a whole
  network's random initializers takes far longer than converting it).
  """
  clip = jnp.zeros(_INIT_CLIP + (input_channels,), jnp.float32)
  init = lambda: model.init(jax.random.PRNGKey(seed), clip)
  variables = jax.eval_shape(init)
  trees = {c: variables.get(c, {}) for c in ("params", "batch_stats")}
  patterns = compile_patterns(exclude)
  wanted = [(c, path) for c, tree in trees.items() for path in flatten(tree)
            if any(p.search(path) for p in patterns)]
  if wanted:
    def init_wanted():
      flat = {c: flatten(nn.meta.unbox(tree)) for c, tree in init().items()}
      return {f"{c}/{path}": flat[c][path] for c, path in wanted}
    values = jax.jit(init_wanted)()
    for c in trees:
      trees[c] = replace(trees[c], {
          path: values[f"{c}/{path}"] for cc, path in wanted if cc == c})
  return trees["params"], trees["batch_stats"]


def convert(format_name: str, input_path: str, output_dir: str, *,
            num_classes: Optional[int] = None, model_name: Optional[str] = None,
            model_options: Optional[dict[str, Any]] = None, scope: Optional[str] = None,
            exclude: Sequence[str] = (), seed: int = 0, overwrite: bool = False):
  """Converts `input_path` and writes `output_dir`; returns (metadata, ImportReport)."""
  fmt = get_format(format_name)
  tensor_file = fmt.open(input_path)
  if fmt.name == "d3d_jax":
    stored = load_metadata(input_path)
    model_name = model_name or stored.get("model")
    options = dict(stored.get("model_options", {}))
    file_classes = stored.get("num_classes")
  else:
    inferred = infer_model_options(fmt, tensor_file, scope)
    file_classes = inferred.pop("num_classes", None)
    options = {**fmt.model_defaults, **inferred}
    model_name = model_name or fmt.default_model
  if not model_name:
    raise ValueError(f"{input_path}: the checkpoint does not name its model; pass --model")
  options.update(model_options or {})
  num_classes = num_classes or file_classes
  if not num_classes:
    raise ValueError(f"{input_path}: no logits layer to read the classes from; pass --num_classes")
  exclude = list(exclude)
  if file_classes and num_classes != file_classes:
    logging.info("%s has %d classes, converting to %d: Logits/ is re-initialised",
                 input_path, file_classes, num_classes)
    exclude.append("^Logits/")

  model = build_model(model_name, num_classes, **options)
  params, batch_stats = _variables_to_fill(model, options.get("input_channels", 3), seed,
                                           exclude)
  params, batch_stats, report = import_tensors(fmt, tensor_file, params, batch_stats,
                                               exclude=exclude, scope=scope)
  metadata = {
      "model": model_name,
      "num_classes": num_classes,
      "model_options": options,
      "source": {"format": fmt.name, "path": os.fspath(paths.resolve(input_path)),
                 "scope": report.scope},
      "excluded": list(report.excluded),
  }
  save_model_variables(output_dir, params, batch_stats, metadata, overwrite=overwrite)
  return metadata, report


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  try:
    metadata, report = convert(
        FLAGS["from"].value, FLAGS.input, FLAGS.output, num_classes=FLAGS.num_classes,
        model_name=FLAGS.model, model_options=parse_model_options(FLAGS.model_option),
        scope=FLAGS.scope, exclude=FLAGS.exclude, seed=FLAGS.seed, overwrite=FLAGS.overwrite)
  except (ValueError, OSError, ImportError) as e:  # bad input: the message names it
    print(f"d3d_jax.convert: {e}", file=sys.stderr)
    sys.exit(1)
  print(report.summary())
  output = paths.resolve(FLAGS.output)  # gs:// stays a URL; local is made absolute
  print(f"Wrote {output}: build_model({metadata['model']!r}, "
        f"num_classes={metadata['num_classes']}, **{metadata['model_options']!r})")
  print(f"Train from it with --config.model.init_from.path={output} (format 'd3d_jax').")


if __name__ == "__main__":
  from data_pipelines import tf_setup  # pylint: disable=g-import-not-at-top
  tf_setup.quiet_tensorflow_logs()
  flags.mark_flags_as_required(["from", "input", "output"])
  app.run(main)
