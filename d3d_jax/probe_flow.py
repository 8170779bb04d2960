r"""Optical-flow probing sweep: EPE per layer of finished runs (D3D Sec. 3.2, Figures 4-6).

  python -m d3d_jax.probe_flow \
      --workdirs=rgb:/tmp/d3d_jax/demo/rgb_baseline_seed0,d3d:/tmp/d3d_jax/demo/d3d_paper_seed0 \
      --layers=all --decoder=pwc --settings=frozen,ft --output_dir=/tmp/probe \
      [--config=configs/synthetic_flow_probe.py --config.input.data_dir=...]

For each model (``name:workdir``; the network and its weights come from the workdir's
export) and each setting it trains flow decoders (`d3d_jax.objectives.flow_prediction`)
with the recipe of ``--config`` and measures their EPE on the eval split
(`d3d_jax.evaluators.flow_epe`):

* ``frozen``: the network is frozen (bit-identical, BatchNorm in inference mode); the
  decoders of all ``--layers`` train together in one run, each on its own layer;
* ``ft``: one run per layer of ``--ft_layers`` (default: ``--layers``), decoder and
  network fine-tuned end-to-end.

Outputs in ``--output_dir``: one run folder per (model, setting[, layer]) (resumable:
a finished run is only re-evaluated), ``flow_epe.json`` (one entry per (model, layer):
EPE per setting and the all-zeros bracket, over all cells and over moving cells), ``epe_per_layer.png`` (Figure 4: EPE vs
layer, one line per model and setting) and ``flow_strip.png`` (Figures 5-6: RGB frames,
TV-L1 and each model's frozen-probe prediction at ``--strip_layer``, hue = angle,
saturation = magnitude). Table 1's "flow-stream features" bracket is a probe of a flow
network: add ``flow:TEACHER_WORKDIR`` to ``--workdirs``.
"""

import json
import time
from typing import Mapping, Optional, Sequence

from absl import app, flags, logging
import jax
import ml_collections
from ml_collections import config_flags
import numpy as np

from d3d_jax import compilation_cache
from d3d_jax import host_memory
from data_pipelines import atomic_file, paths

# The command's flags, defined when it runs as a program (`_define_flags`), so that
# importing this module beside another CLI (d3d_jax.main has --config too) is safe.
_FLAGS = {}


def _define_flags() -> dict:
  return dict(
      config=config_flags.DEFINE_config_file(
          "config", "configs/synthetic_flow_probe.py",
          "Probe training recipe (configs/*.py).", lock_config=False),
      workdirs=flags.DEFINE_list("workdirs", None, "name:workdir pairs of finished runs."),
      layers=flags.DEFINE_list("layers", ["all"], "Endpoints to probe, or 'all'."),
      ft_layers=flags.DEFINE_list("ft_layers", None, "Endpoints of the ft runs (default: "
                                  "--layers)."),
      decoder=flags.DEFINE_enum("decoder", "pwc", ["simple", "spatial", "pwc"], "Decoder."),
      settings=flags.DEFINE_list("settings", ["frozen", "ft"], "frozen and / or ft."),
      output_dir=flags.DEFINE_string("output_dir", None,
                                     "Where the runs, JSON and PNGs go."),
      strip_layer=flags.DEFINE_string("strip_layer", None, "Layer of the strip picture "
                                      "(default: 3A when probed, else the first layer)."),
  )


SETTINGS = ("frozen", "ft")
EXAMPLE_CLIPS = 2


def parse_workdirs(pairs: Sequence[str]) -> dict[str, str]:
  """['rgb:DIR', 'd3d:DIR'] -> {'rgb': 'DIR', 'd3d': 'DIR'} (order kept)."""
  workdirs = {}
  for pair in pairs or ():
    name, sep, workdir = pair.partition(":")
    if not sep or not name or not workdir or name in workdirs:
      raise ValueError(f"--workdirs: {pair!r} is not a new name:workdir pair "
                       f"(e.g. rgb:/tmp/demo/rgb_baseline_seed0)")
    workdirs[name] = workdir
  if not workdirs:
    raise ValueError("--workdirs: give at least one name:workdir pair")
  return workdirs


def short_name(layer: str) -> str:
  """The paper's layer label: 'Conv3d_1a_7x7' -> '1a', 'Mixed_3b' -> '3b'."""
  return layer.split("_")[1][:2]


def model_layers(workdir: str) -> tuple[str, ...]:
  """The backbone endpoints of a workdir's exported network, up to its final one."""
  from d3d_jax.models.s3dg import BACKBONE_ENDPOINTS  # pylint: disable=g-import-not-at-top
  final = _export_call(workdir)["model_options"].get("final_endpoint", "Mixed_5c")
  return BACKBONE_ENDPOINTS[:BACKBONE_ENDPOINTS.index(final) + 1]


