r"""The PyTorch side of ``python -m d3d_jax.tools.benchmark --compare=torch``.

Times the train step of the PyTorch network comparable to one of ours (`TORCH_MODELS`),
on the same batch, clip size and classes, and prints one JSON line. The benchmark runs
this module in a subprocess after its own measurements, so the two frameworks never
compete for the CPU threads at once:

    python -m d3d_jax.tools.torch_benchmark '{"model": "s3d", "batch": 2, "frames": 16,
        "size": 224, "num_classes": 400, "steps": 5, "amp_bf16": false, "compile": false}'

The train step is PyTorch's usual one: ``model.train()``, softmax cross-entropy on random
labels, ``loss.backward()``, SGD. It is timed in each memory layout (`LAYOUTS`: the
default contiguous NCDHW and ``torch.channels_last_3d``, where oneDNN / cuDNN pick
their channels-last kernels) and the best is the comparison's number. Threads: as many
as the machine has CPUs (``torch.set_num_threads(os.cpu_count())``). Host memory: as
on our side, freed memory stays in the process (`d3d_jax.host_memory`), which takes
PyTorch's S3D step from ~1.6 s to ~1.15 s on a 2-core machine. On CUDA,
``amp_bf16`` runs the step under ``torch.autocast(dtype=torch.bfloat16)`` and
``compile`` wraps the model in ``torch.compile`` (falling back to eager, and saying so,
where it fails). FLOPs: PyTorch's own count (``torch.utils.flop_counter``: convolutions
and matmuls, 2 per multiply-add) of one step, for reference.

With ``--serve`` (and a ``layout`` in the spec) it instead runs one train step per
``step`` line on its input and replies its seconds, so that ``benchmark --interleave``
can alternate PyTorch's steps with ours (`serve`).

Requires the ``torch`` extra: ``pip install -e '.[torch]'``.
"""

import importlib
import json
import os
import statistics
import sys
import time

from d3d_jax import host_memory

# Our model name -> (the PyTorch constructor used for it, what differs).
TORCH_MODELS = {
    "s3d": ("torchvision.models.video.s3d",
            "the same layers; torchvision pads symmetrically and has BN scales"),
    "s3dg": ("torchvision.models.video.s3d",
             "S3D without S3D-G's self-gating (the gates are < 0.1% of the FLOPs)"),
    "i3d": ("d3d_jax.tools.torch_i3d.InceptionI3d",
            "the same layers, pytorch-i3d style; it pads symmetrically ((k-1)//2, ours "
            "with --padding=symmetric; the same shapes at even sizes) and has BN scales"),
}
LAYOUTS = ("NCDHW", "channels_last_3d")
INSTALL_HINT = ("--compare=torch needs PyTorch and torchvision: pip install -e '.[torch]' "
                "(or pip install torch torchvision)")


def require_torch() -> None:
  """Exits with the install command when torch or torchvision cannot be imported."""
  try:
    for name in ("torch", "torchvision"):
      importlib.import_module(name)
  except ImportError as error:
    raise SystemExit(f"{INSTALL_HINT}\n({error})") from None


def _build(model_name: str, num_classes: int):
  """The PyTorch network of `TORCH_MODELS[model_name]`.

  For ``i3d`` our twin `torch_i3d.InceptionI3d`; for ``s3d`` / ``s3dg`` torchvision's
  S3D whose final average pool clips its (2, 7, 7) window to the feature map, as our
  `clipped_avg_pool_3d` does (and the twin's head): identical at 224 x 224 and >= 16
  frames, and it also runs on smaller clips (torchvision's fixed window needs 224).
  """
  import torch  # pylint: disable=g-import-not-at-top
  import torchvision  # pylint: disable=g-import-not-at-top
  if model_name not in TORCH_MODELS:
    raise ValueError(f"no PyTorch model to compare with --model={model_name}; "
                     f"comparable: {sorted(TORCH_MODELS)}")
  if model_name == "i3d":
    from d3d_jax.tools import torch_i3d  # pylint: disable=g-import-not-at-top
    return torch_i3d.InceptionI3d(num_classes=num_classes)

  class ClippedAvgPool(torch.nn.Module):
    def forward(self, x):
      window = tuple(min(k, n) for k, n in zip((2, 7, 7), x.shape[2:]))
      return torch.nn.functional.avg_pool3d(x, window, stride=1)

  model = torchvision.models.video.s3d(num_classes=num_classes)
  model.avgpool = ClippedAvgPool()
  return model


