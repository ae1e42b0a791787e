"""Hugging Face Hub, upload side: push a checkpoint with its model card (or its export for another library),
and push the app as a Gradio Space.

The token comes from an explicit argument or huggingface_hub's standard places (HF_TOKEN, `hf auth login`);
it travels only in the Authorization header and is never printed, logged or written to a file.
Uploads are one commit after `create_repo(exist_ok=True)`, so an interrupted push is fixed by running it again.
Only regular files are uploaded: a symbolic link (to a token, a key, /dev/zero) is refused by name.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from .errors import UserError
from .formats import CheckpointConfig, History, Results
from .formats.constants import CONFIG_FILE as CONFIG
from .formats.constants import HISTORY_FILE, RESULTS_FILE, WEIGHTS_FILE
from .hub import CHECKPOINT_FILES, SPACE_CHECKPOINTS, check_repo_id, endpoint, find_token, hub_errors, offline

WEIGHTS = WEIGHTS_FILE
SPACE_FILES = ("app.py", "requirements.txt")
# Spaces front matter segcompare sets (https://huggingface.co/docs/hub/spaces-config-reference).
SPACE_PYTHON = "3.11"
SPACE_HARDWARE = "cpu-basic"  # the app runs on CPU (ONNX Runtime); a GPU only helps training
SPACE_TAGS = ("image-segmentation", "semantic-segmentation", "segcompare", "model-comparison")


def _require_token(token: str | None, action: str) -> str:
    if offline():
        raise UserError(f"{action} needs the network but HF_HUB_OFFLINE is set: unset it and run again")
    found = find_token(token)
    if not found:
        raise UserError(f"{action} needs a Hugging Face token with write access: run `hf auth login` "
                        "(or set HF_TOKEN)")
    return found


def _api(token: str | None):
    from huggingface_hub import HfApi

    return HfApi(endpoint=endpoint(), token=token)


# ----------------------------------------------------------------------------------------------- upload
def _regular(path: Path, base: Path | None = None) -> Path:
    """`path` when it and every folder between `base` and it are real (not symbolic links) and it is a regular
    file; else a UserError naming it. Uploads must never follow a link to a token, a key or /dev/zero."""
    path = Path(path)
    chain = [path]
    if base is not None:
        with contextlib.suppress(ValueError):
            rel = path.relative_to(base)
            chain = [base / Path(*rel.parts[:i]) for i in range(1, len(rel.parts) + 1)]
    for item in chain:
        try:
            mode = os.lstat(item).st_mode
        except OSError as e:
            raise UserError(f"cannot read {item}: {e.strerror or e}") from None
        if stat.S_ISLNK(mode):
            raise UserError(f"refusing to upload {item}: it is a symbolic link (to {os.readlink(item)}); uploads "
                            "copy regular files only, so put the file itself there or remove the link")
    if not stat.S_ISREG(os.lstat(path).st_mode):
        raise UserError(f"refusing to upload {path}: it is not a regular file; remove it from the folder")
    return path


def _add(in_repo: str, path: Path, base: Path | None = None):
    from huggingface_hub import CommitOperationAdd

    return CommitOperationAdd(in_repo, str(_regular(path, base)))


def _present(path: Path) -> bool:
    """Exists as anything, a dangling or hostile link included (so that `_regular` can refuse it by name)."""
    return os.path.lexists(path)


def _sidecars(directory: Path) -> tuple[Results | None, list[dict]]:
    """results.json and history.jsonl for the model card, read by the same readers as everywhere else
    (checked, bounded; a half-written last history line is skipped); links are refused before reading."""
    for name in (RESULTS_FILE, HISTORY_FILE):
        if _present(directory / name):
            _regular(directory / name, directory)
    results = Results.read(directory) if (directory / RESULTS_FILE).is_file() else None
    return results, History.read(directory).rows


def _commit(repo_id: str, operations: list, message: str, token: str, *, repo_type: str = "model",
            private: bool = False, revision: str | None = None, space_sdk: str | None = None) -> str:
    """create_repo(exist_ok) + one commit: re-running after an interruption just completes the upload."""
    api = _api(token)
    with hub_errors(repo_id, revision, "push"):
        api.create_repo(repo_id, repo_type=repo_type, private=True if private else None, exist_ok=True,
                        space_sdk=space_sdk)
        if revision and revision != "main":
            api.create_branch(repo_id, branch=revision, repo_type=repo_type, exist_ok=True)
        info = api.create_commit(repo_id, operations, commit_message=message, repo_type=repo_type,
                                 revision=revision)
    return info.commit_url


def push(checkpoint_dir: str | Path, repo_id: str, *, private: bool = False, revision: str | None = None,
         token: str | None = None, commit_message: str | None = None, fmt: str = "segcompare") -> str:
    """Upload a checkpoint folder and a generated model card to a model repo; returns the commit URL.

    `fmt="transformers"` uploads the SegFormer export instead (`segcompare.export`): a repo that
    `pipeline("image-segmentation")` and the Hub's widget load, no longer a segcompare checkpoint."""
    from .model_card import model_card

    directory = Path(checkpoint_dir)
    if fmt == "transformers":
        return _push_export(directory, repo_id, fmt, private=private, revision=revision, token=token,
                            commit_message=commit_message)
    if fmt != "segcompare":
        from .export import FORMATS

        raise UserError(f"unknown push format {fmt!r}: use segcompare or one of " + ", ".join(FORMATS.names()))
    if _present(directory / CONFIG):
        _regular(directory / CONFIG, directory)
    config = CheckpointConfig.read(directory).to_dict()
    if not _present(directory / WEIGHTS):
        raise UserError(f"{directory / WEIGHTS} is missing: push a complete checkpoint folder")
    check_repo_id(repo_id)
    results, history = _sidecars(directory)
    token = _require_token(token, "push")
    operations = [_add(name, directory / name, directory) for name in CHECKPOINT_FILES
                  if name != "README.md" and _present(directory / name)]
    sample = "sample.png" if any(op.path_in_repo == "sample.png" for op in operations) else None
    card = model_card(config, results, history, repo_id=repo_id, sample=sample)
    operations.append(_add_bytes("README.md", card.encode()))
    return _commit(repo_id, operations, commit_message or f"Upload {config.get('name', 'model')} with segcompare",
                   token, private=private, revision=revision)


