r"""The embedded demo: flow teacher -> RGB student distillation on synthetic motion videos.

  python -m d3d_jax.demo [--workdir=/tmp/d3d_jax/demo] [--seeds=0,1,2]
                         [--methods=d3d,attention,gkd,probe,w3]

(a) makes the synthetic motion dataset if it is absent (real TFRecords with TV-L1 flow,
data_pipelines/synthetic.py); (b) trains the flow teacher; (c) the RGB baseline and
(d) the D3D student (the same RGB network and schedule plus D3D's logit distillation,
Eq. 1-2); (e) evaluates them and prints a table: flow teacher, RGB baseline, D3D and
the D3D + RGB ensemble, with accuracy and whether flow is needed at inference. With
several seeds the RGB rows are trained once per seed and reported as mean +- std, plus
the per-seed gain of D3D over the baseline. ``--methods=d3d,attention`` adds attention
distillation (Liu et al., BMVC 2020): a flow Prob-Atten teacher, an RGB Prob-Atten
baseline and the Prob-Distill student, with Prob-Distill's per-seed gain. ``gkd`` adds
generative KD's RGB -> RGB compression rows (Wang et al., AAAI 2024), ``probe`` the
optical-flow probes' EPE per layer of the RGB baseline and D3D (D3D Sec. 3), ``w3``
the W3 attention rows (Perez-Rua et al., ECCV 2020).

Each stage is an ordinary run of `d3d_jax.main` with a config from configs/ (the
commands are printed), so re-running the demo resumes or reuses finished stages.
"""

import json
import time

from absl import app, flags, logging
import numpy as np

from d3d_jax import compilation_cache
from d3d_jax import host_memory
from data_pipelines import paths

_WORKDIR = flags.DEFINE_string("workdir", "/tmp/d3d_jax/demo", "Where the runs go.")
_DATA_DIR = flags.DEFINE_string("data_dir", None,
                                "Synthetic dataset folder (default: the configs' data_dir).")
_SEEDS = flags.DEFINE_list("seeds", ["0"], "Seeds of the RGB baseline and D3D runs.")
_STEPS = flags.DEFINE_integer("steps", None, "Override total_steps of every run.")
# D3D variants: name -> (config, table row). 'paper' is Eq. 1-2 as published (raw
# logits, per-class mean, lambda 1); 'standardized' z-scores the logits per clip first.
D3D_VARIANTS = {
    "paper": ("synthetic_d3d", "D3D (paper Eq. 2, mean)"),
    "standardized": ("synthetic_d3d_standardized", "D3D standardised logits"),
}
_D3D = flags.DEFINE_list("d3d", ["paper"], f"D3D variants to train, of {sorted(D3D_VARIANTS)}.")
METHODS = ("d3d", "attention", "gkd", "probe", "w3")
_METHODS = flags.DEFINE_list("methods", ["d3d"], f"Methods to run, of {METHODS}.")


def _make_dataset(data_dir: str) -> None:
  from configs.synthetic_common import DATASET  # pylint: disable=g-import-not-at-top
  from data_pipelines import synthetic  # pylint: disable=g-import-not-at-top
  manifest_path = paths.resolve(data_dir) / "manifest.json"
  if manifest_path.exists():
    print(f"(a) synthetic dataset: reusing {data_dir}")
    manifest = json.loads(manifest_path.read_text())
    found = {"classes": manifest.get("num_classes")}
    expected = {"classes": DATASET.num_classes}
    for split in ("train", "test"):
      counts = manifest["splits"].get(split, {}).get("counts_per_class", {}).values()
      found[f"{split} videos per class"] = sorted(set(counts))
      expected[f"{split} videos per class"] = [DATASET[f"{split}_videos_per_class"]]
    for what, value in found.items():
      if value != expected[what]:
        print(f"    warning: {manifest_path} has {value} {what}, configs/synthetic_common."
              f"DATASET asks for {expected[what]}; delete the folder to regenerate it")
    return
  d = DATASET
  print(f"(a) synthetic dataset: {d.num_classes} motion classes, "
        f"{d.train_videos_per_class}+{d.test_videos_per_class} videos per class -> {data_dir}")
  start = time.time()
  synthetic.generate_dataset(
      data_dir, num_classes=d.num_classes,
      videos_per_class={"train": d.train_videos_per_class, "test": d.test_videos_per_class},
      num_frames=d.num_frames, height=d.height, width=d.width, seed=d.seed,
      num_shards={"train": 4, "test": 2}, workers=2, show_progress=False,
      render=synthetic.RenderOptions(speed=tuple(d.speed), camouflage=d.camouflage))
  print(f"    done in {time.time() - start:.0f} s")


