"""`segcompare export`: a checkpoint in another library's format (SegFormer -> transformers)."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    from ..export import FORMATS

    p = subparsers.add_parser("export", help="write a checkpoint in another library's format",
                              description="Write a checkpoint in another library's own format. transformers: a "
                              "SegFormer checkpoint as config.json (id2label/label2id), model.safetensors and "
                              "preprocessor_config.json, which SegformerForSemanticSegmentation.from_pretrained "
                              "and pipeline('image-segmentation') load.")
    p.add_argument("--checkpoint", required=True, metavar="DIR|ID", help="checkpoint folder or Hub repo id")
    p.add_argument("--out", required=True, metavar="DIR", help="folder to write")
    p.add_argument("--format", dest="fmt", default="transformers", choices=FORMATS.names(),
                   help="target format (default transformers)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..export import export

    out = export(args.checkpoint, args.out, args.fmt)
    print(f"exported {args.checkpoint} for {args.fmt} into {out}: "
          + ", ".join(sorted(p.name for p in out.iterdir())))
    return 0
