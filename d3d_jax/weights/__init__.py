"""Start from published weights: DeepMind I3D, slim S3D-G / D3D, torchvision S3D, pytorch-i3d,
and TF-slim's ImageNet Inception-v1 inflated into 3-D.

* `import_checkpoint(format, path, params, batch_stats, exclude=(), scope=None)`: fill a
  model's variables from a file, with completeness checked both ways;
* `load_init_from(config.model.init_from, params, batch_stats)`: the trainer's hook;
* `save_model_variables` / `load_model_variables`: our orbax export format ('d3d_jax');
* `export_checkpoint(format, path, params, batch_stats)`: the reverse, in reference names;
* `FORMATS`: the registry; the CLI is ``python -m d3d_jax.convert``.

The commands per published checkpoint are in the repository README, "Pretrained weights".
"""

from d3d_jax.weights.completeness import CheckpointMismatchError
from d3d_jax.export import load_metadata, load_model_variables, save_model_variables
from d3d_jax.weights.importer import (ImportReport, expected_file_shapes,
                                               export_checkpoint, export_tensors,
                                               import_checkpoint, import_tensors,
                                               infer_model_options)
from d3d_jax.weights.init_from import load_init_from
from d3d_jax.weights.registry import FORMATS, get_format

__all__ = [
    "CheckpointMismatchError", "FORMATS", "ImportReport", "expected_file_shapes",
    "export_checkpoint", "export_tensors", "get_format", "import_checkpoint",
    "import_tensors", "infer_model_options", "load_init_from", "load_metadata",
    "load_model_variables", "save_model_variables",
]
