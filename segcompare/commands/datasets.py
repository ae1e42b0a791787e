"""`segcompare datasets`: list the dataset specs and their on-disk layout; statistics, checks and downloads.

    segcompare datasets                              every spec and what it expects on disk
    segcompare datasets oxford-pet                   one spec in full
    segcompare datasets --stats SPEC [--split S]     pixel share per class (S: train, val, test or all)
    segcompare datasets --check SPEC [--split S]     read every file of the split(s) and list the problems
    segcompare datasets --download SPEC              fetch the data where the source allows it
Dataset options go as `-o KEY=VALUE` (e.g. `-o void=ignore` for cityscapes-8).
"""

from __future__ import annotations

import argparse
import inspect
import sys

from ..config import parse_key_values
from ..errors import UserError

SPLIT_CHOICES = ("train", "val", "test", "all")


def register(subparsers) -> None:
    p = subparsers.add_parser("datasets", help="list datasets; class statistics, checks, downloads",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", nargs="?", help="show one dataset spec prefix in full")
    act = p.add_mutually_exclusive_group()
    act.add_argument("--stats", metavar="SPEC", help="print the class frequencies of a split")
    act.add_argument("--check", metavar="SPEC", help="read every file of a split and report problems")
    act.add_argument("--download", metavar="SPEC", help="download the dataset where the source allows it")
    p.add_argument("--split", choices=SPLIT_CHOICES, default=None,
                   help="split for --stats (default train) and --check (default all)")
    p.add_argument("--max-images", type=int, default=None,
                   help="--stats: use at most N images, evenly spread")
    p.add_argument("-o", "--option", action="append", default=[], metavar="KEY=VALUE",
                   help="dataset option, repeatable (e.g. void=ignore, val_every=5, cache=false)")
    p.set_defaults(func=run)




def splits(choice: str | None, default: str) -> list[str]:
    choice = choice or default
    return ["train", "val", "test"] if choice == "all" else [choice]


def run(args) -> int:
    options = parse_key_values(args.option, "--option")
    if args.stats:
        return show_stats(args.stats, splits(args.split, "train"), args.max_images, options)
    if args.check:
        return check(args.check, splits(args.split, "all"), options)
    if args.download:
        return download(args.download, options)
    return list_specs(args.name)


def list_specs(name: str | None) -> int:
    from ..data import DATASETS, list_datasets

    names = [name] if name else list_datasets()
    for prefix in names:
        builder = DATASETS.get(prefix)
        spec = f"{prefix}:ROOT" if getattr(builder, "needs_root", False) else prefix
        doc = inspect.cleandoc(builder.__doc__ or "(no description)")
        print(spec)
        print("\n".join("    " + line if line else "" for line in doc.splitlines()))
        print()
    return 0


def show_stats(spec: str, split_names: list[str], max_images: int | None, options: dict) -> int:
    from ..data import get_dataset
    from ..data.stats import class_stats, format_stats

    for i, split in enumerate(split_names):
        # Statistics read each mask once: a cache would only cost memory.
        ds = get_dataset(spec, split, **with_file_options(spec, options, cache=False))
        print(("\n" if i else "") + format_stats(class_stats(ds, max_images)))
    return 0


def on_disk(spec: str) -> bool:
    from ..data import DATASETS, parse_spec

    return getattr(DATASETS.get(parse_spec(spec)[0]), "needs_root", False)


def with_file_options(spec: str, options: dict, **extra) -> dict:
    """Add options that only the on-disk families understand (the generated ones have no files)."""
    return {**options, **extra} if on_disk(spec) else options


def check(spec: str, split_names: list[str], options: dict) -> int:
    from ..data import get_dataset

    problems = 0
    for split in split_names:
        try:
            ds = get_dataset(spec, split, **options)
        except UserError as e:
            print(f"{split}: {e}", file=sys.stderr)
            problems += 1
            continue
        report = ds.validate()
        for line in report["errors"]:
            print(f"{split}: {line}", file=sys.stderr)
        problems += len(report["errors"])
        print(f"{split}: {report['images']} images, {len(report['errors'])} problems")
    if problems:
        raise UserError(f"{spec}: {problems} problem(s) found (listed above)")
    print(f"{spec}: OK")
    return 0



def download(spec: str, options: dict) -> int:
    from ..data import get_dataset

    if not on_disk(spec):
        raise UserError(f"{spec} is generated on the fly: there is nothing to download")
    for split in ("train", "val", "test"):
        ds = get_dataset(spec, split, **with_file_options(spec, options, download=True, cache=False))
        print(f"{split}: {len(ds)} images")
    print(f"{spec}: ready")
    return 0
