"""segcompare: train, evaluate and compare semantic-segmentation models, and show the comparison.

Public API (the command line is a thin layer over it):
`list_models`, `build_model`, `save_checkpoint`, `load_model`, `list_datasets`, `get_dataset`, `fit`, `evaluate`.
Heavy modules load on first use, so `import segcompare` stays fast.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_API = {
    "list_models": "models", "build_model": "models", "model_info": "models",
    "save_checkpoint": "checkpoint", "load_model": "checkpoint", "read_config": "checkpoint",
    "list_datasets": "data", "get_dataset": "data",
    "fit": "train", "TrainConfig": "train",
    "evaluate": "evaluation",
    "UserError": "errors",
}
__all__ = sorted(_API) + ["__version__"]


def __getattr__(name: str):
    if name in _API:
        return getattr(importlib.import_module(f".{_API[name]}", __name__), name)
    raise AttributeError(f"module 'segcompare' has no attribute {name!r}")


def __dir__():
    return __all__
