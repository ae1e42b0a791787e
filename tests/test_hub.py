"""Hub: load from a pre-built cache offline, model card metadata, push / pull / push-space against a fake Hub
on 127.0.0.1 (tests/hub_server.py), one-line errors, and the token never showing up anywhere."""

import json
import logging
import re
import shutil

import pytest
import torch
import yaml
from helpers import write_checkpoint
from hub_server import FakeHub
from huggingface_hub import ModelCard, constants

from segcompare import build_model, load_model
from segcompare import hub as H
from segcompare import publish as P
from segcompare.cli import main
from segcompare.errors import UserError
from segcompare.model_card import dataset_name, model_card

TOKEN = "hf_fake_valid_token"
MODEL = "linknet_tu-mobilenetv3_small_050"  # 0.4 M parameters: fast to save, send and load
CLASSES = ["background", "cat", "dog"]
# A complete results.json (push reads it with the same checked reader as the report and the app).
RESULTS = {"format": "segcompare-results/1", "model": MODEL, "dataset": "oxford-pet:/home/me/data/pets",
           "split": "test",
           "classes": CLASSES, "confusion_matrix": [[90, 5, 5], [20, 50, 30], [40, 40, 20]],
           "per_image": {"names": ["a.jpg", "b.jpg"]}, "num_images": 2,
           "miou": 0.61234, "pixel_accuracy": 0.9012, "boundary_iou": 0.4, "per_class_iou": [0.9, 0.5, None],
           "per_class_precision": [0.95, 0.6, 0.1], "per_class_recall": [0.93, 0.55, 0.2],
           "latency_ms": {"device": "cpu", "batch": 1, "p50": 12.5}}
HISTORY = [{"epoch": 1, "train_loss": 1.0, "val_miou": 0.3}, {"epoch": 2, "train_loss": 0.8, "val_miou": 0.45}]


def front_matter(text: str) -> dict:
    assert text.startswith("---\n")
    return yaml.safe_load(text[4:].split("\n---\n", 1)[0])


def model_index_metrics(meta: dict) -> dict:
    [entry] = meta["model-index"]
    [result] = entry["results"]
    assert result["task"]["type"] == "image-segmentation"
    return {m["type"]: m["value"] for m in result["metrics"]}


@pytest.fixture
def hub_env(tmp_path, monkeypatch):
    """Empty cache, online, no token from this machine's login, endpoint a closed port unless a test sets one."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    return tmp_path


@pytest.fixture
def fake_hub(hub_env, monkeypatch):
    with FakeHub(tokens=[TOKEN]) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        yield server


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model(MODEL, len(CLASSES)).eval()


@pytest.fixture(scope="module")
def reference(model):
    return logits(model)


@pytest.fixture
def checkpoint(tmp_path, model):
    meta = {"classes": CLASSES, "dataset": "oxford-pet:/home/me/data/pets", "train": {"epochs": 2, "lr": 0.001}}
    d = write_checkpoint(tmp_path / "ckpt", model, meta=meta, results=RESULTS, history=HISTORY)
    (d / "sample.png").write_bytes(b"\x89PNG fake sample")
    return d


def logits(m, seed=1):
    with torch.no_grad():
        return m(torch.randn(2, 3, 37, 45, generator=torch.Generator().manual_seed(seed)))


def populate_cache(cache, repo_id, files_dir, sha="a" * 40, refs=("main",)):
    """The layout huggingface_hub writes: models--org--name/refs/<ref> + snapshots/<sha>/<files>."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    shutil.copytree(files_dir, repo / "snapshots" / sha)
    (repo / "refs").mkdir(parents=True)
    for ref in refs:
        (repo / "refs" / ref).write_text(sha)
    return repo