def _export_dir(workdir: str) -> str:
  export = paths.resolve(workdir) / "export"
  if not export.is_dir():
    raise FileNotFoundError(f"--workdirs: {workdir} has no export/ (a finished run of "
                            f"d3d_jax.main writes one)")
  return str(export)


def _export_call(workdir: str) -> dict:
  from d3d_jax.export import load_metadata  # pylint: disable=g-import-not-at-top
  call = load_metadata(_export_dir(workdir))
  if "model" not in call:
    raise ValueError(f"{_export_dir(workdir)}: the export's metadata has no build call")
  return call


def probe_config(base, workdir: str, layers: Sequence[str], decoder: str,
                 setting: str) -> ml_collections.ConfigDict:
  """`base` with the network of `workdir`'s export (from its weights), decoders at
  `layers`, and the backbone frozen for the 'frozen' setting."""
  from d3d_jax.objectives.flow_prediction import frozen_backbone_group  # pylint: disable=g-import-not-at-top
  if setting not in SETTINGS:
    raise ValueError(f"--settings: {setting!r} is not one of {SETTINGS}")
  call = _export_call(workdir)
  config = ml_collections.ConfigDict(base.to_dict())
  config.model.name = call["model"]
  config.model.modality = call["modality"]
  config.model.options = ml_collections.ConfigDict(
      {k: v for k, v in call["model_options"].items() if k != "input_channels"})
  config.model.init_from.path = _export_dir(workdir)
  config.model.init_from.format = "d3d_jax"
  config.objective.endpoints = tuple(layers)
  config.objective.decoder = decoder
  if setting == "frozen":
    config.optimizer.groups.backbone = frozen_backbone_group()
  config.evals.flow_epe.examples = EXAMPLE_CLIPS if setting == "frozen" else 0
  config.eval_every_steps = 0
  return config


def train_and_measure(config, workdir: str):
  """Trains (or resumes / reuses) one probe run; (metrics, its flow_epe evaluator)."""
  from clu import metric_writers  # pylint: disable=g-import-not-at-top
  from d3d_jax import evaluation, trainer  # pylint: disable=g-import-not-at-top
  state = trainer.train(config, workdir)
  exp = trainer.build_experiment(config, workdir)
  member = evaluation.EnsembleMember(
      exp.student, {"params": state.params["student"],
                    "batch_stats": state.batch_stats["student"]}, config.model.modality)
  extras = {name: (module, state.params["extra"][name])
            for name, module in exp.objective.extra_modules().items()}
  writer = metric_writers.create_default_writer(workdir, asynchronous=False)
  metrics, evaluators = evaluation.evaluate_networks(
      config, [member], None, exp.mesh, step=config.total_steps, workdir=workdir,
      writer=writer, extra_modules=extras)
  writer.write_scalars(config.total_steps, {f"eval/{k}": v for k, v in metrics.items()})
  writer.flush()
  evaluation.write_metrics(workdir, config.total_steps, metrics)  # for d3d_jax.tables
  return metrics, evaluators["flow_epe"]


def _record(entry: dict, setting: str, metrics: Mapping[str, float]) -> None:
  """Puts a probe run's EPEs at `entry`'s layer into `entry` (all cells and moving
  cells, `d3d_jax.evaluators.flow_epe`; the all-zeros brackets)."""
  layer = entry["layer"]
  entry["epe"][setting] = metrics[f"flow_epe/{layer}"]
  entry["epe_zeros"] = metrics[f"flow_epe_zeros/{layer}"]
  entry["epe_moving"][setting] = metrics[f"flow_epe_moving/{layer}"]
  entry["epe_moving_zeros"] = metrics[f"flow_epe_moving_zeros/{layer}"]


