"""On-disk dataset families, the folder format, class statistics and `segcompare datasets`.

Each test builds a tiny fake tree in the official layout (as torchvision's dataset tests do) with masks whose
raw values are known, so label mappings can be checked by hand.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from segcompare.cli import main
from segcompare.data import get_dataset
from segcompare.data import loader as L
from segcompare.data.stats import class_stats, class_weights
from segcompare.errors import UserError

W, H = 24, 16


def write_image(path: Path, seed: int = 0, size=(W, H)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)


def write_mask(path: Path, values, size=(W, H)) -> np.ndarray:
    """A mask made of vertical bands, one per value (left to right)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mask = np.zeros((size[1], size[0]), dtype=np.uint8)
    for k, v in enumerate(values):
        mask[:, k * size[0] // len(values):] = v
    Image.fromarray(mask).save(path)
    return mask


# --- fake trees ------------------------------------------------------------------------------------
def make_oxford(root: Path, n_trainval=20, n_test=3) -> Path:
    base = root / "oxford-iiit-pet"
    names = [f"Breed_{i}" for i in range(n_trainval + n_test)]
    for i, n in enumerate(names):
        write_image(base / "images" / f"{n}.jpg", i)
        write_mask(base / "annotations" / "trimaps" / f"{n}.png", [2, 1, 3])  # background, pet, border
    (base / "annotations" / "trainval.txt").write_text(
        "".join(f"{n} 1 1 1\n" for n in names[:n_trainval]))
    (base / "annotations" / "test.txt").write_text("".join(f"{n} 1 1 1\n" for n in names[n_trainval:]))
    return root


def make_cityscapes(root: Path, n_train=10, n_val=2, values=(7, 26, 0, 8)) -> Path:
    for split, n in (("train", n_train), ("val", n_val)):
        for i in range(n):
            city = ("aachen", "bochum")[i % 2]
            stem = f"{city}_{i + 100 * (split == 'val'):06d}_000019"
            write_image(root / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png", i)
            write_mask(root / "gtFine" / split / city / f"{stem}_gtFine_labelIds.png", values)
    return root


def make_bdd(root: Path, n_train=10, n_val=2) -> Path:
    for split, n in (("train", n_train), ("val", n_val)):
        for i in range(n):
            write_image(root / "images" / "100k" / split / f"{i:08x}-{split}.jpg", i)
            write_mask(root / "labels" / "drivable" / "masks" / split / f"{i:08x}-{split}.png", [0, 1, 2])
    return root


def make_folder(root: Path, n=4, classes=("background", "cat", "dog")) -> Path:
    (root).mkdir(parents=True, exist_ok=True)
    (root / "classes.json").write_text(json.dumps({"classes": list(classes), "ignore_index": 255}))
    for split in ("train", "val", "test"):
        for i in range(n):
            write_image(root / split / "images" / f"img{i}.{'png' if i % 2 else 'jpg'}", i)
            write_mask(root / split / "masks" / f"img{i}.png", [0, 1, 2, 255])
    return root


MAKERS = {"oxford-pet": make_oxford, "cityscapes": make_cityscapes, "cityscapes-8": make_cityscapes,
          "bdd100k-drivable": make_bdd, "folder": make_folder}


@pytest.fixture
def tree(tmp_path):
    def build(prefix: str, **kw) -> str:
        root = tmp_path / prefix
        MAKERS[prefix](root, **kw)
        return f"{prefix}:{root}"

    return build


# --- every family -------------------------------------------------------------------------------------
@pytest.mark.parametrize("prefix", sorted(MAKERS))
@pytest.mark.parametrize("cache", [True, False])
def test_items_have_the_contract_types(tree, prefix, cache):
    ds = get_dataset(tree(prefix), "train", size=(8, 12), cache=cache)
    assert len(ds) > 0 and ds.cached == cache
    img, mask = ds[0]
    assert img.dtype == torch.float32 and img.shape == (3, 8, 12)
    assert mask.dtype == torch.int64 and mask.shape == (8, 12)
    values = set(mask.unique().tolist())
    assert values <= set(range(ds.num_classes)) | {255}
    assert len(ds.palette) == ds.num_classes and all(len(c) == 3 for c in ds.palette)
    assert ds.name(0) == get_dataset(tree(prefix), "train").name(0)  # stable names


@pytest.mark.parametrize("prefix", sorted(MAKERS))
def test_cached_and_uncached_items_are_equal(tree, prefix):
    spec = tree(prefix)
    a = get_dataset(spec, "val", size=(8, 12), cache=True)
    b = get_dataset(spec, "val", size=(8, 12), cache=False)
    a.fill_cache()
    for i in range(len(a)):
        assert torch.equal(a[i][0], b[i][0]) and torch.equal(a[i][1], b[i][1])


def test_native_size_and_unnormalized_range(tree):
    ds = get_dataset(tree("folder"), "train", normalize=False)
    img, mask = ds[0]
    assert img.shape == (3, H, W) and mask.shape == (H, W)
    assert 0.0 <= img.min() and img.max() <= 1.0


# --- label mappings ---------------------------------------------------------------------------------------
def band_values(ds, i=0) -> list[int]:
    """The class of each vertical band, left to right (masks are written as bands)."""
    mask = ds.load_mask(i)
    return [int(v) for v in mask[0, [k * W // 4 for k in range(4)]]]


def test_cityscapes_label_ids_to_train_ids(tree):
    ds = get_dataset(tree("cityscapes", values=(7, 26, 0, 8)), "train")
    assert band_values(ds) == [0, 13, 255, 1]  # road, car, unlabeled -> ignore, sidewalk
    assert ds.num_classes == 19 and ds.classes[13] == "car" and ds.palette[0] == [128, 64, 128]


@pytest.mark.parametrize("void, expected, k", [("class", [1, 7, 0, 1], 8), ("ignore", [0, 6, 255, 0], 7)])
def test_cityscapes8_categories(tree, void, expected, k):
    ds = get_dataset(tree("cityscapes-8", values=(7, 26, 0, 8)), "train", void=void)
    assert band_values(ds) == expected  # road -> flat, car -> vehicle, unlabeled -> void
    assert ds.num_classes == k and ds.classes[-1] == "vehicle"


def test_oxford_trimap_mapping(tree):
    ds = get_dataset(tree("oxford-pet"), "train")
    assert ds.classes == ["background", "pet", "boundary"]
    mask = ds.load_mask(0)  # bands written as trimap 2, 1, 3
    assert [int(mask[0, 0]), int(mask[0, W // 3]), int(mask[0, -1])] == [0, 1, 2]
    ign = get_dataset(tree("oxford-pet"), "train", boundary="ignore").load_mask(0)
    assert [int(ign[0, 0]), int(ign[0, W // 3]), int(ign[0, -1])] == [0, 1, 255]


def test_bdd_values_are_kept(tree):
    ds = get_dataset(tree("bdd100k-drivable"), "test")
    mask = ds.load_mask(0)
    assert [int(mask[0, 0]), int(mask[0, W // 3]), int(mask[0, -1])] == [0, 1, 2]
    assert ds.classes == ["direct", "alternative", "background"]


# --- splits ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("prefix, sizes", [("oxford-pet", (18, 2, 3)), ("cityscapes", (9, 1, 2)),
                                           ("bdd100k-drivable", (9, 1, 2)), ("folder", (4, 4, 4))])
def test_split_sizes_and_disjoint_holdout(tree, prefix, sizes):
    spec = tree(prefix)
    splits = [get_dataset(spec, s) for s in ("train", "val", "test")]
    assert tuple(len(d) for d in splits) == sizes
    if prefix != "folder":
        names = [set(d.names) for d in splits]
        assert not names[0] & names[1] and not names[0] & names[2] and not names[1] & names[2]


def test_cityscapes_test_is_the_official_val(tree):
    ds = get_dataset(tree("cityscapes"), "test")
    assert all("/val/" in p.as_posix() for p in ds.images)


def test_oxford_root_may_be_the_inner_folder(tmp_path):
    make_oxford(tmp_path)
    a = get_dataset(f"oxford-pet:{tmp_path}", "test")
    b = get_dataset(f"oxford-pet:{tmp_path / 'oxford-iiit-pet'}", "test")
    assert a.names == b.names and len(a) == 3


def test_oxford_download_uses_torchvision(tmp_path, monkeypatch):
    calls = []

    class FakePet:
        def __init__(self, root, split, target_types, download):
            calls.append((root, download))
            make_oxford(Path(root))

    monkeypatch.setattr("torchvision.datasets.OxfordIIITPet", FakePet)
    ds = get_dataset(f"oxford-pet:{tmp_path}", "val", download=True)
    assert calls == [(str(tmp_path), True)] and len(ds) == 2
    get_dataset(f"oxford-pet:{tmp_path}", "val", download=True)
    assert len(calls) == 1  # already there: no second download


@pytest.mark.parametrize("prefix, where", [("cityscapes", "cityscapes-dataset.com"),
                                           ("bdd100k-drivable", "bdd100k.com")])
def test_login_datasets_say_where_to_get_them(tmp_path, prefix, where):
    with pytest.raises(UserError, match=where):
        get_dataset(f"{prefix}:{tmp_path}", download=True)
    with pytest.raises(UserError, match=where):
        get_dataset(f"{prefix}:{tmp_path / 'nowhere'}")


# --- bad input -------------------------------------------------------------------------------------------
def first_mask(spec_root: Path, prefix: str) -> Path:
    ds = get_dataset(f"{prefix}:{spec_root}", "train")
    return ds.masks[0]


def test_missing_root_and_split(tmp_path, tree):
    with pytest.raises(UserError, match="nowhere"):
        get_dataset(f"folder:{tmp_path / 'nowhere'}")
    spec = tree("folder")
    root = Path(spec.split(":", 1)[1])
    import shutil
    shutil.rmtree(root / "val")
    with pytest.raises(UserError, match="no val split"):
        get_dataset(spec, "val")
    with pytest.raises(UserError, match="needs a folder"):
        get_dataset("folder")


@pytest.mark.parametrize("prefix", sorted(MAKERS))
def test_image_without_mask_is_named(tree, prefix):
    spec = tree(prefix)
    mask = get_dataset(spec, "train").masks[0]
    image = get_dataset(spec, "train").images[0]
    mask.unlink()
    with pytest.raises(UserError, match=image.name):
        get_dataset(spec, "train")


@pytest.mark.parametrize("prefix", sorted(MAKERS))
def test_per_file_problems_name_the_file(tree, prefix):
    spec = tree(prefix)
    ds = get_dataset(spec, "train", cache=False)
    write_mask(ds.masks[0], [2], size=(W + 1, H))  # wrong size
    write_mask(ds.masks[1], [0, 77, 201])  # values outside the classes
    ds.images[2].write_bytes(b"not an image")  # unreadable
    with pytest.raises(UserError, match=f"{ds.masks[0].name}.*{W + 1}x{H}"):
        ds[0]
    with pytest.raises(UserError, match=f"{ds.masks[1].name} has values .*201"):
        ds[1]
    with pytest.raises(UserError, match=f"cannot read image .*{ds.images[2].name}"):
        ds[2]
    report = ds.validate()
    assert len(report["errors"]) == 3 and report["images"] == len(ds)


def test_colour_mask_is_rejected(tree):
    ds = get_dataset(tree("folder"), "train")
    Image.fromarray(np.full((H, W, 3), (10, 20, 30), np.uint8)).save(ds.masks[0])
    with pytest.raises(UserError, match="colour image"):
        ds.load(0)


@pytest.mark.parametrize("meta, match", [({"classes": []}, "non-empty"), ({"classes": ["a", "a"]}, "unique"),
                                         ({"classes": ["a"], "ignore_index": 0}, "ignore_index"),
                                         ({"classes": ["a"], "palette": [[1, 2]]}, "palette")])
def test_bad_classes_json(tree, meta, match):
    spec = tree("folder")
    (Path(spec.split(":", 1)[1]) / "classes.json").write_text(json.dumps(meta))
    with pytest.raises(UserError, match=match):
        get_dataset(spec)


def test_folder_custom_ignore_index_becomes_255(tree):
    spec = tree("folder")
    root = Path(spec.split(":", 1)[1])
    (root / "classes.json").write_text(json.dumps({"classes": ["a", "b", "c"], "ignore_index": 9}))
    write_mask(root / "train" / "masks" / "img0.png", [0, 9])
    assert set(np.unique(get_dataset(spec).load_mask(0)).tolist()) == {0, 255}


def test_unknown_option_lists_valid_ones(tree):
    with pytest.raises(UserError, match="unknown option 'colour'.*cache"):
        get_dataset(tree("folder"), colour=True)
    with pytest.raises(UserError, match="cache must be"):
        get_dataset(tree("folder"), cache="sometimes")


# --- cache and loader -------------------------------------------------------------------------------------
def test_auto_cache_follows_the_size_estimate(tree, monkeypatch):
    spec = tree("folder")
    assert get_dataset(spec, cache="auto").cached
    monkeypatch.setattr(L, "CACHE_LIMIT_BYTES", 4 * W * H * 4 - 1)  # just under 4 images at native size
    assert not get_dataset(spec, cache="auto").cached
    assert get_dataset(spec, size=(4, 4), cache="auto").cached


def test_make_loader_batches_and_seeded_order(tree):
    ds = get_dataset(tree("cityscapes"), "train", size=(8, 8), augment=True)
    runs = []
    for _ in range(2):
        batches = list(L.make_loader(ds, batch_size=4, shuffle=True, workers=0, seed=3, drop_last=True))
        assert len(batches) == 2 and batches[0][0].shape == (4, 3, 8, 8)
        runs.append(torch.cat([b[1] for b in batches]))
    assert torch.equal(runs[0], runs[1])


def test_make_loader_with_workers_matches_main_process(tree):
    ds = get_dataset(tree("bdd100k-drivable"), "train", size=(8, 8))
    one = torch.cat([b[0] for b in L.make_loader(ds, batch_size=3, workers=0)])
    two = torch.cat([b[0] for b in L.make_loader(ds, batch_size=3, workers=2)])
    assert torch.equal(one, two) and ds.cached


# --- statistics --------------------------------------------------------------------------------------------
def test_class_stats_by_hand(tree):
    ds = get_dataset(tree("folder", n=2), "train")  # bands 0,1,2,255 of W/4 columns each
    st = class_stats(ds)
    quarter = H * W // 4
    assert st["pixels"] == [2 * quarter] * 3
    assert st["fraction"] == pytest.approx([1 / 3] * 3)
    assert st["ignored_fraction"] == pytest.approx(0.25) and st["images_with"] == [2, 2, 2]
    assert class_stats(ds, max_images=1)["num_images"] == 1


def test_class_weights_methods():
    stats = {"pixels": [75, 25, 0], "image_pixels": [100, 50, 0]}
    inv = class_weights(stats, "inverse")  # 1/0.75, 1/0.25 -> 4/3, 4 -> mean 1
    assert inv == pytest.approx([0.5, 1.5, 0.0])
    sq = class_weights(stats, "inverse_sqrt")
    assert sq[1] / sq[0] == pytest.approx(3 ** 0.5) and sq[2] == 0
    med = class_weights(stats, "median")  # freq 0.75, 0.5; median 0.625
    assert med[1] / med[0] == pytest.approx(0.75 / 0.5)
    with pytest.raises(UserError, match="inverse_sqrt"):
        class_weights(stats, "log")


# --- the command line ---------------------------------------------------------------------------------------
def test_cli_lists_specs_with_their_layout(capsys):
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    for spec in ("oxford-pet:ROOT", "cityscapes:ROOT", "cityscapes-8:ROOT", "bdd100k-drivable:ROOT",
                 "folder:ROOT"):
        assert spec in out
    assert "gtFine_labelIds.png" in out and "classes.json" in out
    assert main(["datasets", "cityscapes-8"]) == 0
    assert "void=class" in capsys.readouterr().out


def test_cli_stats_table(tree, capsys):
    spec = tree("bdd100k-drivable")
    assert main(["datasets", "--stats", spec, "--split", "test"]) == 0
    out = capsys.readouterr().out
    assert "alternative" in out and "split=test" in out and "%" in out


def test_cli_check_reports_bad_files(tree, capsys):
    spec = tree("folder")
    assert main(["datasets", "--check", spec]) == 0
    assert "OK" in capsys.readouterr().out
    root = Path(spec.split(":", 1)[1])
    (root / "val" / "images" / "img0.jpg").write_bytes(b"garbage")
    assert main(["datasets", "--check", spec]) == 2
    assert "img0.jpg" in capsys.readouterr().err


def test_cli_errors_exit_2(tmp_path, capsys):
    assert main(["datasets", "--stats", f"cityscapes:{tmp_path}"]) == 2
    assert "cityscapes-dataset.com" in capsys.readouterr().err
    assert main(["datasets", "--stats", "nosuch:x"]) == 2
    assert main(["datasets", "--stats", f"cityscapes-8:{tmp_path}", "-o", "void"]) == 2


def test_cli_download(tmp_path, monkeypatch, capsys):
    class FakePet:
        def __init__(self, root, split, target_types, download):
            make_oxford(Path(root))

    monkeypatch.setattr("torchvision.datasets.OxfordIIITPet", FakePet)
    assert main(["datasets", "--download", f"oxford-pet:{tmp_path}"]) == 0
    assert "test: 3 images" in capsys.readouterr().out
    assert main(["datasets", "--download", f"bdd100k-drivable:{tmp_path}"]) == 2
    assert "bdd100k.com" in capsys.readouterr().err


@pytest.mark.parametrize("mode, ext", [("L", "jpg"), ("CMYK", "jpg"), ("RGBA", "png"), ("P", "png")])
def test_any_image_mode_loads_as_rgb(tree, mode, ext):
    spec = tree("folder")
    root = Path(spec.split(":", 1)[1])
    for old in (root / "train" / "images").glob("img0.*"):
        old.unlink()
    Image.new("RGB", (W, H), (200, 100, 50)).convert(mode).save(root / "train" / "images" / f"img0.{ext}")
    for size in (None, (4, 6)):  # (4, 6) lets JPEG decode at reduced scale
        img, mask = get_dataset(spec, size=size, normalize=False, cache=False)[0]
        assert img.shape[0] == 3 and img.shape[1:] == mask.shape


def test_folder_test_from_val_carves_the_end_of_val_in_name_order(tmp_path):
    """CamVid ships train/val only: test_from_val=F takes the last fraction F of val (frames in time order)."""
    import shutil

    root = make_folder(tmp_path / "camvid", n=5)
    shutil.rmtree(root / "test")
    spec = f"folder:{root}"
    with pytest.raises(UserError, match="no test split"):
        get_dataset(spec, "test")
    val = get_dataset(spec, "val", test_from_val=0.4)
    test = get_dataset(spec, "test", test_from_val=0.4)
    assert [val.name(i) for i in range(len(val))] == ["img0", "img1", "img2"]
    assert [test.name(i) for i in range(len(test))] == ["img3", "img4"]
    assert len(get_dataset(spec, "train", test_from_val=0.4)) == 5  # train is untouched
    with pytest.raises(UserError, match="test_from_val must be a fraction between 0 and 1"):
        get_dataset(spec, "test", test_from_val=1.5)
