"""Start from published weights: DeepMind I3D, slim S3D-G / D3D, torchvision S3D, pytorch-i3d,
and TF-slim's ImageNet Inception-v1 inflated into 3-D.

* `import_checkpoint(format, path, params, batch_stats, *, exclude=(), scope=None,
  new_modules=())`: fill a model's variables from a file, with completeness checked
  both ways;
* `load_init_from(config.model.init_from, params, batch_stats, new_modules=())`: the
  trainer's hook;
* `export_checkpoint(format, path, params, batch_stats)`: the reverse, in reference names;
* `FORMATS`: the formats by name; the CLI is ``python -m d3d_jax.convert``.

The core reads top to bottom in three modules: `tensor_files` (reading and writing the
files), `import_plan` (matching a file to a model, every check), `transfer` (filling the
variable trees, and exporting them). Each published format is one module: a name table
plus its quirks. The commands per published checkpoint are in the repository README,
"Pretrained weights".
"""

from d3d_jax.export import load_metadata, load_model_variables, save_model_variables
from d3d_jax.weights.import_plan import CheckpointMismatchError, plan_import
from d3d_jax.weights.transfer import (FORMATS, ImportReport, expected_file_shapes,
                                      export_checkpoint, export_tensors, get_format,
                                      import_checkpoint, import_tensors, infer_model_options,
                                      load_init_from)

__all__ = [
    "CheckpointMismatchError", "FORMATS", "ImportReport", "expected_file_shapes",
    "export_checkpoint", "export_tensors", "get_format", "import_checkpoint",
    "import_tensors", "infer_model_options", "load_init_from", "load_metadata",
    "load_model_variables", "plan_import", "save_model_variables",
]