def run_sweep(base, workdirs: Mapping[str, str], layers: Sequence[str], decoder: str,
              settings: Sequence[str], output_dir: str,
              ft_layers: Optional[Sequence[str]] = None,
              strip_layer: Optional[str] = None) -> dict:
  """Trains and measures every probe; writes flow_epe.json and the two PNGs; returns
  the JSON's content."""
  start = time.time()
  root = paths.resolve(output_dir)
  root.mkdir(parents=True, exist_ok=True)
  entries, examples, frames = {}, {}, None
  for name, workdir in workdirs.items():
    available = model_layers(workdir)
    probed = available if list(layers) == ["all"] else tuple(layers)
    missing = [layer for layer in probed if layer not in available]
    if missing:
      raise ValueError(f"--layers {missing} are not endpoints of {name}'s network "
                       f"({workdir}); it has {available}")
    for layer in probed:
      entries[(name, layer)] = {"model": name, "layer": layer, "epe": {}, "epe_moving": {}}
    if "frozen" in settings:
      config = probe_config(base, workdir, probed, decoder, "frozen")
      metrics, evaluator = train_and_measure(config, str(root / name / "frozen"))
      for layer in probed:
        _record(entries[(name, layer)], "frozen", metrics)
      examples[name] = evaluator.examples_by_endpoint
      if evaluator.example_frames:
        frames = evaluator.example_frames
    if "ft" in settings:
      for layer in (probed if ft_layers is None else ft_layers):
        if layer not in probed:
          raise ValueError(f"--ft_layers: {layer!r} is not among the probed layers {probed}")
        config = probe_config(base, workdir, (layer,), decoder, "ft")
        metrics, _ = train_and_measure(config, str(root / name / f"ft_{layer}"))
        _record(entries[(name, layer)], "ft", metrics)
  result = {"decoder": decoder, "settings": list(settings),
            "steps": int(base.total_steps), "workdirs": dict(workdirs),
            "entries": list(entries.values()), "wall_seconds": time.time() - start}
  if jax.process_index() == 0:
    atomic_file.write_json(str(root / "flow_epe.json"), result)
    plot_epe_per_layer(result, str(root / "epe_per_layer.png"))
    if examples and frames is not None:
      common = [l for l in next(iter(examples.values())) if all(l in e for e in
                                                                  examples.values())]
      chosen = strip_layer or ("MaxPool3d_3a_3x3" if "MaxPool3d_3a_3x3" in common
                               else common[0])
      plot_flow_strip(frames[0], {n: e[chosen][0] for n, e in examples.items()},
                      chosen, str(root / "flow_strip.png"))
  return result


def mean_over_seeds(results: Sequence[Mapping]) -> dict:
  """Sweeps of several seeds (same models, layers, settings) as one result whose EPEs
  are per-seed lists (`epe_table` prints their mean +- std)."""
  merged = json.loads(json.dumps(results[0]))
  for entry in merged["entries"]:
    same = [next(e for e in r["entries"] if (e["model"], e["layer"]) ==
                 (entry["model"], entry["layer"])) for r in results]
    for key in ("epe", "epe_moving"):
      entry[key] = {s: [e[key][s] for e in same] for s in entry.get(key, {})}
      entry[f"{key}_zeros"] = [e.get(f"{key}_zeros") for e in same]
  return merged


def _cell(value) -> str:
  if value is None:
    return "-"
  if isinstance(value, (list, tuple)):
    return f"{np.mean(value):.3f} +- {np.std(value):.3f}"
  return f"{value:.3f}"


def epe_table(result: Mapping, key: str = "epe") -> str:
  """A markdown table: one row per layer, a column per (model, setting), and zeros.
  `key`: 'epe' (all cells, the paper's) or 'epe_moving' (cells moving > 0.5 px)."""
  models = list(dict.fromkeys(e["model"] for e in result["entries"]))
  layers = list(dict.fromkeys(e["layer"] for e in result["entries"]))
  by_key = {(e["model"], e["layer"]): e for e in result["entries"]}
  columns = [(m, s) for s in result["settings"] for m in models]
  lines = ["| layer | " + " | ".join(f"{m} {s}" for m, s in columns) + " | all zeros |",
           "|---" * (len(columns) + 2) + "|"]
  for layer in layers:
    cells = []
    for m, s in columns:
      cells.append(_cell(by_key.get((m, layer), {}).get(key, {}).get(s)))
    zeros = next((by_key[(m, layer)][f"{key}_zeros"] for m in models
                  if f"{key}_zeros" in by_key.get((m, layer), {})), None)
    lines.append(f"| {short_name(layer)} ({layer}) | " + " | ".join(cells)
                 + f" | {_cell(zeros)} |")
  return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# Pictures.


