"""Hugging Face Hub: push a checkpoint with its model card, pull one, resolve `org/name` through the cache,
and push the app as a Gradio Space.

huggingface_hub reads HF_ENDPOINT, HF_HUB_CACHE and HF_HUB_OFFLINE once, at import; this module reads them
again at call time (falling back to the library's values), so a setting made later in the process counts.
The token comes from an explicit argument or huggingface_hub's standard places (HF_TOKEN, `hf auth login`);
it travels only in the Authorization header and is never printed, logged or written to a file.
Uploads are one commit after `create_repo(exist_ok=True)`, so an interrupted push is fixed by running it again.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path

from .checkpoint import CONFIG, WEIGHTS, read_config
from .errors import UserError

# What a checkpoint repo holds (Contract 2); README.md is generated on push.
CHECKPOINT_FILES = (CONFIG, WEIGHTS, "results.json", "history.jsonl", "README.md", "sample.png")
SPACE_FILES = ("app.py", "requirements.txt")
SPACE_CHECKPOINTS = "space_checkpoints.txt"  # what the Space's app.py loads: `REPO[@REV] [./FALLBACK]` or `./PATH`
# Spaces front matter segcompare sets (https://huggingface.co/docs/hub/spaces-config-reference).
SPACE_PYTHON = "3.11"
SPACE_HARDWARE = "cpu-basic"  # the app runs on CPU (ONNX Runtime); a GPU only helps training
SPACE_TAGS = ("image-segmentation", "semantic-segmentation", "segcompare", "model-comparison")


# ----------------------------------------------------------------------------------------------- settings
def _env_true(name: str) -> bool | None:
    value = os.environ.get(name)
    return None if value is None else value.strip().upper() in {"1", "ON", "YES", "TRUE"}


def endpoint() -> str:
    from huggingface_hub import constants

    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def cache_dir() -> str:
    from huggingface_hub import constants

    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(name):
            return os.path.expanduser(os.environ[name])
    if os.environ.get("HF_HOME"):
        return os.path.join(os.path.expanduser(os.environ["HF_HOME"]), "hub")
    return constants.HF_HUB_CACHE


def offline() -> bool:
    from huggingface_hub import constants

    flag = _env_true("HF_HUB_OFFLINE")
    flag = _env_true("TRANSFORMERS_OFFLINE") if flag is None else flag
    return constants.HF_HUB_OFFLINE if flag is None else flag


def find_token(token: str | None = None) -> str | None:
    """An explicit token, else HF_TOKEN, else the one `hf auth login` stored."""
    from huggingface_hub import get_token

    return token or get_token()


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


def check_repo_id(repo_id: str) -> str:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError:
        repo_id = None
    if not repo_id or repo_id.count("/") != 1:
        raise UserError(f"{repo_id!r} is not a Hub repo id: use NAMESPACE/NAME, e.g. my-user/unet-pets")
    return repo_id


# ----------------------------------------------------------------------------------------------- errors
@contextlib.contextmanager
def hub_errors(repo_id: str, revision: str | None = None, action: str = "download") -> Iterator[None]:
    """Turn huggingface_hub / network exceptions into one-line `UserError`s (never quoting the token)."""
    import httpx2
    from huggingface_hub import errors as E

    where = repo_id + (f"@{revision}" if revision else "")
    try:
        yield
    except E.GatedRepoError:
        raise UserError(f"Hub repo {repo_id} is gated: accept its terms on the Hub, then log in with "
                        "`hf auth login`") from None
    except E.RepositoryNotFoundError:
        hint = ("check the id and that your token may write to that namespace" if action != "download" else
                "check the id; if it is private, log in with `hf auth login` (or set HF_TOKEN)")
        raise UserError(f"Hub repo {repo_id} not found at {endpoint()}: {hint}") from None
    except E.RevisionNotFoundError:
        raise UserError(f"revision {revision!r} not found in Hub repo {repo_id}: give an existing branch, tag "
                        "or commit") from None
    except E.IncompleteSnapshotError:
        raise UserError(f"the cached copy of {where} in {cache_dir()} is incomplete and the Hub cannot be "
                        "reached: connect and run `segcompare pull` again") from None
    except (E.LocalEntryNotFoundError, E.OfflineModeIsEnabled):
        why = "HF_HUB_OFFLINE is set" if offline() else f"{endpoint()} cannot be reached"
        raise UserError(f"Hub repo {where} is not in the local cache {cache_dir()} and {why}: connect to the "
                        f"internet and run `segcompare pull --repo {repo_id} --out DIR`, or use a local "
                        "checkpoint folder") from None
    except E.HfHubHTTPError as e:
        status = e.response.status_code if e.response is not None else "?"
        if status == 401:
            raise UserError(f"the Hub rejected the token (401) for {action} of {repo_id}: log in again with "
                            "`hf auth login` (or set HF_TOKEN)") from None
        if status == 403:
            raise UserError(f"no permission to {action} {repo_id} (403): use a token with write access to "
                            "that namespace") from None
        server = (e.server_message or "").splitlines()[0][:200] if e.server_message else ""
        raise UserError(f"the Hub answered {status} to {action} of {where}"
                        + (f" ({server})" if server else "") + "; re-run the command, it is safe to repeat") from None
    except (httpx2.HTTPError, ConnectionError) as e:
        raise UserError(f"cannot reach the Hub at {endpoint()} ({type(e).__name__}) to {action} {where}: check "
                        "the connection and run the command again, it is safe to repeat") from None


# ----------------------------------------------------------------------------------------------- download
def resolve(repo_id: str, revision: str | None = None) -> Path:
    """Local folder of a checkpoint repo in huggingface_hub's cache (downloaded if needed and online)."""
    from huggingface_hub import snapshot_download

    check_repo_id(repo_id)
    with hub_errors(repo_id, revision, "download"):
        path = Path(snapshot_download(repo_id, revision=revision, allow_patterns=list(CHECKPOINT_FILES),
                                      cache_dir=cache_dir(), endpoint=endpoint(), local_files_only=offline()))
    if not (path / CONFIG).is_file():
        raise UserError(f"Hub repo {repo_id} has no {CONFIG}: it is not a segcompare checkpoint (push one with "
                        "`segcompare push`)")
    return path