# ----------------------------------------------------------------------------------------------- offline cache
@pytest.mark.parametrize("revision, flag", [(None, "1"), ("v1", "1"), ("a" * 40, "1"), (None, "0")])
def test_load_model_from_cache_offline_gives_identical_logits(hub_env, checkpoint, reference, monkeypatch, revision,
                                                              flag):
    """HF_HUB_OFFLINE=1, or a Hub that cannot be reached (hub_env's endpoint is a closed port): the cache serves."""
    populate_cache(hub_env / "hf-cache", "org/name", checkpoint, refs=("main", "v1"))
    monkeypatch.setenv("HF_HUB_OFFLINE", flag)
    loaded, config = load_model("org/name", revision=revision)
    assert torch.equal(logits(loaded), reference)
    assert config["classes"] == CLASSES and config["checkpoint"].startswith("org/name")


def test_offline_with_empty_cache_is_one_line(hub_env, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UserError, match=r"org/missing is not in the local cache .*HF_HUB_OFFLINE") as e:
        load_model("org/missing")
    assert "\n" not in str(e.value) and "segcompare pull" in str(e.value)
    assert main(["pull", "--repo", "org/missing", "--out", str(hub_env / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Hub repo org/missing") and err.count("\n") == 1 and "Traceback" not in err


def test_cached_repo_without_config_is_refused(hub_env, tmp_path, monkeypatch):
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "README.md").write_text("not a checkpoint")
    populate_cache(hub_env / "hf-cache", "org/other", tmp_path / "other")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UserError, match="has no config.json"):
        H.resolve("org/other")


@pytest.mark.parametrize("bad", ["just-a-name", "a/b/c", "org/bad name", "org/-x-"])
def test_bad_repo_id(hub_env, checkpoint, bad):
    with pytest.raises(UserError, match="not a Hub repo id"):
        P.push(checkpoint, bad, token=TOKEN)


# ----------------------------------------------------------------------------------------------- model card
def test_model_card_metadata_and_body(checkpoint):
    config = json.loads((checkpoint / "config.json").read_text())
    text = model_card(config, RESULTS, HISTORY, repo_id="me/unet-pets", sample="sample.png")
    meta = front_matter(text)
    assert meta["library_name"] == "segcompare" and meta["datasets"] == ["timm/oxford-iiit-pet"]
    assert {"semantic-segmentation", "segcompare", "linknet"} <= set(meta["tags"])
    assert model_index_metrics(meta) == {"mean_iou": 0.6123, "accuracy": 0.9012, "boundary_iou": 0.4}
    assert meta["model-index"][0]["results"][0]["dataset"]["split"] == "test"
    # huggingface_hub's own parser accepts it (what the Hub does on upload)
    card = ModelCard(text)
    assert card.data.eval_results[0].metric_value == 0.6123
    assert "| cat | 50.00 | 60.00 | 55.00 |" in text and "| dog | n/a | 10.00 | 20.00 |" in text
    assert "![sample prediction](sample.png)" in text and 'load_model("me/unet-pets")' in text
    assert '"lr": 0.001' in text and "/home/me" not in text


def test_model_card_without_results_uses_best_validation_miou(checkpoint):
    config = json.loads((checkpoint / "config.json").read_text())
    meta = front_matter(model_card(config, None, HISTORY))
    assert model_index_metrics(meta) == {"mean_iou": 0.45}
    assert meta["model-index"][0]["results"][0]["dataset"]["split"] == "validation"
    assert "model-index" not in front_matter(model_card(config))
    assert "Sample prediction" not in model_card(config)


@pytest.mark.parametrize("spec, name", [("oxford-pet:/data/pets", "oxford-pet"), ("folder:/data/roads/", "roads"),
                                        ("synthetic-streets", "synthetic-streets"), (None, "unknown")])
def test_dataset_name(spec, name):
    assert dataset_name(spec) == name


# ----------------------------------------------------------------------------------------------- push / pull
def test_push_sends_checkpoint_and_card_then_pull_and_load(fake_hub, checkpoint, reference, hub_env, monkeypatch,
                                                           capsys):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    assert main(["push", "--checkpoint", str(checkpoint), "--repo", "me/pets", "--private"]) == 0
    assert capsys.readouterr().out.startswith(f"pushed {checkpoint} to me/pets: {fake_hub.url}/me/pets/commit/")
    [commit] = fake_hub.commits("me/pets")
    assert set(commit["files"]) == {"config.json", "model.safetensors", "results.json", "history.jsonl",
                                    "sample.png", "README.md"}
    for name in ("config.json", "model.safetensors", "results.json", "history.jsonl", "sample.png"):
        assert commit["files"][name] == (checkpoint / name).read_bytes()
    assert model_index_metrics(front_matter(commit["files"]["README.md"].decode()))["mean_iou"] == 0.6123
    create = next(r for r in fake_hub.requests if r["path"] == "/api/repos/create")
    assert json.loads(create["body"]) == {"name": "pets", "organization": "me", "visibility": "private",
                                        "type": "model"}
    assert all(r["headers"]["authorization"] == f"Bearer {TOKEN}" for r in fake_hub.requests)

    out = hub_env / "pulled"
    assert main(["pull", "--repo", "me/pets", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(commit["files"])
    assert (out / "model.safetensors").read_bytes() == (checkpoint / "model.safetensors").read_bytes()
    # now cached: loads with the network off, same logits
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    loaded, _ = load_model("me/pets")
    assert torch.equal(logits(loaded), reference)


def test_push_to_branch_and_pull_pinned_revision(fake_hub, checkpoint, hub_env):
    P.push(checkpoint, "me/pets", token=TOKEN)
    (checkpoint / "results.json").write_text(json.dumps({**RESULTS, "miou": 0.7}))
    url = P.push(checkpoint, "me/pets", revision="dev", token=TOKEN)
    assert any(r["path"] == "/api/models/me/pets/branch/dev" for r in fake_hub.requests)
    assert [c["branch"] for c in fake_hub.commits("me/pets")] == ["main", "dev"]
    assert json.loads(fake_hub.files("me/pets", "main")["results.json"])["miou"] == RESULTS["miou"]
    main_dir = H.pull("me/pets", hub_env / "main")
    dev_dir = H.pull("me/pets", hub_env / "dev", revision=url.rsplit("/", 1)[1])
    assert json.loads((main_dir / "results.json").read_text())["miou"] == RESULTS["miou"]
    assert json.loads((dev_dir / "results.json").read_text())["miou"] == 0.7


def test_interrupted_push_can_be_run_again(fake_hub, checkpoint, monkeypatch):
    real_commit = fake_hub.server.RequestHandlerClass._commit

    def fail_once(self, *args):
        monkeypatch.setattr(fake_hub.server.RequestHandlerClass, "_commit", real_commit)
        return self._error(503, None, "Service Unavailable")

    monkeypatch.setattr(fake_hub.server.RequestHandlerClass, "_commit", fail_once)
    with pytest.raises(UserError, match="503.*safe to repeat"):
        P.push(checkpoint, "me/pets", token=TOKEN)
    assert fake_hub.commits("me/pets") == []
    P.push(checkpoint, "me/pets", token=TOKEN)  # repo exists now: create_repo(exist_ok) + commit again
    assert "model.safetensors" in fake_hub.files("me/pets")


def test_push_without_token_is_one_line_and_sends_nothing(fake_hub, checkpoint, capsys):
    assert main(["push", "--checkpoint", str(checkpoint), "--repo", "me/pets"]) == 2
    err = capsys.readouterr().err
    assert err == "error: push needs a Hugging Face token with write access: run `hf auth login` (or set HF_TOKEN)\n"
    assert fake_hub.requests == []


def test_push_offline_is_refused(hub_env, checkpoint, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UserError, match="HF_HUB_OFFLINE is set"):
        P.push(checkpoint, "me/pets", token=TOKEN)


def test_pull_repo_not_found(fake_hub, hub_env, capsys):
    assert main(["pull", "--repo", "me/nothing-here", "--out", str(hub_env / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Hub repo me/nothing-here not found at") and err.count("\n") == 1


def test_push_unreachable_hub_is_one_line(hub_env, checkpoint):
    with pytest.raises(UserError, match=r"cannot reach the Hub at http://127.0.0.1:9 .*safe to repeat"):
        P.push(checkpoint, "me/pets", token=TOKEN)


@pytest.mark.parametrize("tail, ok", [('{"epoch": 3, "train_lo', True), ('{"epoch": 3}\n', True),
                                      ('not json\n{"epoch": 3}\n', False)])
def test_push_reads_history_with_the_one_tolerance(fake_hub, checkpoint, tail, ok):
    """Like the report and the app: a half-written LAST line (a killed run) is skipped, an earlier one refused."""
    (checkpoint / "history.jsonl").write_text("".join(json.dumps(r) + "\n" for r in HISTORY) + tail)
    if ok:
        P.push(checkpoint, "me/pets", token=TOKEN)
        card = fake_hub.files("me/pets")["README.md"].decode()
        epochs = len({r["epoch"] for r in HISTORY}) + (tail.endswith("\n"))
        assert f"Trained for {epochs} epochs" in card
    else:
        with pytest.raises(UserError, match="line 3 is not JSON"):
            P.push(checkpoint, "me/pets", token=TOKEN)
        assert ("model", "me/pets") not in fake_hub.repos  # refused before anything was sent


def test_push_of_a_folder_that_is_not_a_checkpoint(hub_env, tmp_path):
    with pytest.raises(UserError, match="config.json is missing"):
        P.push(tmp_path, "me/pets", token=TOKEN)


@pytest.mark.parametrize("good", [True, False])
def test_token_never_appears_in_output_logs_or_files(fake_hub, checkpoint, monkeypatch, capsys, caplog, good):
    secret = TOKEN if good else "hf_wrong_secret_token_123"
    monkeypatch.setattr(constants, "HF_DEBUG", True)  # log every request as a curl line (headers included)
    hf_logger = logging.getLogger("huggingface_hub")
    monkeypatch.setattr(hf_logger, "level", logging.DEBUG)
    hf_logger.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.DEBUG):
            code = main(["push", "--checkpoint", str(checkpoint), "--repo", "me/pets", "--token", secret])
    finally:
        hf_logger.removeHandler(caplog.handler)
    out, err = capsys.readouterr()
    assert code == (0 if good else 2)
    if not good:
        assert err.startswith("error: the Hub rejected the token (401)")
    assert any("Send: curl" in r.getMessage() and "authorization" in r.getMessage().lower()
               for r in caplog.records)  # the most verbose logging did run
    logged = "\n".join(r.getMessage() for r in caplog.records)
    sent = b"".join(b for c in fake_hub.repos.get(("model", "me/pets"), type("R", (), {"commits": []})).commits
                    for b in c["files"].values())
    on_disk = b"".join(p.read_bytes() for p in checkpoint.rglob("*") if p.is_file())
    for text in (out, err, logged):
        assert secret not in text
    assert secret.encode() not in sent and secret.encode() not in on_disk


# ----------------------------------------------------------------------------------------------- push-space
@pytest.fixture
def project(tmp_path):
    root = tmp_path / "project"
    (root / "assets" / "samples").mkdir(parents=True)
    (root / "app.py").write_text("import segcompare\n")
    (root / "requirements.txt").write_text("torch\n")
    (root / "README.md").write_text("---\ntitle: Seg demo\nemoji: 🐱\n---\n\n# segcompare\n")
    (root / "assets" / "samples" / "cat.png").write_bytes(b"png")
    (root / "assets" / ".DS_Store").write_bytes(b"junk")
    (root / "configs").mkdir()
    (root / "configs" / "demo.yaml").write_text("models: []\n")
    return root


@pytest.mark.parametrize("source", ["model-repos", "checkpoints"])
def test_push_space(fake_hub, project, checkpoint, monkeypatch, source):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    extra = (["--model-repos", "me/pets", "me/streets@v1"] if source == "model-repos"
             else ["--checkpoints", str(checkpoint)])
    assert main(["push-space", "--repo", "me/demo", "--root", str(project), *extra]) == 0
    create = json.loads(next(r for r in fake_hub.requests if r["path"] == "/api/repos/create")["body"])
    assert create["type"] == "space" and create["sdk"] == "gradio"
    [commit] = fake_hub.commits("me/demo", "space")
    files = commit["files"]
    assert {"app.py", "requirements.txt", "README.md", "assets/samples/cat.png", "configs/demo.yaml",
            "segcompare/__init__.py",
            "segcompare/hub.py", "segcompare/commands/hub.py"} <= set(files)
    assert not any(p.endswith(".pyc") or "__pycache__" in p or ".DS_Store" in p for p in files)
    meta = front_matter(files["README.md"].decode())
    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py" and meta["title"] == "Seg demo"
    assert files["README.md"].decode().endswith("# segcompare\n")
    if source == "model-repos":
        assert files[H.SPACE_CHECKPOINTS].decode() == "me/pets\nme/streets@v1\n"
        assert meta["models"] == ["me/pets", "me/streets"]
        assert not any(p.startswith("checkpoints/") for p in files)
    else:
        assert files["checkpoints/ckpt/model.safetensors"] == (checkpoint / "model.safetensors").read_bytes()
        assert "checkpoints/ckpt/config.json" in files and H.SPACE_CHECKPOINTS not in files


def test_push_space_needs_app(fake_hub, tmp_path):
    with pytest.raises(UserError, match="no app.py"):
        P.push_space("me/demo", root=tmp_path, token=TOKEN)


# ----------------------------------------------------------------------------------------------- spaces conventions
def test_push_space_front_matter_as_the_hub_reads_it(fake_hub, project, checkpoint, hub_env):
    """models:, preload_from_hub:, python_version, suggested_hardware, tags: keys and types per the Spaces
    config reference (https://huggingface.co/docs/hub/spaces-config-reference)."""
    pin = "b" * 40
    P.push_space("me/demo", root=project, model_repos=["me/pets", f"me/streets@{pin}", f"me/cats={checkpoint}"],
                 checkpoints=[checkpoint], token=TOKEN)
    files = fake_hub.files("me/demo", repo_type="space")
    meta = front_matter(files["README.md"].decode())
    assert meta["models"] == ["me/pets", "me/streets", "me/cats"]
    assert all(isinstance(m, str) for m in meta["models"])
    wanted = "config.json,model.safetensors,results.json,history.jsonl"
    assert meta["preload_from_hub"] == [f"me/pets {wanted}", f"me/streets {wanted} {pin}", f"me/cats {wanted}"]
    assert isinstance(meta["python_version"], str) and meta["python_version"] == "3.11"
    assert meta["suggested_hardware"] == "cpu-basic" and meta["emoji"] == "🐱"
    assert {"image-segmentation", "segcompare"} <= set(meta["tags"])
    assert all(isinstance(t, str) for t in meta["tags"])
    listing = files[H.SPACE_CHECKPOINTS].decode().splitlines()
    assert listing == ["me/pets", f"me/streets@{pin}", "me/cats ./checkpoints/hub-fallback/me/cats",
                       "./checkpoints/ckpt"]
    embedded = files["checkpoints/hub-fallback/me/cats/model.safetensors"]
    assert embedded == (checkpoint / "model.safetensors").read_bytes()
    assert "checkpoints/ckpt/config.json" in files


def test_space_loads_models_from_hub_cache_else_embedded(hub_env, checkpoint, tmp_path, monkeypatch):
    """The pushed Space's app: a listed repo from the Hub cache (preload_from_hub put it there), else its
    embedded copy; the app's catalog lists what it found."""
    from segcompare.catalog import discover

    space = tmp_path / "space"
    shutil.copytree(checkpoint, space / "checkpoints" / "hub-fallback" / "me" / "cats")
    shutil.copytree(checkpoint, space / "checkpoints" / "plain")
    (space / H.SPACE_CHECKPOINTS).write_text("me/pets\nme/cats ./checkpoints/hub-fallback/me/cats\n"
                                             "./checkpoints/plain\n")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("SEGCOMPARE_CHECKPOINTS", raising=False)
    cache = hub_env / "hf-cache"
    populate_cache(cache, "me/pets", checkpoint)
    sources = H.space_sources(space)
    assert sources[0].startswith(str(cache / "models--me--pets" / "snapshots"))
    assert sources[1:] == [str(space / "checkpoints/hub-fallback/me/cats"), str(space / "checkpoints/plain")]
    catalog = discover(sources)
    assert sum(len(t.models) for t in catalog.tasks) == 3, catalog
    # once cached, the repo wins over the embedded copy
    populate_cache(cache, "me/cats", checkpoint)
    assert H.space_sources(space)[1].startswith(str(cache / "models--me--cats"))
    # an explicit $SEGCOMPARE_CHECKPOINTS, or no listing, leaves the app's own default
    monkeypatch.setenv("SEGCOMPARE_CHECKPOINTS", "elsewhere")
    assert H.space_sources(space) == []
    monkeypatch.delenv("SEGCOMPARE_CHECKPOINTS")
    assert H.space_sources(tmp_path) == []


# ----------------------------------------------------------------------------------------------- regular files only
@pytest.mark.parametrize("name", ["sample.png", "results.json", "history.jsonl", "model.safetensors", "config.json"])
def test_push_refuses_a_symlinked_checkpoint_file(fake_hub, checkpoint, tmp_path, name):
    secret = tmp_path / "token"
    secret.write_text(TOKEN)
    (checkpoint / name).unlink()
    (checkpoint / name).symlink_to(secret)
    with pytest.raises(UserError, match=re.escape(f"refusing to upload {checkpoint / name}: it is a symbolic link")):
        P.push(checkpoint, "me/pets", token=TOKEN)
    assert fake_hub.requests == []  # refused before anything is sent


def test_push_refuses_a_dangling_link_and_a_fifo(fake_hub, checkpoint):
    import os

    (checkpoint / "sample.png").unlink()
    (checkpoint / "sample.png").symlink_to("/nonexistent/x")
    with pytest.raises(UserError, match="sample.png: it is a symbolic link"):
        P.push(checkpoint, "me/pets", token=TOKEN)
    (checkpoint / "sample.png").unlink()
    os.mkfifo(checkpoint / "sample.png")
    with pytest.raises(UserError, match="sample.png: it is not a regular file"):
        P.push(checkpoint, "me/pets", token=TOKEN)


@pytest.mark.parametrize("where", ["assets/samples/key.png", "configs/x.yaml", "README.md", "app.py",
                                   "assets/samples", "assets"])
def test_push_space_refuses_symlinks_by_name(fake_hub, project, tmp_path, where):
    secret = tmp_path / "id_rsa"
    secret.write_text("PRIVATE KEY")
    link = project / where
    if link.exists():
        shutil.rmtree(link) if link.is_dir() else link.unlink()
    link.symlink_to(secret if "." in link.name else tmp_path)
    with pytest.raises(UserError, match=re.escape(f"refusing to upload {link}: it is a symbolic link")):
        P.push_space("me/demo", root=project, token=TOKEN)
    assert not any(b"PRIVATE KEY" in r["body"] for r in fake_hub.requests)


def test_push_space_refuses_a_symlinked_embedded_checkpoint_file(fake_hub, project, checkpoint, tmp_path):
    secret = tmp_path / "token"
    secret.write_text(TOKEN)
    (checkpoint / "sample.png").unlink()
    (checkpoint / "sample.png").symlink_to(secret)
    with pytest.raises(UserError, match="sample.png: it is a symbolic link"):
        P.push_space("me/demo", root=project, checkpoints=[checkpoint], token=TOKEN)
    assert not any(TOKEN.encode() in r["body"] for r in fake_hub.requests)
