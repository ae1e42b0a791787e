"""Experiment and training YAML: a safe loader, bounded in bytes, nesting and alias expansion.

`yaml.safe_load` builds no objects, but an alias repeats its whole node wherever it is used, so a
few hundred bytes of nested aliases stand for billions of values that a later walk (key normalisation,
a deep copy) would expand. The loaded document is walked once with a budget that counts every repeat.
"""

from __future__ import annotations

from pathlib import Path

from .base import FormatError, parse_bounded, read_text

MAX_YAML_BYTES = 1024 * 1024
MAX_YAML_VALUES = 100_000  # an experiment config has tens of values
MAX_YAML_DEPTH = 16


def loads_yaml(text: str, source: str):
    import yaml

    return parse_bounded(yaml.safe_load, text, source, yaml.YAMLError,
                         lambda e: f"YAML: {str(e).splitlines()[0]}", MAX_YAML_DEPTH, MAX_YAML_VALUES)


def load_yaml_file(path: str | Path, what: str = "YAML config"):
    path = Path(path)
    if not path.is_file():
        raise FormatError(f"config file {path} not found")
    return loads_yaml(read_text(path, what, MAX_YAML_BYTES), str(path))
