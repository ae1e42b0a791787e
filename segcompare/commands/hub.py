"""`segcompare push | pull | push-space`: checkpoints and the app on the Hugging Face Hub.

The token comes from `hf auth login` or HF_TOKEN (or `--token`, which is discouraged: shells keep history);
it is never printed. A push that was interrupted is completed by running the same command again.
"""

from __future__ import annotations

import argparse

TOKEN_HELP = ("Hugging Face token (default: HF_TOKEN or the one `hf auth login` stored; prefer those, "
              "a token on the command line ends up in shell history)")


def register(subparsers) -> None:
    p = subparsers.add_parser("push", help="upload a checkpoint folder and a generated model card to the Hub",
                              description="Upload config.json, model.safetensors, results.json, history.jsonl, "
                              "sample.png (those present) and a generated README.md model card to a model repo.")
    p.add_argument("--checkpoint", required=True, metavar="DIR", help="checkpoint folder")
    p.add_argument("--repo", required=True, metavar="ID", help="model repo id, e.g. my-user/unet-pets")
    p.add_argument("--private", action="store_true", help="create the repo private (ignored if it exists)")
    p.add_argument("--revision", metavar="BRANCH", help="branch to commit to (created if missing; default main)")
    p.add_argument("--format", dest="fmt", default="segcompare", choices=["segcompare", "transformers"],
                   help="segcompare (default): the checkpoint as is; transformers: a SegFormer checkpoint exported "
                   "for pipeline('image-segmentation') (see `segcompare export`)")
    p.add_argument("--token", metavar="TOKEN", help=TOKEN_HELP)
    p.set_defaults(func=run_push)

    p = subparsers.add_parser("pull", help="download a checkpoint repo from the Hub into a folder",
                              description="Download a checkpoint repo into huggingface_hub's cache (or take it "
                              "from there when offline) and copy its files into --out.")
    p.add_argument("--repo", required=True, metavar="ID", help="model repo id, e.g. my-user/unet-pets")
    p.add_argument("--out", required=True, metavar="DIR", help="folder to copy the checkpoint files into")
    p.add_argument("--revision", metavar="REV", help="branch, tag or commit (default main)")
    p.set_defaults(func=run_pull)

    p = subparsers.add_parser("push-space", help="upload the app as a Gradio Space",
                              description="Upload app.py, requirements.txt, README.md (Spaces front matter), "
                              "assets/, the segcompare package and either checkpoint folders or a "
                              "space_checkpoints.txt naming model repos, as a Gradio Space.")
    p.add_argument("--repo", required=True, metavar="ID", help="Space id, e.g. my-user/segcompare-demo")
    p.add_argument("--checkpoints", nargs="+", default=[], metavar="DIR",
                   help="checkpoint folders (or their parent) to embed (default without --model-repos: the "
                   "project's checkpoints/)")
    p.add_argument("--model-repos", nargs="+", default=[], metavar="ID[@REV][=DIR]",
                   help="model repos the Space shows (listed in its README's models: and preload_from_hub:, "
                   "loaded from its Hub cache); =DIR embeds that checkpoint folder as the fallback")
    p.add_argument("--root", metavar="DIR", help="project folder with app.py (default: the current folder)")
    p.add_argument("--private", action="store_true", help="create the Space private (ignored if it exists)")
    p.add_argument("--token", metavar="TOKEN", help=TOKEN_HELP)
    p.set_defaults(func=run_push_space)


def run_push(args: argparse.Namespace) -> int:
    from ..publish import push

    url = push(args.checkpoint, args.repo, private=args.private, revision=args.revision, token=args.token,
               fmt=args.fmt)
    print(f"pushed {args.checkpoint} to {args.repo}" + (f"@{args.revision}" if args.revision else "") + f": {url}")
    return 0


def run_pull(args: argparse.Namespace) -> int:
    from ..hub import pull

    out = pull(args.repo, args.out, revision=args.revision)
    files = sorted(p.name for p in out.iterdir() if p.is_file() and not p.name.startswith("."))
    print(f"pulled {args.repo}" + (f"@{args.revision}" if args.revision else "") + f" into {out}: "
          + ", ".join(files))
    return 0


def run_push_space(args: argparse.Namespace) -> int:
    from ..publish import push_space

    url = push_space(args.repo, checkpoints=args.checkpoints, model_repos=args.model_repos, root=args.root,
                     private=args.private, token=args.token)
    print(f"pushed the app to Space {args.repo}: {url}")
    return 0
