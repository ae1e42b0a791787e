"""Values every layer agrees on: file names of a checkpoint folder, the void label, ImageNet statistics."""

from __future__ import annotations

IGNORE_INDEX = 255  # masks are 8-bit; 255 marks void pixels that no metric or loss counts
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # the normalisation pretrained encoders expect (RGB, 0-1 scale)
IMAGENET_STD = (0.229, 0.224, 0.225)

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
RESULTS_FILE = "results.json"
HISTORY_FILE = "history.jsonl"
TRAIN_CONFIG_FILE = "train_config.json"
STATE_FILE = "state.json"  # in OUT/last/: where a run stands (segcompare.train_state)

# Inference backend modes (segcompare.backends.Backend); named here so choosing one needs no torch.
INFERENCE_MODES = ("auto", "channels_last", "eager")
