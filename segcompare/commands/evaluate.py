"""`segcompare evaluate`: a checkpoint on a dataset split -> results.json (Contract 4)."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser("evaluate", help="evaluate a checkpoint on a dataset split -> results.json",
                              description="Evaluate a checkpoint on a dataset split and write results.json: "
                              "mIoU, per-class metrics, boundary IoU, per-image scores, ROC/PR curves, "
                              "calibration, size, latency and (optionally) robustness to corruptions.")
    p.add_argument("--checkpoint", required=True, metavar="DIR|REPO",
                   help="checkpoint folder (config.json + model.safetensors) or Hub repo id")
    p.add_argument("--dataset", required=True, metavar="SPEC", help="dataset spec, e.g. folder:ROOT")
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--out", default="results.json", metavar="FILE", help="results file (default results.json)")
    p.add_argument("--size", nargs=2, type=int, metavar=("H", "W"),
                   help="evaluation size (default: the checkpoint's input_size)")
    p.add_argument("--boundary-px", type=int, default=3, metavar="PX",
                   help="width of the band around ground-truth edges for boundary IoU (default 3)")
    p.add_argument("--robustness", action="store_true",
                   help="also measure mIoU under 7 corruptions x 3 severities")
    p.add_argument("--robustness-images", type=int, metavar="N",
                   help="use only the first N images for the robustness sweep")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ... (default cpu)")
    p.add_argument("--max-images", type=int, metavar="N", help="evaluate only the first N images")
    p.add_argument("--no-latency", action="store_true", help="skip the latency measurement")
    p.add_argument("--remap", metavar="NAME|FILE",
                   help="evaluate on a coarser label set: cityscapes19-to-8, or a JSON file "
                   '{"mapping": [...], "classes": [...]}')
    p.add_argument("--seed", type=int, default=0, help="seed of the pixel sample and corruption noise")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import UserError
    from ..evaluation import evaluate, summary_line, write_results

    for flag in ("max_images", "robustness_images"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise UserError(f"--{flag.replace('_', '-')} must be >= 1, got {value}")
    results = evaluate(args.checkpoint, args.dataset, split=args.split, size=args.size,
                       boundary_px=args.boundary_px, robustness=args.robustness, latency=not args.no_latency,
                       device=args.device, batch_size=args.batch_size, max_images=args.max_images,
                       robustness_images=args.robustness_images, remap=args.remap, seed=args.seed)
    path = write_results(results, args.out)
    print(summary_line(results, path))
    return 0
