"""`segcompare report`: results.json files -> leaderboard.csv/.md, figures and one offline report.html."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser("report", help="compare results files: leaderboard, figures, report.html",
                              description="Compare models evaluated on the same data: write leaderboard.csv, "
                              "leaderboard.md, one HTML file per figure and a self-contained report.html "
                              "(opens offline), and print the leaderboard.")
    p.add_argument("--results", required=True, nargs="+", metavar="PATH",
                   help="results.json files, checkpoint folders holding one, or folders of checkpoint folders")
    p.add_argument("--out", default="report", metavar="DIR", help="output folder (default ./report)")
    p.add_argument("--bootstrap", type=int, default=2000, metavar="N",
                   help="bootstrap replicates for the 'is the difference real?' verdicts (default 2000)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import UserError
    from ..report import write_report

    if args.bootstrap < 100:
        raise UserError(f"--bootstrap must be >= 100, got {args.bootstrap}")
    path = write_report(args.results, args.out, n_boot=args.bootstrap)
    print((path.parent / "leaderboard.md").read_text(encoding="utf-8"), end="")
    print(f"report: {path}")
    return 0
