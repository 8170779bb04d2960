"""d3d_jax: distilling optical-flow motion into RGB video networks, in JAX/Flax."""

import setuptools

_RUNTIME = [
    "jax>=0.10",
    "flax>=0.12",
    "optax>=0.2.4",
    "orbax-checkpoint>=0.11",
    "tensorflow>=2.18",
    "tensorflow-datasets>=4.9.7",
    "ml-collections>=1.0",
    "clu>=0.0.12",
    "tensorboard>=2.18",
    "absl-py>=2.1",
    "numpy>=1.26",
    # .safetensors state dicts, read and written with NumPy (no torch).
    "safetensors>=0.4",
    "av>=14",
    "opencv-contrib-python-headless>=4.10",
    "matplotlib>=3.8",
    # gs:// workdirs: orbax lists checkpoint steps on GCS through it (it asks the
    # bucket whether it has a hierarchical namespace) and fails without it.
    "google-cloud-storage>=2.18",
    # The per-frame CRC32C of the records (data_pipelines/schema.py); a dependency of
    # google-cloud-storage already, named because we call it.
    "google-crc32c>=1.5",
]

setuptools.setup(
    name="d3d_jax",
    version="0.1.0",
    description=(
        "I3D / S3D-G video action recognition in JAX/Flax with optical-flow "
        "teacher to RGB student distillation (D3D, attention distillation), "
        "TFRecord + TV-L1 data tools and imports of published I3D / S3D-G weights."
    ),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=setuptools.find_packages(include=["d3d_jax*", "data_pipelines*", "configs*"]),
    install_requires=_RUNTIME,
    extras_require={
        # gcp-storage-emulator + cryptography: the local GCS of the gs:// tests (tests/gcs_emulator.py).
        "test": ["pytest>=8", "pytest-xdist>=3.5", "tf-slim>=1.1", "gcp-storage-emulator>=2024.8",
                 "cryptography>=42"],
        "tpu": ["jax[tpu]>=0.10"],
        "gpu": ["jax[cuda12]>=0.10"],
        # Importing PyTorch checkpoints directly (otherwise use .npz / .safetensors exports);
        # torchvision: the PyTorch side of `d3d_jax.tools.benchmark --compare=torch`.
        "torch": ["torch>=2.4", "torchvision>=0.19"],
    },
    entry_points={
        "console_scripts": [
            "d3d_jax=d3d_jax.main:run",
        ],
    },
)
