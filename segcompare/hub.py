"""Hugging Face Hub, download side: resolve `org/name` through the cache, pull a checkpoint, and list what a
pushed Space shows. Uploads (push, push-space) are in `segcompare.publish`, which builds on this module.

huggingface_hub reads HF_ENDPOINT, HF_HUB_CACHE and HF_HUB_OFFLINE once, at import; this module reads them
again at call time (falling back to the library's values), so a setting made later in the process counts.
The token comes from an explicit argument or huggingface_hub's standard places (HF_TOKEN, `hf auth login`);
it travels only in the Authorization header and is never printed, logged or written to a file.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from .errors import UserError
from .formats.constants import CONFIG_FILE as CONFIG
from .formats.constants import HISTORY_FILE, RESULTS_FILE, WEIGHTS_FILE

# What a checkpoint repo holds (Contract 2); README.md is generated on push.
CHECKPOINT_FILES = (CONFIG, WEIGHTS_FILE, RESULTS_FILE, HISTORY_FILE, "README.md", "sample.png")
SPACE_CHECKPOINTS = "space_checkpoints.txt"  # what the Space's app.py loads: `REPO[@REV] [./FALLBACK]` or `./PATH`


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
