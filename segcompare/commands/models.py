"""`segcompare models`: every listed model name with its display name, library and parameter count."""

from __future__ import annotations


def register(sub) -> None:
    from ..zoo import LIBRARY_NAMES

    p = sub.add_parser("models", help="list the model zoo (name, display name, library, parameters)")
    p.add_argument("pattern", nargs="?", default=None, help="shell-style filter, e.g. 'unet_*'")
    p.add_argument("--library", choices=LIBRARY_NAMES)
    p.add_argument("--num-classes", type=int, default=21, help="head size used to count parameters")
    p.add_argument("--no-params", action="store_true", help="skip building each model to count parameters")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..models import build_model
    from ..zoo import list_models, model_facts

    names = list_models(args.pattern, args.library)
    print(f"{'name':40} {'display name':36} {'library':13} {'params':>10} {'size MB':>8}")
    for name in names:
        facts = model_facts(name)
        params = size = ""
        if not args.no_params:
            m = _build_cheaply(build_model, name, args.num_classes)
            params, size = f"{m.num_params() / 1e6:.2f}M", f"{m.size_mb():.1f}"
        print(f"{name:40} {facts.display_name:36} {facts.library:13} {params:>10} {size:>8}", flush=True)
    print(f"{len(names)} models. smp architectures accept any smp encoder as ARCH_ENCODER "
          "(see segmentation_models_pytorch.encoders.get_encoder_names()).")
    return 0


def _build_cheaply(build_model, name: str, num_classes: int):
    """On the meta device (no memory, no init) when the library allows it, else on the CPU."""
    import torch

    try:
        with torch.device("meta"):
            return build_model(name, num_classes)
    except (RuntimeError, NotImplementedError):
        return build_model(name, num_classes)