def _run(label: str, config_name: str, workdir: str, data_dir: str, seed: int,
         **overrides):
  """Trains one config (resuming / reusing the workdir) and returns its eval metrics."""
  import importlib  # pylint: disable=g-import-not-at-top
  from d3d_jax import evaluation, trainer  # pylint: disable=g-import-not-at-top
  config = importlib.import_module(f"configs.{config_name}").get_config()
  config.input.data_dir = data_dir
  config.seed = seed
  config.input.seed = seed
  if _STEPS.value:
    config.total_steps = _STEPS.value
  config.update_from_flattened_dict(overrides)
  command = (f"python -m d3d_jax.main --config=configs/{config_name}.py --workdir={workdir} "
             f"--config.seed={seed} --config.input.seed={seed} "
             f"--config.input.data_dir={data_dir}" + "".join(
                 f" --config.{k}={v}" for k, v in overrides.items()))
  print(f"{label}: {command}")
  start = time.time()
  if not (paths.resolve(workdir) / "export").is_dir():
    trainer.train(config, workdir)
  metrics = evaluation.evaluate_workdir(config, workdir)
  print(f"    top1 {metrics['top1@1x1']:.3f} in {time.time() - start:.0f} s")
  return config, metrics


def _ensemble_top1(configs_and_workdirs):
  from d3d_jax import evaluation, sharding  # pylint: disable=g-import-not-at-top
  from data_pipelines.dataset_info import dataset_info  # pylint: disable=g-import-not-at-top
  config = configs_and_workdirs[0][0]
  info = dataset_info(config.input)
  members = [evaluation.load_member(str(paths.resolve(workdir) / "export"), member_config.model,
                                    info.num_classes, member_config.compute_dtype)
             for member_config, workdir in configs_and_workdirs]
  metrics, _ = evaluation.evaluate_members(members, config, sharding.make_mesh(config.mesh),
                                           info)
  return metrics["top1@1x1"]


def _row(name, needs_flow, values):
  values = np.asarray(values) * 100
  spread = f" +- {values.std():.1f}" if len(values) > 1 else ""
  per_seed = " / ".join(f"{v:.1f}" for v in values)
  return (f"| {name:<32} | {'yes' if needs_flow else 'no':<12} | "
          f"{values.mean():5.1f}{spread:<8} | {per_seed:<18} |")


def _gains(rows, baseline):
  return (np.asarray(rows) - np.asarray(baseline)) * 100


