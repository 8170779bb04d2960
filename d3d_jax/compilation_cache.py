"""The persistent XLA compilation cache of the command-line entry points.

Compiling a train step of a full-size network takes tens of seconds to minutes on CPU
(and on TPU hosts), and every run, resume, evaluation and demo stage would pay it
again. So the programs that train (main, the demo, probe_flow) turn JAX's persistent
compilation cache on before their first compilation, in this order of precedence:

1. ``JAX_COMPILATION_CACHE_DIR`` set by the user: JAX reads it itself; kept as it is;
2. ``D3D_JAX_COMPILATION_CACHE=off``: no persistent cache;
3. the program's own default (the demo keeps its cache in its workdir);
4. ``$XDG_CACHE_HOME/d3d_jax/jax_compilation_cache``, i.e.
   ``~/.cache/d3d_jax/jax_compilation_cache``.

Entries are keyed by the computation, the JAX / XLA version, the flags and the device
kind, so a stale entry is never used; the directory may be deleted at any time.
Only compilations slower than ``jax_persistent_cache_min_compile_time_secs`` (1 s by
default) are stored. `python -m d3d_jax.tools.compile_time` measures the cold and warm
start of a train step.
"""

import os
from typing import Optional

OFF_VARIABLE = "D3D_JAX_COMPILATION_CACHE"


def default_cache_dir() -> str:
  """``$XDG_CACHE_HOME/d3d_jax/jax_compilation_cache`` (``~/.cache`` without XDG)."""
  base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
  return os.path.join(base, "d3d_jax", "jax_compilation_cache")


def enable_persistent_cache(default_dir: Optional[str] = None) -> Optional[str]:
  """Turns the persistent compilation cache on (see the module docstring); returns its
  directory, or None when it is off. Call before the first compilation."""
  import jax  # pylint: disable=g-import-not-at-top
  if os.environ.get("JAX_COMPILATION_CACHE_DIR"):
    return jax.config.jax_compilation_cache_dir
  if os.environ.get(OFF_VARIABLE, "").lower() in ("off", "0", "false", "no"):
    return None
  directory = default_dir or default_cache_dir()
  jax.config.update("jax_compilation_cache_dir", directory)
  return directory
