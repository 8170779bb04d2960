"""Dataset recipes: `python -m data_pipelines.datasets.NAME --root=... --output_dir=...`.

One module per dataset turns its official download layout and split files into
split CSVs and a label map for `data_pipelines.write_tfrecords` (see recipe.py).
"""