def _demo_probe(root, data_dir, seeds):
  """``--methods=probe``: optical-flow probing of the RGB baseline and D3D (D3D Sec. 3.2,
  Figure 4). Trains the flow teacher, RGB baseline and D3D runs of the d3d method if
  absent (same workdirs), then per seed `d3d_jax.probe_flow` (PWC decoder, frozen at
  every layer, ft at 1a and 3a: one run each) and, once, the frozen probe of the flow
  teacher (Table 1's flow-stream bracket). Prints the EPE table per seed and the mean
  over seeds, over all cells (the paper's EPE) and over moving cells. Returns the
  top-1 rows of the runs it probed (flow teacher, RGB baseline, D3D) and D3D's gain when
  the d3d method does not print them already."""
  import importlib  # pylint: disable=g-import-not-at-top
  from d3d_jax import probe_flow  # pylint: disable=g-import-not-at-top
  ft_layers = ("Conv3d_1a_7x7", "MaxPool3d_3a_3x3")
  teacher_dir = str(root / "flow_teacher")
  _, teacher = _run("(b) flow teacher", "synthetic_flow_teacher", teacher_dir, data_dir, 0)
  recipe = importlib.import_module("configs.synthetic_flow_probe").get_config()
  recipe.input.data_dir = data_dir
  results, top1 = [], {"rgb": [], "d3d": []}
  for seed in seeds:
    workdirs = {"rgb": str(root / f"rgb_baseline_seed{seed}"),
                "d3d": str(root / f"d3d_paper_seed{seed}")}
    _, rgb = _run(f"(c) RGB baseline, seed {seed}", "synthetic_rgb_baseline",
                  workdirs["rgb"], data_dir, seed)
    _, d3d = _run(f"(d) D3D, seed {seed}", "synthetic_d3d", workdirs["d3d"], data_dir, seed,
                  **{"teacher.checkpoint": teacher_dir})
    top1["rgb"].append(rgb["top1@1x1"])
    top1["d3d"].append(d3d["top1@1x1"])
    out = root / f"probe_seed{seed}"
    print(f"(p) flow probe, seed {seed}: python -m d3d_jax.probe_flow --workdirs=" +
          ",".join(f"{k}:{v}" for k, v in workdirs.items()) + " --layers=all "
          f"--ft_layers={','.join(ft_layers)} --decoder=pwc --output_dir={out} "
          f"--config.input.data_dir={data_dir}")
    results.append(probe_flow.run_sweep(recipe, workdirs, ["all"], "pwc", ("frozen", "ft"),
                                        str(out), ft_layers=ft_layers))
    print(probe_flow.epe_table(results[-1]))
    print("    EPE over moving cells (TV-L1 > 0.5 px):")
    print(probe_flow.epe_table(results[-1], "epe_moving"))
    print(f"    sweep wall time {results[-1]['wall_seconds']:.0f} s; pictures in {out}")
  flow = probe_flow.run_sweep(recipe, {"flow": teacher_dir}, ["all"], "pwc",
                              ("frozen",), str(root / "probe_flow_teacher"))
  print("(p) flow-stream bracket (frozen flow teacher):")
  print(probe_flow.epe_table(flow))
  print("    over moving cells (TV-L1 > 0.5 px):")
  print(probe_flow.epe_table(flow, "epe_moving"))
  if len(results) > 1:
    merged = probe_flow.mean_over_seeds(results)
    print(f"(p) EPE mean +- std over seeds {','.join(map(str, seeds))}:")
    print(probe_flow.epe_table(merged))
    print("    over moving cells (TV-L1 > 0.5 px):")
    print(probe_flow.epe_table(merged, "epe_moving"))
  if "d3d" in _METHODS.value:
    return [], []  # the d3d method's rows are the same runs
  return ([("flow teacher (S3D-G)", True, [teacher["top1@1x1"]]),
           ("RGB baseline (S3D-G)", False, top1["rgb"]),
           ("D3D (paper Eq. 2, mean)", False, top1["d3d"])],
          [("D3D (paper Eq. 2, mean) - RGB baseline", _gains(top1["d3d"], top1["rgb"]))])


def _demo_w3(root, data_dir, seeds):
  """W3 (Perez-Rua et al., ECCV 2020) rows: the RGB S3D-G baseline, + W3 without MFR
  (stage 1: W3 in every Inception block + feature refinement, CE), + W3 (stage 2: the
  same network trained again with MFR, Eq. 9, stage 1 of the same seed as its teacher)."""
  results = {"rgb": [], "stage1": [], "mfr": []}
  for seed in seeds:
    _, rgb = _run(f"(w3) RGB S3D-G, seed {seed}", "synthetic_rgb_baseline",
                  str(root / f"rgb_baseline_seed{seed}"), data_dir, seed)
    stage1_dir = str(root / f"w3_stage1_seed{seed}")
    _, stage1 = _run(f"(w3) + W3 w/o MFR (stage 1), seed {seed}", "synthetic_w3",
                     stage1_dir, data_dir, seed)
    _, mfr = _run(f"(w3) + W3 (stage 2, MFR), seed {seed}", "synthetic_w3_mfr",
                  str(root / f"w3_mfr_seed{seed}"), data_dir, seed,
                  **{"teacher.checkpoint": stage1_dir})
    for key, metrics in (("rgb", rgb), ("stage1", stage1), ("mfr", mfr)):
      results[key].append(metrics["top1@1x1"])
  rows = [("RGB S3D-G", False, results["rgb"]),
          ("+ W3 w/o MFR (stage 1)", False, results["stage1"]),
          ("+ W3 (stage 2, MFR)", False, results["mfr"])]
  gains = [("+ W3 w/o MFR - RGB S3D-G", _gains(results["stage1"], results["rgb"])),
           ("+ W3 (MFR) - W3 w/o MFR", _gains(results["mfr"], results["stage1"]))]
  return rows, gains


