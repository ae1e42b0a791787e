"""`segcompare compare`: train + evaluate every model of an experiment YAML, then write the leaderboard."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser("compare", help="train + evaluate the models of a config, then report",
                              description="Train and evaluate every model listed in an experiment config (YAML, "
                              "format in segcompare/config.py) on the same data, then write the leaderboard "
                              "and report.")
    p.add_argument("--config", required=True, metavar="YAML", help="experiment config, e.g. configs/demo-pets.yaml")
    p.add_argument("--only", nargs="+", metavar="RUN", help="only these runs (run names or model names)")
    p.add_argument("--skip-existing", action="store_true",
                   help="keep runs that have results.json; resume interrupted ones")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N")
    p.add_argument("--epochs", type=int, metavar="N", help="override every run's epochs (smoke runs)")
    p.add_argument("--max-steps", type=int, metavar="N", help="override every run's step limit (smoke runs)")
    p.add_argument("--dataset-root", metavar="DIR",
                   help="replace the ROOT of the config's dataset spec (or set SEGCOMPARE_DATASET_ROOT)")
    p.add_argument("--no-report", action="store_true", help="train and evaluate only")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..compare import compare

    paths = compare(args.config, only=args.only, skip_existing=args.skip_existing, device=args.device,
                    epochs=args.epochs, max_steps=args.max_steps, dataset_root=args.dataset_root,
                    report=not args.no_report)
    print(f"{len(paths)} results: " + " ".join(str(p) for p in paths))
    return 0