def pull(repo_id: str, out: str | Path, revision: str | None = None) -> Path:
    """Download (or take from the cache) a checkpoint repo and copy its files into the folder `out`."""
    snapshot = resolve(repo_id, revision)
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name in CHECKPOINT_FILES:
            if (snapshot / name).is_file():
                tmp = out / f".{name}.part"
                shutil.copyfile(snapshot / name, tmp)  # follows the cache's symlink to the blob
                os.replace(tmp, out / name)
    except OSError as e:
        raise UserError(f"cannot write {out}: {e.strerror or e}") from None
    return out


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


def _read_json(path: Path):
    try:
        return json.loads(path.read_text()) if path.is_file() else None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{path} is not valid JSON ({e}); fix or remove it before pushing") from None


def _read_history(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    rows = []
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                raise UserError(f"{path} line {i} is not JSON; fix or remove it before pushing") from None
    return rows


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
    config = read_config(directory)
    if not _present(directory / WEIGHTS):
        raise UserError(f"{directory / WEIGHTS} is missing: push a complete checkpoint folder")
    check_repo_id(repo_id)
    for name in ("results.json", "history.jsonl"):  # read for the card: refused before they are read
        if _present(directory / name):
            _regular(directory / name, directory)
    results, history = _read_json(directory / "results.json"), _read_history(directory / "history.jsonl")
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
    for name in (CONFIG, WEIGHTS, "results.json"):  # what the export reads: never through a link
        if _present(directory / name):
            _regular(directory / name, directory)
    config = read_config(directory)
    token = _require_token(token, "push")
    with exported(directory, fmt) as folder:
        card = model_card({**config, "path": str(directory)}, _read_json(directory / "results.json"),
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
            read_config(folder)
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


# ----------------------------------------------------------------------------------------------- the Space
def space_sources(root: str | Path) -> list[str]:
    """What a pushed Space shows: each listed repo from the Hub cache when it is there (preloaded at build time),
    else its embedded fallback folder, else the repo id (downloaded when online); embedded `./PATH` folders.
    [] without `space_checkpoints.txt` or when $SEGCOMPARE_CHECKPOINTS is set (the app's usual default applies)."""
    root = Path(root)
    listing = root / SPACE_CHECKPOINTS
    if os.environ.get("SEGCOMPARE_CHECKPOINTS", "").strip() or not listing.is_file():
        return []
    sources = []
    for line in listing.read_text().splitlines():
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        if words[0].startswith("./"):
            sources.append(str(root / words[0][2:]))
            continue
        repo, _, revision = words[0].partition("@")
        cached = _cached(repo, revision or None)
        fallback = root / words[1][2:] if len(words) > 1 and words[1].startswith("./") else None
        if cached is not None:
            sources.append(str(cached))
        elif fallback is not None and (fallback / CONFIG).is_file():
            sources.append(str(fallback))
        elif revision:  # the app takes plain ids: download the pinned revision here (or let the app list the error)
            try:
                sources.append(str(resolve(repo, revision)))
            except UserError:
                sources.append(repo)
        else:
            sources.append(repo)
    return sources


def _cached(repo_id: str, revision: str | None) -> Path | None:
    """The repo's snapshot folder in the local Hub cache, without touching the network; None when absent."""
    from huggingface_hub import snapshot_download

    try:
        path = Path(snapshot_download(repo_id, revision=revision, allow_patterns=list(CHECKPOINT_FILES),
                                      cache_dir=cache_dir(), local_files_only=True))
    except Exception:  # not cached (or a broken cache entry): the caller falls back
        return None
    return path if (path / CONFIG).is_file() else None
