"""Command-line tools outside the train / eval path: benchmarks (``python -m d3d_jax.tools.NAME``)."""
