"""Will a training run fit in memory? An estimate before the first step, so an impossible config fails in a second
with the batch size that would fit, instead of being killed by the operating system (or CUDA) mid-epoch.

Estimate = weights + gradients + optimizer state (from the parameter counts) + activations kept for the backward
pass, measured as the outputs of every leaf module in one forward pass of a single image at the training size
(batch 1, no gradients), times the batch size. It ignores allocator overhead and the backward pass's transient
buffers, so it errs low: a run it refuses would not have fit.
"""

from __future__ import annotations

import torch

from .errors import UserError

GIB = 2**30
# optimizer state per trainable parameter, in parameter-sized tensors
OPTIMIZER_STATES = {"adamw": 2, "adam": 2, "sgd": 1}


def state_bytes(model: torch.nn.Module, optimizer: str, amsgrad: bool = False) -> int:
    """Weights, gradients and optimizer state."""
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    trainable = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    states = OPTIMIZER_STATES.get(optimizer, 2) + (1 if amsgrad and optimizer != "sgd" else 0)
    return weights + trainable * (1 + states)


def activation_bytes(model: torch.nn.Module, size: tuple[int, int]) -> int:
    """Bytes of the leaf modules' outputs for one image at `size` (what backward keeps, roughly)."""
    total = 0

    def add(module, inputs, output):
        nonlocal total
        if getattr(module, "inplace", False):  # shares its input's storage
            return
        tensors = output if isinstance(output, (tuple, list)) else [output]
        total += sum(t.numel() * t.element_size() for t in tensors if isinstance(t, torch.Tensor))

    leaves = [m for m in model.modules() if not list(m.children())]
    hooks = [m.register_forward_hook(add) for m in leaves]
    was_training = model.training
    device = next(model.parameters()).device
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, 3, *size, device=device))
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    return total


def available_bytes(device: torch.device) -> int | None:
    """Free memory on the device (GPU: CUDA's free memory; CPU: what the OS can give); None if unknown."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        import psutil
    except ImportError:
        return None
    return int(psutil.virtual_memory().available)


def largest_batch(state: int, per_image: int, available: int) -> int:
    return max(0, (available - state) // max(per_image, 1))


def check_fits(model: torch.nn.Module, name: str, size: tuple[int, int], batch_size: int, optimizer: str,
               device: torch.device, amsgrad: bool = False, mixed_precision: str = "no",
               available: int | None = None) -> dict:
    """Refuse a run that cannot fit (UserError naming the batch size that would); -> the estimate in bytes."""
    available = available_bytes(device) if available is None else available
    state = state_bytes(model, optimizer, amsgrad)
    per_image = activation_bytes(model, size) // (2 if mixed_precision in ("fp16", "bf16") else 1)
    need = state + per_image * batch_size
    estimate = {"state": state, "per_image": per_image, "need": need, "available": available}
    if available is None or need <= available:
        return estimate
    where = "GPU" if device.type == "cuda" else "memory"
    fits = largest_batch(state, per_image, available)
    fix = (f"use --batch-size {fits} (or a smaller --size)" if fits >= 1 else
           f"even batch 1 needs {(state + per_image) / GIB:.1f} GiB: use a smaller --size or a smaller model")
    raise UserError(f"{name} at {size[0]}x{size[1]} with batch {batch_size} needs about {need / GIB:.1f} GiB to "
                    f"train but {available / GIB:.1f} GiB of {where} are free: {fix}")
