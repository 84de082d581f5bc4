"""keel: export trained pipelines to portable bundles and score them anywhere.

- ``keel.sklearn.export(pipeline, path, sample=...)`` writes a bundle from scikit-learn;
- ``keel.load(path_or_bytes)`` reads and plans one, and ``Bundle.transform(frame)`` /
  ``Bundle.transform_one(row)`` score with keel's Rust runtime, in process;
- ``keel.compose(features, network, path)`` joins a feature pipeline's bundle and a network
  (a bundle, an ONNX model, a PyTorch module) into one;
- ``keel.train(frame, label=..., numeric=..., categorical=...)`` fits feature stages and a
  tabular network together on this machine and returns their bundle (on Spark:
  ``keel.spark.KeelNetEstimator``);
- ``keel.images.preprocess(path, size=..., mean=..., std=...)`` writes the image-preprocessing
  stage of a vision network (encoded images or Spark's image struct to an ``f32`` tensor).

A bundle is one zip file; see ``bundle-spec/SPEC.md`` in the repository.
"""

from keel import images
from keel._api import Bundle, Field, Schema, load
from keel._compose import compose
from keel._train import train
from keel.errors import (
    BadValueError,
    BundleError,
    ColumnTypeError,
    ComposeError,
    EmptyFrameError,
    ExtraColumnError,
    InputError,
    KeelError,
    MissingColumnError,
    MissingValueError,
    NonFiniteError,
    PlanError,
    RowCountError,
    TensorShapeError,
    UnknownCategoryError,
    UnknownOpError,
    UnsupportedError,
)

__version__ = "0.1.0"
__all__ = [
    "BadValueError",
    "Bundle",
    "BundleError",
    "ColumnTypeError",
    "ComposeError",
    "EmptyFrameError",
    "ExtraColumnError",
    "Field",
    "InputError",
    "KeelError",
    "MissingColumnError",
    "MissingValueError",
    "NonFiniteError",
    "PlanError",
    "RowCountError",
    "Schema",
    "TensorShapeError",
    "UnknownCategoryError",
    "UnknownOpError",
    "UnsupportedError",
    "__version__",
    "compose",
    "train",
    "images",
    "load",
]