def _push_export(directory: Path, repo_id: str, fmt: str, *, private: bool, revision: str | None,
                 token: str | None, commit_message: str | None) -> str:
    from .export import exported
    from .model_card import model_card

    check_repo_id(repo_id)
    for name in (CONFIG, WEIGHTS):  # what the export reads: never through a link
        if _present(directory / name):
            _regular(directory / name, directory)
    config = CheckpointConfig.read(directory).to_dict()
    results, _ = _sidecars(directory)
    token = _require_token(token, "push")
    with exported(directory, fmt) as folder:
        card = model_card({**config, "path": str(directory)}, results,
                          repo_id=repo_id, export_format=fmt)
        operations = [_add(p.name, p, folder) for p in sorted(folder.iterdir()) if p.name != "README.md"]
        operations.append(_add_bytes("README.md", card.encode()))
        return _commit(repo_id, operations, commit_message or f"Upload {config.get('name')} for {fmt}", token,
                       private=private, revision=revision)


def _checkpoint_folders(root: Path) -> list[Path]:
    """`root` itself if it is a checkpoint, else every checkpoint below it (training's `last/` skipped)."""
    if (root / CONFIG).is_file():
        return [root]
    found = sorted(p.parent for p in root.rglob(CONFIG) if "last" not in p.relative_to(root).parts[:-1])
    if not found:
        raise UserError(f"no checkpoint ({CONFIG} + {WEIGHTS}) in {root}: give checkpoint folders or their parent")
    return found


