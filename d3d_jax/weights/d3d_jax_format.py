"""Our own export (`d3d_jax.export`) seen as an import format: ``format='d3d_jax'``.

Tensor names are 'params/<path>' and 'batch_stats/<path>', our variable paths as they
are; the export's metadata names the `build_model` call it fits. Importing one fills a
model exactly, new modules included (an export holds the whole test-time network).
"""

from d3d_jax.weights.import_plan import CheckpointFormat, SourceTensor
from d3d_jax.weights.tensor_files import D3D_JAX_EXPORT

FORMAT = CheckpointFormat(
    name="d3d_jax",
    description="our orbax export (python -m d3d_jax.convert, the trainer's export)",
    container=D3D_JAX_EXPORT,
    default_model="",  # the checkpoint's metadata names it
    model_defaults={},
    stem_anchor=None,
    source=lambda collection, path: SourceTensor(f"{collection}/{path}"),
    bn_scale_in_file=False,  # a model without BN scale is one with scale 1
)
