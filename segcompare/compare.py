"""`compare`: train and evaluate every model of an experiment config on the same data, then report.

For each run of the YAML (format in `segcompare.config`): `fit` into OUTPUT/<run> -> `evaluate` on the
configured split -> `OUTPUT/<run>/results.json`; finally `segcompare.report.write_report` over all results.
With `skip_existing`, a run that already has results.json is kept, a finished checkpoint without results is only
evaluated, and an interrupted run (last/ present) is resumed.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .config import Experiment, Run, load_experiment
from .errors import UserError
from .formats.constants import CONFIG_FILE, WEIGHTS_FILE

FP16_TOLERANCE = 0.001  # 0.1 mIoU point


def run_config(exp: Experiment, run: Run, device: str, overrides: dict) -> dict:
    return {**exp.train, **run.options, "dataset": exp.dataset, "out": str(exp.run_dir(run)), "device": device,
            "dataset_options": {**exp.dataset_options, **exp.train.get("dataset_options", {}),
                                **run.options.get("dataset_options", {})}, **overrides}


def finished(run_dir: Path) -> bool:
    from .formats import CheckpointConfig

    try:
        config = CheckpointConfig.read(run_dir)  # bounded and typed: a damaged config means "not finished"
    except UserError:
        return False
    return bool(((config.train or {}).get("summary") or {}).get("finished"))


def train_run(exp: Experiment, run: Run, device: str, overrides: dict, skip_existing: bool) -> Path:
    from .train import TrainConfig, fit
    from .train_state import find_last

    out = exp.run_dir(run)
    if skip_existing and finished(out):
        print(f"[{run.name}] checkpoint exists, not retrained: {out}", file=sys.stderr)
        return out
    options = run_config(exp, run, device, overrides)
    if skip_existing and find_last(out) is not None:
        options["resume"] = True
    else:
        options["overwrite"] = True
    return fit(TrainConfig.from_dict(options))


def record_provenance(run_dir: Path, provenance: dict) -> None:
    """Write the experiment's `provenance:` into the checkpoint's config.json (evaluate copies it to results)."""
    from .formats import CheckpointConfig

    config = CheckpointConfig.read(run_dir)
    config.provenance = dict(provenance)
    config.write(run_dir)


def evaluate_run(exp: Experiment, run_dir: Path, device: str, run: Run | None = None) -> Path:
    from .evaluation import evaluate, summary_line, write_results

    opts = dict(exp.evaluate)
    fp16 = bool(opts.pop("fp16_weights", False))
    opts.setdefault("split", "test")
    if run is not None:  # the run's own dataset options (e.g. cityscapes-8 {void: ignore}) score it
        opts["dataset_options"] = run_config(exp, run, device, {})["dataset_options"]
    dev = "cuda" if device in ("auto", "cuda") and _cuda() else ("cpu" if device == "auto" else device)
    results = evaluate(str(run_dir), exp.dataset, device=dev, **opts)
    if fp16:
        results = maybe_fp16(run_dir, exp.dataset, results, dev, opts)
    if run is not None and run.name in exp.published:
        results["published_miou"] = exp.published[run.name] / 100  # a fraction, like `miou`
    path = write_results(results, run_dir / "results.json")
    print(summary_line(results, path), file=sys.stderr)
    return path


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def maybe_fp16(run_dir: Path, dataset: str, results: dict, device: str, opts: dict) -> dict:
    """Re-save the weights as fp16 when that moves test mIoU by less than 0.1 point; -> the results to keep."""
    import tempfile

    from .checkpoint import load_model, save_checkpoint
    from .evaluation import evaluate
    from .files import atomic_write_files

    model, config = load_model(run_dir)
    meta = {k: v for k, v in config.items() if k not in ("format", "name", "library", "num_classes", "params",
                                                         "dtype", "created", "checkpoint", "path")}
    with tempfile.TemporaryDirectory(dir=run_dir.parent) as tmp:
        save_checkpoint(model, tmp, meta, dtype=_half())
        quick = {**opts, "robustness": False, "latency": False}
        half = evaluate(tmp, dataset, device=device, progress=False, **quick)
        delta = abs((half["miou"] or 0) - (results["miou"] or 0))
        if delta >= FP16_TOLERANCE:
            print(f"fp16 weights change mIoU by {100 * delta:.2f} points: kept fp32", file=sys.stderr)
            return results
        # weights and config change together (both or neither), as save_checkpoint writes them
        atomic_write_files({run_dir / name: (Path(tmp) / name).read_bytes() for name in (WEIGHTS_FILE, CONFIG_FILE)})
    print(f"re-saved {run_dir} as fp16 (mIoU change {100 * delta:.3f} points)", file=sys.stderr)
    results["size_mb"] = round(sum(p.numel() for p in model.state_dict().values()) * 2 / 2**20, 3)
    results["weights_dtype"] = "float16"
    return results


def _half():
    import torch

    return torch.float16


def select_runs(exp: Experiment, only: list[str] | None) -> list[Run]:
    if not only:
        return exp.runs
    known = {r.name for r in exp.runs} | {r.options["model"] for r in exp.runs}
    bad = [o for o in only if o not in known]
    if bad:
        from .registry import unknown

        raise UserError(unknown("run", bad[0], known) + f" (in {exp.path})")
    return [r for r in exp.runs if r.name in only or r.options["model"] in only]


def compare(config_path: str | Path, only: list[str] | None = None, skip_existing: bool = False,
            device: str = "auto", epochs: int | None = None, max_steps: int | None = None,
            dataset_root: str | None = None, report: bool = True) -> list[Path]:
    """Train + evaluate every selected run, then write the report; -> the results.json paths."""
    exp = load_experiment(config_path, dataset_root)
    runs = select_runs(exp, only)
    overrides = {k: v for k, v in (("epochs", epochs), ("max_steps", max_steps)) if v is not None}
    if overrides and skip_existing:
        print("note: --epochs/--max-steps with --skip-existing: finished runs are kept as they are",
              file=sys.stderr)
    paths, failed = [], []
    for i, run in enumerate(runs):
        print(f"[{i + 1}/{len(runs)}] {exp.name}: {run.name}", file=sys.stderr)
        try:
            paths.append(run_once(exp, run, device, overrides, skip_existing))
        except (UserError, RuntimeError, OSError) as e:  # one broken run must not lose the finished ones
            print(f"[{run.name}] failed: {e}", file=sys.stderr)
            failed.append(f"{run.name} ({str(e).splitlines()[0] if str(e) else type(e).__name__})")
    if exp.samples and paths:
        export_gallery(exp)
    if report and exp.report and paths:
        write_report(paths, exp.report)
    if failed:
        raise UserError(f"{len(failed)} of {len(runs)} runs failed: {'; '.join(failed)}"
                        + (f"; the others are reported in {exp.report}" if report and exp.report and paths else "")
                        + "; fix them and re-run with --skip-existing")
    return paths


def run_once(exp: Experiment, run: Run, device: str, overrides: dict, skip_existing: bool) -> Path:
    """Train (or resume, or skip) and evaluate one run; -> its results.json."""
    run_dir = exp.run_dir(run)
    if skip_existing and (run_dir / "results.json").is_file() and finished(run_dir):
        print(f"[{run.name}] results exist, skipped: {run_dir / 'results.json'}", file=sys.stderr)
        return run_dir / "results.json"
    run_dir = train_run(exp, run, device, overrides, skip_existing)
    if exp.provenance:
        record_provenance(run_dir, exp.provenance)
    return evaluate_run(exp, run_dir, device, run)


def export_gallery(exp: Experiment) -> None:
    """Test images + ground truth for the app's gallery, at the size the models were trained on."""
    from .samples import export_samples

    size = exp.train.get("size")
    written = export_samples(exp.dataset, exp.samples["dir"], count=int(exp.samples.get("count", 8)),
                             split=exp.samples.get("split", "test"), size=tuple(size) if size else None,
                             **exp.dataset_options)
    print(f"samples: {len(written)} images -> {exp.samples['dir']}", file=sys.stderr)


def write_report(paths: list[Path], out_dir: str) -> None:
    from .report import write_report as write

    write([str(p) for p in paths], out_dir)
    print(f"report -> {out_dir}", file=sys.stderr)
