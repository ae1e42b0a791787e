"""`segcompare train`: train one model on one dataset -> a checkpoint folder (see `segcompare.train`).

Options come from, in increasing priority: the defaults of `TrainConfig`, the run's own
`train_config.json` when resuming (so `segcompare train --out DIR --resume` needs nothing else),
a `--config YAML` of TrainConfig keys, and the flags given on the command line.
"""

from __future__ import annotations

import argparse
from pathlib import Path

# flag -> (TrainConfig field, argparse kwargs); every default is None so "not given" is visible.
OPTIONS = {
    "--model": ("model", dict(metavar="NAME", help="model name (see `segcompare models`)")),
    "--dataset": ("dataset", dict(metavar="SPEC", help="dataset spec, e.g. synthetic-pets or folder:ROOT")),
    "--out": ("out", dict(metavar="DIR", help="output folder: best checkpoint + last/ + history.jsonl")),
    "--epochs": ("epochs", dict(type=int, help="epochs (default 20)")),
    "--max-steps": ("max_steps", dict(type=int, metavar="N", help="stop after N optimizer steps")),
    "--batch-size": ("batch_size", dict(type=int, help="images per step and process (default 8)")),
    "--size": ("size", dict(type=int, nargs=2, metavar=("H", "W"),
                            help="training size (default: the dataset's, else 512 512)")),
    "--lr": ("lr", dict(type=float, help="peak learning rate (default 1e-3 scratch/frozen, 2e-4 finetune)")),
    "--weight-decay": ("weight_decay", dict(type=float, help="default 0.01 adamw, 0 adam, 1e-4 sgd")),
    "--optimizer": ("optimizer", dict(help="adamw (default), adam, sgd")),
    "--amsgrad": ("amsgrad", dict(action="store_true", default=None, help="AMSGrad variant of adam/adamw")),
    "--scheduler": ("scheduler", dict(help="cosine (default, with warm-up), onecycle, poly, exponential, none")),
    "--warmup": ("warmup", dict(type=float, help="warm-up: fraction of the steps (<1) or a step count")),
    "--gamma": ("gamma", dict(type=float, help="exponential scheduler: lr factor per epoch (default 0.98)")),
    "--loss": ("loss", dict(help="ce+dice (default), ce, dice, focal, tversky, lovasz, jaccard, or other sums: "
                                 "ce+0.5*dice")),
    "--class-weights": ("class_weights", dict(help="none (default), inverse_sqrt, inverse, median")),
    "--strategy": ("strategy", dict(help="scratch (default), finetune, frozen")),
    "--pretrained": ("pretrained", dict(metavar="none|imagenet|coco|PATH",
                                        help="initial weights (default: imagenet for finetune/frozen)")),
    "--augment": ("augment", dict(metavar="RECIPE", help="training augmentation: flip (default), light, "
                                  "scale-crop, none")),
    "--no-augment": ("augment", dict(action="store_false", default=None, help="no training augmentation")),
    "--val-every": ("val_every", dict(type=int, metavar="K", help="validate every K epochs (default 1)")),
    "--val-split": ("val_split", dict(help="split used for validation (default val)")),
    "--patience": ("patience", dict(type=int, help="early stop after N validations without gain (0 = off)")),
    "--seed": ("seed", dict(type=int)),
    "--workers": ("workers", dict(type=int, help="DataLoader workers (default: automatic)")),
    "--device": ("device", dict(help="auto (default), cpu, cuda, cuda:N")),
    "--resume": ("resume", dict(action="store_true", default=None, help="continue the run in --out")),
    "--overwrite": ("overwrite", dict(action="store_true", default=None, help="replace a run in --out")),
    "--allow-changed-recipe": ("allow_changed_recipe", dict(action="store_true", default=None,
                                                            help="--resume with another lr, loss, size, ...")),
    "--channels-last": ("channels_last", dict(action="store_true", default=None)),
    "--grad-accum": ("grad_accum", dict(type=int, metavar="N", help="accumulate gradients over N batches")),
    "--grad-clip": ("grad_clip", dict(type=float, metavar="NORM", help="clip the gradient norm")),
    "--mixed-precision": ("mixed_precision", dict(help="no (default), fp16 (CUDA), bf16")),
    "--deterministic": ("deterministic", dict(action="store_true", default=None,
                                              help="deterministic algorithms (reproducible on GPU, slower)")),
    "--log": ("log", dict(nargs="+", metavar="TRACKER", help="tensorboard, wandb and/or mlflow")),
    "--no-progress": ("progress", dict(action="store_false", default=None, help="no progress bars")),
}


def register(subparsers) -> None:
    p = subparsers.add_parser("train", help="train a model -> checkpoint folder",
                              description="Train a segmentation model on a dataset. The output folder holds the "
                              "best-validation checkpoint, last/ (for --resume), history.jsonl and "
                              "train_config.json. Runs on several GPUs/nodes under `accelerate launch -m "
                              "segcompare train ...`.")
    for flag, (field, kwargs) in OPTIONS.items():
        p.add_argument(flag, dest=field, **kwargs)
    p.add_argument("--dataset-option", action="append", default=[], metavar="KEY=VALUE",
                   help="dataset option, e.g. length=64 for synthetic data (repeatable)")
    p.add_argument("--config", metavar="YAML", help="YAML file of training options (TrainConfig keys)")
    p.set_defaults(func=run)




def config_from_args(args: argparse.Namespace):
    from ..config import load_yaml, normalize_keys, parse_key_values
    from ..formats import read_train_config
    from ..train import TrainConfig

    values: dict = {}
    if args.resume and args.out and (Path(args.out) / "train_config.json").is_file():
        values.update(read_train_config(Path(args.out) / "train_config.json"))
        values.pop("resume", None)
        values.pop("allow_changed_recipe", None)  # allowed once, not for every later resume
    if args.config:
        values.update(normalize_keys(load_yaml(args.config), args.config))
    for field, _ in OPTIONS.values():
        v = getattr(args, field, None)
        if v is not None:
            values[field] = v
    if args.dataset_option:
        extra = parse_key_values(args.dataset_option, "--dataset-option")
        values["dataset_options"] = {**values.get("dataset_options", {}), **extra}
    return TrainConfig.from_dict(values)


def run(args: argparse.Namespace) -> int:
    from ..train import fit

    fit(config_from_args(args))
    return 0
