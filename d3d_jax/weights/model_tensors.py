"""What each variable of an S3DG-family model is: its unit, the part of the unit, the leaf.

Importers name file tensors per unit (`Conv3d_1a_7x7`, `Mixed_3b/Branch_1/Conv3d_0b_3x3`,
`Logits/Conv3d_0c_1x1`) and per part of the unit, so they first decompose our variable
paths (see `d3d_jax.models.units.ConvUnit`):

| our path suffix                      | part          | leaves                      |
|--------------------------------------|---------------|-----------------------------|
| ``<unit>/conv/kernel``               | ``conv``      | kernel (T,H,W,Cin,Cout)     |
| ``<unit>/bn/<leaf>``                 | ``bn``        | scale, bias; mean, var      |
| ``<unit>/temporal/<leaf>``           | ``temporal``  | kernel (kt,1,1,C,C), bias   |
| ``<unit>/temporal_bn/<leaf>``        | ``temporal_bn`` | scale, bias; mean, var    |
| ``<unit>/self_gating/transformer_W/<leaf>`` | ``gate`` | kernel (C,C), bias        |
| ``Logits/Conv3d_0c_1x1/<leaf>``      | ``logits``    | kernel (1,1,1,Cin,classes), bias |
"""

import dataclasses
from typing import Optional

LOGITS_UNIT = "Logits/Conv3d_0c_1x1"

# (path suffix before the leaf, part); checked in order, longest first.
_PARTS = (
    ("self_gating/transformer_W", "gate"),
    ("temporal_bn", "temporal_bn"),
    ("temporal", "temporal"),
    ("conv", "conv"),
    ("bn", "bn"),
)


@dataclasses.dataclass(frozen=True)
class ModelTensor:
  """One variable of our model, decomposed.

  Attributes:
    collection: 'params' or 'batch_stats'.
    path: the variable path inside its collection, '/'-joined.
    unit: the conv unit, e.g. 'Mixed_3b/Branch_1/Conv3d_0b_3x3' or 'Logits/Conv3d_0c_1x1'.
    part: 'conv', 'bn', 'temporal', 'temporal_bn', 'gate' or 'logits'.
    leaf: 'kernel', 'bias', 'scale', 'mean' or 'var'.
  """

  collection: str
  path: str
  unit: str
  part: str
  leaf: str

  @property
  def block(self) -> str:
    """The top-level module: 'Conv3d_1a_7x7', 'Mixed_3b', 'Logits', ..."""
    return self.unit.split("/")[0]

  @property
  def branch(self) -> Optional[tuple[str, str]]:
    """(branch, conv) inside an Inception block, e.g. ('Branch_1', 'Conv3d_0b_3x3')."""
    pieces = self.unit.split("/")
    return (pieces[1], pieces[2]) if len(pieces) == 3 else None


def parse(collection: str, path: str) -> Optional[ModelTensor]:
  """Decomposes `path`; None when it is not a variable of the S3DG family layout."""
  unit_and_part, _, leaf = path.rpartition("/")
  if unit_and_part == LOGITS_UNIT:
    return ModelTensor(collection, path, LOGITS_UNIT, "logits", leaf)
  for suffix, part in _PARTS:
    if unit_and_part.endswith("/" + suffix):
      unit = unit_and_part[: -len(suffix) - 1]
      if unit.count("/") not in (0, 2):
        return None
      return ModelTensor(collection, path, unit, part, leaf)
  return None
