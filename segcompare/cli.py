"""The `segcompare` command line: a thin layer over the Python API (Contract 5 of docs/DESIGN.md).

Each subcommand lives in its own module under `segcompare/commands/` with two functions:
`register(subparsers)` adds its parser and sets `func`, and the function it sets runs it.
A `UserError` is printed as one line and exits with code 2, without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from .errors import UserError

# Order here is the order in `segcompare --help`.
COMMANDS = ["models", "datasets", "train", "evaluate", "compare", "report", "hub", "export", "benchmark"]


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="segcompare", description="Train, evaluate and compare "
                                     "semantic-segmentation models.")
    parser.add_argument("--version", action="version", version=f"segcompare {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f".commands.{name}", __package__).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `segcompare models | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