def _device():
  """CUDA when there is one, else the CPU with as many threads as it has cores."""
  import torch  # pylint: disable=g-import-not-at-top
  torch.set_num_threads(os.cpu_count())
  return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _warm_train_step(spec: dict, layout: str, device):
  """The train step of `spec` in one layout, after its warm-up (or compilation) call;
  and the result dict so far (layout, compiled, first_step_s)."""
  import torch  # pylint: disable=g-import-not-at-top
  import torch.nn.functional as F  # pylint: disable=g-import-not-at-top
  torch.manual_seed(0)
  model = _build(spec["model"], spec["num_classes"]).to(device).train()
  clips = torch.rand(spec["batch"], 3, spec["frames"], spec["size"], spec["size"],
                     device=device) * 2 - 1
  if layout == "channels_last_3d":
    model = model.to(memory_format=torch.channels_last_3d)
    clips = clips.contiguous(memory_format=torch.channels_last_3d)
  labels = torch.randint(0, spec["num_classes"], (spec["batch"],), device=device)
  optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
  result = {"layout": layout, "compiled": False}
  runner = model
  if spec["compile"]:
    try:
      runner = torch.compile(model)
      result["compiled"] = True
    except Exception as error:  # pylint: disable=broad-except
      result["compile_error"] = repr(error)[:300]

  def step():
    optimizer.zero_grad(set_to_none=True)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=spec["amp_bf16"]):
      loss = F.cross_entropy(runner(clips).float(), labels)
    loss.backward()
    optimizer.step()
    if device.type == "cuda":
      torch.cuda.synchronize()

  start = time.perf_counter()
  try:
    step()  # Warm-up; with torch.compile this is the compilation.
  except Exception as error:  # pylint: disable=broad-except
    if not result["compiled"]:
      raise
    result.update(compiled=False, compile_error=repr(error)[:300])
    runner = model
    step()
  result["first_step_s"] = time.perf_counter() - start
  return step, result


def _time_layout(spec: dict, layout: str, device) -> dict:
  """Median train-step seconds of one layout (after warm-up / compilation)."""
  step, result = _warm_train_step(spec, layout, device)
  times = []
  for _ in range(spec["steps"]):
    start = time.perf_counter()
    step()
    times.append(time.perf_counter() - start)
  result["train_s"] = statistics.median(times)
  return result


def serve(spec: dict, requests=None, replies=None) -> None:
  """Step server for an interleaved comparison (``benchmark --interleave=N``).

  Warms up the train step in ``spec["layout"]``, replies one JSON line (the layout, the
  warm-up seconds), then for each ``step`` line it reads runs one train step and replies
  its seconds. It stops at the end of its input. Between requests it sleeps on the read,
  so the other framework has the CPU to itself.
  """
  requests, replies = requests or sys.stdin, replies or sys.stdout
  step, result = _warm_train_step(spec, spec["layout"], _device())
  print(json.dumps(result), file=replies, flush=True)
  for request in requests:
    if request.strip() != "step":
      raise SystemExit(f"torch_benchmark --serve: expected 'step', got {request.strip()!r}")
    start = time.perf_counter()
    step()
    print(json.dumps({"train_s": time.perf_counter() - start}), file=replies, flush=True)


def _count_flops(spec: dict, device) -> float:
  """PyTorch's FLOP count of one eager train step (forward + backward)."""
  import torch  # pylint: disable=g-import-not-at-top
  import torch.nn.functional as F  # pylint: disable=g-import-not-at-top
  from torch.utils.flop_counter import FlopCounterMode  # pylint: disable=g-import-not-at-top
  model = _build(spec["model"], spec["num_classes"]).to(device).train()
  clips = torch.zeros(spec["batch"], 3, spec["frames"], spec["size"], spec["size"],
                      device=device)
  labels = torch.zeros(spec["batch"], dtype=torch.long, device=device)
  counter = FlopCounterMode(display=False)
  with counter:
    F.cross_entropy(model(clips), labels).backward()
  return float(counter.get_total_flops())


def run(spec: dict) -> dict:
  """Times the PyTorch train step of `spec` in every layout; returns the measurements."""
  import torch  # pylint: disable=g-import-not-at-top
  import torchvision  # pylint: disable=g-import-not-at-top
  device = _device()
  layouts = [_time_layout(spec, layout, device) for layout in LAYOUTS]
  best = min(layouts, key=lambda r: r["train_s"])
  return {
      "torch_model": TORCH_MODELS[spec["model"]][0],
      "differs": TORCH_MODELS[spec["model"]][1],
      "torch_version": torch.__version__, "torchvision_version": torchvision.__version__,
      "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
      # The vector ISA of the CPU kernels PyTorch dispatched to (e.g. AVX2, AVX512).
      "cpu_capability": (torch.backends.cpu.get_cpu_capability()
                         if device.type == "cpu" else None),
      "threads": torch.get_num_threads(), "amp_bf16": spec["amp_bf16"],
      "layouts": layouts, "best": best, "torch_flops": _count_flops(spec, device),
  }


def main(argv: list[str]) -> None:
  serving = len(argv) == 3 and argv[1] == "--serve"
  if len(argv) != 2 and not serving:
    raise SystemExit("usage: python -m d3d_jax.tools.torch_benchmark [--serve] '<json spec>'"
                     f"\n{__doc__}")
  host_memory.keep_freed_memory()  # As our side does; before torch starts threads.
  require_torch()
  if serving:
    serve(json.loads(argv[2]))
  else:
    print(json.dumps(run(json.loads(argv[1]))), flush=True)


if __name__ == "__main__":
  main(sys.argv)