def _checkpoint_operations(dirs: Iterable[str | Path], top: str | None = None) -> tuple[list, list[str]]:
    """Upload operations for checkpoint folders (or their parents) and the Space paths they land in."""
    operations, prefixes = [], []
    for given in map(Path, dirs):
        if not given.is_dir():
            raise UserError(f"checkpoint folder {given} not found")
        for folder in _checkpoint_folders(given):
            _regular(folder / CONFIG, given)
            CheckpointConfig.read(folder)
            # A folder named like the app's default (the embedded demo checkpoints) maps onto it.
            parts = ("checkpoints", top) if top else (
                ("checkpoints",) if given.resolve().name == "checkpoints" else ("checkpoints", given.resolve().name))
            prefix = Path(*parts, folder.relative_to(given)).as_posix()
            prefixes.append(prefix)
            operations += [_add(f"{prefix}/{name}", folder / name, given) for name in CHECKPOINT_FILES
                           if _present(folder / name)]
    return operations, prefixes


def _tree_operations(folder: Path, prefix: str, suffixes: tuple[str, ...] | None = None) -> list:
    operations = []
    _regular_dir(folder)
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if any(part.startswith((".", "__pycache__")) for part in rel.parts):
            continue
        if path.is_symlink():  # a link to a file or a folder: refused by name, never followed
            _regular(path, folder)
        if path.is_file() and (suffixes is None or path.suffix in suffixes):
            operations.append(_add(f"{prefix}/{rel.as_posix()}", path, folder))
    return operations


def _regular_dir(folder: Path) -> None:
    if folder.is_symlink():
        raise UserError(f"refusing to upload {folder}: it is a symbolic link (to {os.readlink(folder)}); uploads "
                        "copy regular files only, so put the folder itself there or remove the link")


def preload_entries(model_repos: Iterable[str]) -> list[str]:
    """`preload_from_hub` lines: each repo's checkpoint files, pinned to a commit when one was given."""
    entries = []
    for spec in model_repos:
        repo, _, revision = spec.partition("@")
        files = ",".join(name for name in CHECKPOINT_FILES if name not in ("README.md", "sample.png"))
        pinned = revision if len(revision) == 40 and all(c in "0123456789abcdef" for c in revision.lower()) else ""
        entries.append(" ".join(x for x in (repo, files, pinned) if x))
    return entries


def space_readme(readme: str, title: str, model_repos: Iterable[str] = ()) -> str:
    """The project README with Spaces front matter completed: sdk gradio, app_file, python_version,
    suggested_hardware, tags, and the model repos the Space shows (`models:`, `preload_from_hub:`)."""
    import yaml

    meta, body = {}, readme
    if readme.startswith("---\n") and "\n---" in readme[4:]:
        head, _, body = readme[4:].partition("\n---")
        meta = yaml.safe_load(head) or {}
        body = body.lstrip("-").lstrip("\n")
    meta.setdefault("title", title)
    meta["sdk"] = "gradio"
    meta["app_file"] = "app.py"
    with contextlib.suppress(Exception):
        from importlib.metadata import version

        meta.setdefault("sdk_version", version("gradio"))
    meta["python_version"] = str(meta.get("python_version") or SPACE_PYTHON)
    meta.setdefault("suggested_hardware", SPACE_HARDWARE)
    meta["tags"] = list(dict.fromkeys([*(meta.get("tags") or []), *SPACE_TAGS]))
    model_repos = list(model_repos)
    if model_repos:
        repos = [r.partition("@")[0] for r in model_repos]
        meta["models"] = list(dict.fromkeys([*(meta.get("models") or []), *repos]))
        meta["preload_from_hub"] = list(dict.fromkeys([*(meta.get("preload_from_hub") or []),
                                                       *preload_entries(model_repos)]))
    return "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---\n\n" + body


