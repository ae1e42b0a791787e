"""What a training run writes into `--out`: train_config.json, history.jsonl, the best checkpoint, `last/`.

Only the main process calls these. Every file goes through its typed format (`segcompare.formats`), which
checks it and writes it atomically; a failed write is one line naming the file (disk full, read-only folder).
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from .checkpoint import save_checkpoint
from .errors import UserError
from .formats import CONFIG_FILE, HISTORY_FILE, CheckpointConfig, History, write_train_config
from .train_setup import Run
from .train_state import Progress, write_last


@contextmanager
def writing(what: str):
    """An OSError while writing `what` becomes one line (the formats raise it bare: they don't know the run)."""
    try:
        yield
    except OSError as e:
        raise UserError(f"cannot write {what}: {e.strerror or e} (disk full or read-only?)") from None


def save_train_config(run: Run) -> None:
    """`train_config.json`: the resolved options, `size` the size trained at (what `--resume` reads back)."""
    with writing(f"to --out {run.out}"):
        write_train_config(run.out, {**run.cfg.to_dict(), "size": list(run.size)})


def save_history(out: Path, history: list[dict]) -> None:
    with writing(str(out / HISTORY_FILE)):
        History(history).write(out)


def checkpoint_meta(run: Run, summary: dict | None = None) -> dict:
    """config.json's data facts (classes, palette, ...), input size and training options (+ summary)."""
    train = run.cfg.to_dict()
    train["size"] = list(run.size)
    if summary is not None:
        train["summary"] = summary
    return {**run.train_ds.info(), "input_size": list(run.size), "train": train}


def save_best(run: Run, summary: dict) -> None:
    save_checkpoint(run.acc.unwrap_model(run.model), run.out, checkpoint_meta(run, summary))


def save_last(run: Run, progress: Progress) -> None:
    model, meta = run.acc.unwrap_model(run.model), checkpoint_meta(run)
    write_last(run.out, lambda d: save_checkpoint(model, d, meta), run.opt, progress.to_state())


def summarize(progress: Progress) -> dict:
    """The run's summary in config.json: best epoch and score, epochs, steps, time, throughput, why it stopped."""
    hist = progress.history
    secs = sum(h["seconds"] for h in hist)
    train_secs = sum(h.get("train_seconds", h["seconds"]) for h in hist)
    imgs = sum(h.get("images", 0) for h in hist)
    return {"best_epoch": progress.best_epoch, "best_val_miou": progress.best_miou, "epochs_run": len(hist),
            "steps": progress.step, "seconds": round(secs, 2),
            "images_per_s": round(imgs / train_secs, 2) if train_secs > 0 else None,
            "stopped": progress.stopped or "completed"}


def update_summary(out: Path, summary: dict) -> None:
    """Put the final summary into the best checkpoint's config.json (its weights stay as they are)."""
    if not (out / CONFIG_FILE).is_file():
        return
    config = CheckpointConfig.read(out)
    config.train = {**(config.train or {}), "summary": summary}
    with writing(str(out / CONFIG_FILE)):
        config.write(out)