def plot_epe_per_layer(result: Mapping, path: str) -> None:
  """Figure 4: EPE (input pixels) vs layer; solid = frozen, dashed = ft."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  layers = list(dict.fromkeys(e["layer"] for e in result["entries"]))
  models = list(dict.fromkeys(e["model"] for e in result["entries"]))
  by_key = {(e["model"], e["layer"]): e for e in result["entries"]}
  fig, ax = plt.subplots(figsize=(7, 4))
  x = np.arange(len(layers))
  for i, model in enumerate(models):
    colour = f"C{i}"
    for setting, style in (("frozen", "-o"), ("ft", "--s")):
      values = [by_key.get((model, l), {}).get("epe", {}).get(setting, np.nan)
                for l in layers]
      if not np.all(np.isnan(values)):
        ax.plot(x, values, style, color=colour, label=f"{model}" +
                (" (ft)" if setting == "ft" else ""))
  zeros = [next((by_key[(m, l)]["epe_zeros"] for m in models
                 if "epe_zeros" in by_key.get((m, l), {})), np.nan) for l in layers]
  ax.plot(x, zeros, ":", color="gray", label="all zeros")
  ax.set_xticks(x, [short_name(l) for l in layers])
  ax.set_xlabel("layer the decoder reads")
  ax.set_ylabel("EPE (input pixels / frame)")
  ax.set_title(f"Optical flow from hidden layers ({result['decoder']} decoder)")
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8)
  fig.tight_layout()
  _save(fig, path)


def flow_to_colour(displacement: np.ndarray, max_magnitude: float) -> np.ndarray:
  """[..., 2] (x, y) -> [..., 3] RGB in [0, 1]: hue = angle, saturation = magnitude /
  `max_magnitude` (clipped), value 1 (white = no motion)."""
  from matplotlib import colors  # pylint: disable=g-import-not-at-top
  x, y = displacement[..., 0], displacement[..., 1]
  hue = (np.arctan2(y, x) / (2 * np.pi)) % 1.0
  saturation = np.clip(np.hypot(x, y) / max(max_magnitude, 1e-6), 0, 1)
  return colors.hsv_to_rgb(np.stack([hue, saturation, np.ones_like(hue)], axis=-1))


def plot_flow_strip(rgb: np.ndarray, per_model: Mapping[str, tuple], layer: str,
                    path: str, max_columns: int = 8) -> None:
  """Figures 5-6: row 1 the RGB frames, row 2 TV-L1 at the decoder's resolution, then
  each model's predicted flow; one column per decoder time step (at most `max_columns`).

  `per_model` maps a model to (TV-L1 target, prediction), each [T', H', W', 2] in
  input pixels (the same clip for every model).
  """
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  target = next(iter(per_model.values()))[0]
  steps = min(target.shape[0], max_columns)
  frame_stride = rgb.shape[0] // target.shape[0]
  max_magnitude = max(float(np.hypot(*np.moveaxis(f, -1, 0)).max())
                      for pair in per_model.values() for f in pair)
  rows = [("RGB", [(rgb[t * frame_stride] + 1) / 2 for t in range(steps)]),
          ("TV-L1", [flow_to_colour(target[t], max_magnitude) for t in range(steps)])]
  rows += [(f"{name}", [flow_to_colour(pair[1][t], max_magnitude) for t in range(steps)])
           for name, pair in per_model.items()]
  fig, axes = plt.subplots(len(rows), steps, figsize=(1.3 * steps, 1.4 * len(rows)),
                           squeeze=False)
  for r, (label, images) in enumerate(rows):
    for t, image in enumerate(images):
      ax = axes[r, t]
      ax.imshow(np.clip(image, 0, 1), interpolation="nearest")
      ax.set_xticks([])
      ax.set_yticks([])
      if t == 0:
        ax.set_ylabel(label, fontsize=8)
      if r == 0:
        ax.set_title(f"t={t * frame_stride}", fontsize=7)
  fig.suptitle(f"Predicted flow at {short_name(layer)} ({layer}); hue = direction, "
               f"saturation = magnitude (max {max_magnitude:.2f} px)", fontsize=8)
  fig.tight_layout()
  _save(fig, path)


def _save(fig, path: str) -> None:
  import io  # pylint: disable=g-import-not-at-top
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  buffer = io.BytesIO()
  fig.savefig(buffer, format="png", dpi=110)
  plt.close(fig)
  paths.resolve(path).write_bytes(buffer.getvalue())


def main(argv) -> None:
  del argv
  logging.info(host_memory.keep_freed_memory())  # Before TensorFlow or JAX start threads.
  from data_pipelines import tf_setup  # pylint: disable=g-import-not-at-top
  tf_setup.hide_accelerators()
  compilation_cache.enable_persistent_cache()
  values = {name: holder.value for name, holder in _FLAGS.items()}
  if not values["output_dir"]:
    raise app.UsageError("--output_dir is required")
  unknown = set(values["settings"]) - set(SETTINGS)
  if unknown:
    raise app.UsageError(f"--settings: unknown {sorted(unknown)}; known: {SETTINGS}")
  result = run_sweep(values["config"], parse_workdirs(values["workdirs"]), values["layers"],
                     values["decoder"], values["settings"], values["output_dir"],
                     values["ft_layers"], values["strip_layer"])
  print(epe_table(result))
  print("EPE over moving cells (TV-L1 > 0.5 px):")
  print(epe_table(result, "epe_moving"))
  print(f"wall time {result['wall_seconds']:.0f} s; {values['output_dir']}/flow_epe.json, "
        f"epe_per_layer.png, flow_strip.png")


if __name__ == "__main__":
  from data_pipelines import tf_setup  # pylint: disable=g-import-not-at-top
  tf_setup.quiet_tensorflow_logs()
  _FLAGS.update(_define_flags())
  app.run(main)