def _demo_gkd(root, data_dir, seeds):
  """Generative feature KD (Wang et al., AAAI 2024), RGB -> RGB compression: an I3D
  teacher, the Top-I3D student alone, + Hinton KD, + AT, + GKD (configs/synthetic_gkd*.py).
  Returns (rows, gains) as main() prints them."""
  teacher_dir, teacher_att_dir = str(root / "gkd_teacher"), str(root / "gkd_teacher_att")
  _, teacher = _run("(i) I3D teacher (RGB)", "synthetic_gkd_teacher", teacher_dir, data_dir, 0)
  _, teacher_att = _run("(j) I3D + attention module + CVAE (GKD stage 0)",
                        "synthetic_gkd_teacher_att", teacher_att_dir, data_dir, 0,
                        **{"model.init_from.path": f"{teacher_dir}/export"})
  students = (("Top-I3D student", "synthetic_gkd_student", None),
              ("+ Hinton KD", "synthetic_gkd_kd", teacher_dir),
              ("+ AT", "synthetic_gkd_at", teacher_dir),
              ("+ GKD", "synthetic_gkd", teacher_att_dir))
  results = {name: [] for name, _, _ in students}
  for seed in seeds:
    for name, config_name, teacher_checkpoint in students:
      overrides = {"teacher.checkpoint": teacher_checkpoint} if teacher_checkpoint else {}
      _, metrics = _run(f"(k) {name}, seed {seed}", config_name,
                        str(root / f"{config_name}_seed{seed}"), data_dir, seed, **overrides)
      results[name].append(metrics["top1@1x1"])
  rows = [("I3D teacher (RGB)", False, [teacher["top1@1x1"]]),
          ("I3D + Att teacher (GKD stage 0)", False, [teacher_att["top1@1x1"]])]
  rows += [(name, False, results[name]) for name, _, _ in students]
  baseline = results["Top-I3D student"]
  gains = [(f"Top-I3D {name} - student", _gains(results[name], baseline))
           for name, _, _ in students[1:]]
  return rows, gains