def project_root(root: str | Path | None = None) -> Path:
    """Where app.py lives: the given folder, else the working directory, else the source checkout."""
    candidates = [Path(root)] if root else [Path.cwd(), Path(__file__).resolve().parents[1]]
    for candidate in candidates:
        if (candidate / "app.py").is_file():
            return candidate
    raise UserError(f"no app.py in {candidates[0]}: run push-space from the segcompare project folder or pass "
                    "--root")


def _model_repo_spec(spec: str) -> tuple[str, Path | None]:
    """`ID[@REV][=DIR]` -> ("ID[@REV]", DIR or None): DIR is a local copy embedded as the Space's fallback."""
    repo, sep, folder = spec.partition("=")
    check_repo_id(repo.partition("@")[0])
    if sep and not folder:
        raise UserError(f"--model-repos {spec!r}: give the checkpoint folder after '=', e.g. me/unet-pets=ckpt/unet")
    return repo, (Path(folder) if folder else None)


def push_space(repo_id: str, *, checkpoints: Iterable[str | Path] = (), model_repos: Iterable[str] = (),
               root: str | Path | None = None, private: bool = False, token: str | None = None) -> str:
    """Upload the app (app.py, requirements.txt, README.md, assets/, configs/, the package) as a Gradio Space,
    with embedded checkpoint folders and/or model repos (`ID[@REV]`, or `ID[@REV]=DIR` to embed DIR as the
    fallback when the repo is not in the Space's Hub cache); returns the commit URL.

    Model repos are listed in `space_checkpoints.txt` (read by `space_sources`), in the README's `models:`
    (so each model page links the Space) and `preload_from_hub:` (downloaded into the cache at build time)."""
    check_repo_id(repo_id)
    root, checkpoints = project_root(root), list(checkpoints)
    repos = [_model_repo_spec(spec) for spec in model_repos]
    operations = []
    for name in SPACE_FILES:
        if not _present(root / name):
            raise UserError(f"{root / name} is missing: a Space needs {' and '.join(SPACE_FILES)}")
        operations.append(_add(name, root / name, root))
    readme = _regular(root / "README.md", root).read_text() if _present(root / "README.md") else ""
    space = space_readme(readme, repo_id.split("/")[1], [repo for repo, _ in repos])
    operations.append(_add_bytes("README.md", space.encode()))
    for folder in ("assets", "configs"):  # sample images / css, and the demo presets the app may read
        if _present(root / folder):
            _regular_dir(root / folder)
            if (root / folder).is_dir():
                operations += _tree_operations(root / folder, folder)
    # The package source the app imports, from wherever it is installed (never compiled files).
    package = Path(__file__).resolve().parent
    operations += _tree_operations(package, "segcompare", (".py", ".json", ".yaml", ".txt", ".css"))
    if not checkpoints and not repos and (root / "checkpoints").is_dir():
        checkpoints = [root / "checkpoints"]  # the embedded demo checkpoints
    lines = []
    for repo, folder in repos:
        fallback = ""
        if folder is not None:
            if not (folder / CONFIG).is_file():
                raise UserError(f"--model-repos {repo}={folder}: {folder} is not a checkpoint folder (no {CONFIG})")
            ops, [prefix] = _checkpoint_operations([folder], top="hub-fallback/" + repo.partition("@")[0])
            operations += ops
            fallback = f" ./{prefix}"
        lines.append(repo + fallback)
    ops, prefixes = _checkpoint_operations(checkpoints)
    operations += ops
    if repos:  # with repos the Space reads the listing; embedded folders join it as ./PATH lines
        lines += [f"./{prefix}" for prefix in prefixes]
        operations.append(_add_bytes(SPACE_CHECKPOINTS, "".join(f"{x}\n" for x in lines).encode()))
    token = _require_token(token, "push-space")
    return _commit(repo_id, operations, "Upload the segcompare app", token, repo_type="space",
                   private=private, space_sdk="gradio")


def _add_bytes(in_repo: str, data: bytes):
    from huggingface_hub import CommitOperationAdd

    return CommitOperationAdd(in_repo, data)


