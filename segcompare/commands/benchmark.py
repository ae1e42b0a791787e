"""`segcompare benchmark`: the performance suite (`python -m benchmarks` of a source checkout)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ..errors import UserError

ROOT = Path(__file__).resolve().parents[2]


def register(sub) -> None:
    p = sub.add_parser("benchmark", help="run the performance suite and write benchmarks/results.md")
    p.add_argument("--quick", action="store_true", help="fewer repetitions, no torch.compile")
    p.add_argument("--only", nargs="+", choices=["inference", "app", "metrics", "evaluate", "train", "data"],
                   help="run only these benchmarks")
    p.add_argument("--threads", type=int, default=None, help="torch / ONNX Runtime threads (default: up to 2)")
    p.add_argument("--out", default=None, help="markdown file to write (default: benchmarks/results.md)")
    p.add_argument("--data", default=None, help="real photos for the training-defaults goal: a folder with camvid/ "
                   "and oxford-pet/ (default: ../shared/data)")
    p.add_argument("--recipe-seeds", type=int, default=None, help="training runs per side for that goal (mean)")
    p.set_defaults(func=run)


def run(args) -> int:
    if not (ROOT / "benchmarks" / "__main__.py").is_file():
        raise UserError(f"the benchmark suite is not in {ROOT}: it ships with a source checkout of segcompare "
                        "(git clone, then run `segcompare benchmark` there)")
    cmd = [sys.executable, "-m", "benchmarks"]
    if args.quick:
        cmd.append("--quick")
    if args.only:
        cmd += ["--only", *args.only]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    if args.out:
        cmd += ["--out", str(Path(args.out).resolve())]
    if args.data:
        cmd += ["--data", str(Path(args.data).resolve())]
    if args.recipe_seeds:
        cmd += ["--recipe-seeds", str(args.recipe_seeds)]
    return subprocess.call(cmd, cwd=ROOT)