def main(argv):
  del argv
  host_memory.keep_freed_memory()  # Before TensorFlow or JAX start threads.
  from data_pipelines import tf_setup  # pylint: disable=g-import-not-at-top
  tf_setup.hide_accelerators()
  from configs.synthetic_common import DEFAULT_DATA_DIR  # pylint: disable=g-import-not-at-top
  for flag, given, known in (("--d3d", _D3D.value, D3D_VARIANTS),
                             ("--methods", _METHODS.value, METHODS)):
    if set(given) - set(known):
      raise app.UsageError(f"{flag}: unknown {sorted(set(given) - set(known))}; "
                           f"known: {sorted(known)}")
  root = paths.resolve(_WORKDIR.value)
  data_dir = str(paths.resolve(_DATA_DIR.value or DEFAULT_DATA_DIR))
  compilation_cache.enable_persistent_cache(str(root / "jax_cache"))
  start = time.time()
  logging.set_verbosity(logging.WARNING)
  _make_dataset(data_dir)
  seeds = list(map(int, _SEEDS.value))
  rows = []  # (name, flow at test, per-seed values)
  gains = []  # (text, per-seed gains)
  if "d3d" in _METHODS.value:
    teacher_dir = str(root / "flow_teacher")
    _, teacher = _run("(b) flow teacher", "synthetic_flow_teacher", teacher_dir, data_dir, 0)
    results = {"rgb": [], **{v: [] for v in _D3D.value},
               **{f"{v}+rgb": [] for v in _D3D.value}}
    for seed in seeds:
      rgb_dir = str(root / f"rgb_baseline_seed{seed}")
      rgb_config, rgb = _run(f"(c) RGB baseline, seed {seed}", "synthetic_rgb_baseline",
                             rgb_dir, data_dir, seed)
      results["rgb"].append(rgb["top1@1x1"])
      for variant in _D3D.value:
        config_name, row = D3D_VARIANTS[variant]
        d3d_dir = str(root / f"d3d_{variant}_seed{seed}")
        d3d_config, d3d = _run(f"(d) {row}, seed {seed}", config_name, d3d_dir, data_dir,
                               seed, **{"teacher.checkpoint": teacher_dir})
        results[variant].append(d3d["top1@1x1"])
        results[f"{variant}+rgb"].append(
            _ensemble_top1([(d3d_config, d3d_dir), (rgb_config, rgb_dir)]))
    rows.append(("flow teacher (S3D-G)", True, [teacher["top1@1x1"]]))
    rows.append(("RGB baseline (S3D-G)", False, results["rgb"]))
    rows += [(D3D_VARIANTS[v][1], False, results[v]) for v in _D3D.value]
    rows += [(f"{v} D3D + RGB ensemble", False, results[f"{v}+rgb"]) for v in _D3D.value]
    gains += [(f"{D3D_VARIANTS[v][1]} - RGB baseline", _gains(results[v], results["rgb"]))
              for v in _D3D.value]
  if "attention" in _METHODS.value:
    teacher_dir = str(root / "attention_flow_teacher")
    _, teacher = _run("(f) flow Prob-Atten teacher", "synthetic_attention_flow_teacher",
                      teacher_dir, data_dir, 0)
    baseline, distilled = [], []
    for seed in seeds:
      _, rgb = _run(f"(g) RGB Prob-Atten, seed {seed}", "synthetic_attention_rgb_baseline",
                    str(root / f"attention_rgb_baseline_seed{seed}"), data_dir, seed)
      _, student = _run(f"(h) Prob-Distill, seed {seed}", "synthetic_prob_distill",
                        str(root / f"prob_distill_seed{seed}"), data_dir, seed,
                        **{"teacher.checkpoint": teacher_dir})
      baseline.append(rgb["top1@1x1"])
      distilled.append(student["top1@1x1"])
    rows.append(("flow Prob-Atten teacher", True, [teacher["top1@1x1"]]))
    rows.append(("RGB Prob-Atten", False, baseline))
    rows.append(("Prob-Distill (RGB)", False, distilled))
    gains.append(("Prob-Distill - RGB Prob-Atten", _gains(distilled, baseline)))
  for method, demo_method in (("gkd", _demo_gkd), ("probe", _demo_probe), ("w3", _demo_w3)):
    if method in _METHODS.value:
      method_rows, method_gains = demo_method(root, data_dir, seeds)
      rows += method_rows
      gains += method_gains
  print("\n(e) top-1 on the synthetic test split (1 clip x 1 crop per video)"
        + (f", mean +- std over seeds {','.join(_SEEDS.value)}" if len(seeds) > 1 else ""))
  print(f"| {'model':<32} | flow at test | top-1 (%)     | {'per seed':<18} |")
  print(f"|{'-' * 34}|--------------|---------------|{'-' * 20}|")
  for name, needs_flow, values in rows:
    print(_row(name, needs_flow, values))
  print()
  for text, values in gains:
    print(f"{text} per seed: {', '.join(f'{g:+.1f}' for g in values)} points")
  print(f"\nwall time {time.time() - start:.0f} s; runs in {root}")


if __name__ == "__main__":
  from data_pipelines import tf_setup  # pylint: disable=g-import-not-at-top
  tf_setup.quiet_tensorflow_logs()
  app.run(main)
