"""evaluate(): results against independent computations, curves by hand, corruptions, remap, CLI."""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from segcompare import calibration as C
from segcompare import metrics as M
from segcompare import robustness as R
from segcompare.cli import main
from segcompare.data import TAXONOMIES
from segcompare.errors import UserError
from segcompare.evaluation import (
    FORMAT,
    check_results,
    evaluate,
    metric_fields,
    remap_results,
    resolve_remap,
    write_results,
)

CLASSES = ["bg", "cat", "dog"]
CONTRACT_KEYS = ["format", "model", "checkpoint", "dataset", "split", "classes", "num_images", "input_size",
                 "confusion_matrix", "miou", "per_class_iou", "pixel_accuracy", "mean_accuracy",
                 "per_class_precision", "per_class_recall", "per_class_f1", "boundary_iou", "per_image",
                 "params", "size_mb", "latency_ms", "created", "segcompare_version"]


def write_folder(root, n=6, size=32, seed=0):
    """folder:ROOT test split: squares of cat and dog on background, a row of ignore; red = class * 100."""
    rng = np.random.default_rng(seed)
    (root / "test" / "images").mkdir(parents=True)
    (root / "test" / "masks").mkdir(parents=True)
    (root / "classes.json").write_text(json.dumps({"classes": CLASSES, "ignore_index": 255}))
    for i in range(n):
        mask = np.zeros((size, size), np.uint8)
        for cls in (1, 2):
            y, x = rng.integers(0, size - 10, 2)
            mask[y:y + rng.integers(5, 10), x:x + rng.integers(5, 10)] = cls
        mask[0] = 255
        image = rng.integers(0, 256, (size, size, 3)).astype(np.uint8)
        image[..., 0] = np.where(mask == 255, 7, mask * 100)
        Image.fromarray(image).save(root / "test" / "images" / f"im{i}.png")
        Image.fromarray(mask).save(root / "test" / "masks" / f"im{i}.png")
    return f"folder:{root}"


class Oracle(nn.Module):
    """Reads the class from the red channel (mean 0, std 1 config): a perfect model for this data."""
    name, num_classes = "oracle", 3

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, x):
        k = torch.arange(3, dtype=x.dtype).view(1, 3, 1, 1)
        return -((x[:, :1] * 2.55 - k) ** 2) * 10 * self.scale


ORACLE_CFG = {"name": "oracle", "num_classes": 3, "mean": [0, 0, 0], "std": [1, 1, 1], "input_size": [32, 32]}


@pytest.fixture
def spec(tmp_path):
    return write_folder(tmp_path / "data")


@pytest.fixture(scope="module")
def unet():
    from segcompare.models import build_model

    torch.manual_seed(0)
    return build_model("unet_resnet18", num_classes=3).eval()


def test_perfect_model_scores_one(spec):
    res = evaluate((Oracle(), ORACLE_CFG), spec, latency=False, progress=False)
    assert res["miou"] == 1.0 and res["boundary_iou"] == 1.0 and res["pixel_accuracy"] == 1.0
    assert res["per_image"]["miou"] == [1.0] * 6 and res["per_image"]["names"] == [f"im{i}" for i in range(6)]
    assert sum(map(sum, res["confusion_matrix"])) == 6 * 31 * 32  # the ignore row is not counted
    assert all(r["auc"] == 1.0 for r in res["roc"].values()) and all(p["ap"] == 1.0 for p in res["pr"].values())


def test_miou_matches_torchmetrics(spec, unet):
    from torchmetrics.classification import MulticlassAccuracy, MulticlassJaccardIndex

    from segcompare.data import get_dataset

    cfg = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "classes": CLASSES,
           "input_size": [32, 32]}
    res = evaluate((unet, cfg), spec, batch_size=4, latency=False, progress=False)
    # independent pass: the dataset's own normalisation, one image at a time, torchmetrics' accumulation
    ds = get_dataset(spec, "test", size=(32, 32))
    jaccard = MulticlassJaccardIndex(3, ignore_index=255, average="none")
    acc = MulticlassAccuracy(3, ignore_index=255, average="micro")
    with torch.inference_mode():
        for i in range(len(ds)):
            img, mask = ds[i]
            pred = unet(img[None]).argmax(1)
            jaccard.update(pred, mask[None])
            acc.update(pred, mask[None])
    expected = jaccard.compute()
    assert (expected > 0).all()  # every class has a union, so both definitions agree
    assert res["per_class_iou"] == pytest.approx(expected.tolist(), abs=1e-6)
    assert res["miou"] == pytest.approx(float(expected.mean()), abs=1e-6)
    assert res["pixel_accuracy"] == pytest.approx(float(acc.compute()), abs=1e-6)


def test_results_follow_contract_4(spec, unet):
    res = evaluate((unet, {"classes": CLASSES, "input_size": [32, 32]}), spec, boundary_px=2, batch_size=4,
                   latency=True, progress=False, max_images=5)
    for key in CONTRACT_KEYS:
        assert key in res, key
    json.dumps(res, allow_nan=False)  # no NaN anywhere
    assert res["format"] == FORMAT and res["num_images"] == 5 and res["boundary_px"] == 2
    per = np.array(res["per_image"]["confusion"])
    assert per.shape == (5, 3, 3) and (per.sum(0) == np.array(res["confusion_matrix"])).all()
    assert set(res["latency_ms"]) >= {"device", "batch", "size", "p50", "p95", "threads"}
    assert res["latency_ms"]["p95"] >= res["latency_ms"]["p50"] > 0
    assert res["params"] == sum(p.numel() for p in unet.parameters())
    assert set(res["roc"]) == set(CLASSES) and all(len(r["fpr"]) <= 100 for r in res["roc"].values())
    assert 0 <= res["ece"] <= 1 and res["sampled_pixels"] == 5 * 31 * 32  # under the budget: every pixel


def test_boundary_iou_equals_direct_computation(spec, unet):
    from segcompare.data import get_dataset

    res = evaluate((unet, {"input_size": [32, 32]}), spec, boundary_px=1, latency=False, progress=False,
                   roc_pixels=0)
    ds = get_dataset(spec, "test", size=(32, 32))
    imgs, masks = zip(*[ds[i] for i in range(len(ds))])
    masks = torch.stack(masks)
    with torch.inference_mode():
        pred = unet(torch.stack(imgs)).argmax(1)
    band = M.boundary_band(masks, 1)
    band_cm = M.confusion_matrix(pred[band], masks[band], 3)
    assert res["boundary_iou"] == pytest.approx(float(M.miou(band_cm)), abs=1e-9)
    assert "roc" not in res


def test_roc_pr_by_hand():
    # scikit-learn's documented example: roc_auc_score = 0.75, average_precision_score = 0.8333...
    scores, y = [0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]
    fpr, tpr, auc = C.roc_curve(scores, y)
    assert fpr.tolist() == [0, 0, 0.5, 0.5, 1] and tpr.tolist() == [0, 0.5, 0.5, 1, 1] and auc == 0.75
    prec, rec, ap = C.pr_curve(scores, y)
    assert ap == pytest.approx(1 / 2 * 1 + 1 / 2 * 2 / 3)
    assert rec.tolist() == [0, 0.5, 0.5, 1, 1] and prec.tolist() == pytest.approx([1, 1, 0.5, 2 / 3, 0.5])
    assert C.roc_curve([0.2, 0.3], [1, 1]) is None  # no negatives: undefined
    assert len(C.thin(1000, 100)) <= 100 and C.thin(1000, 100)[[0, -1]].tolist() == [0, 999]


def test_ece_by_hand():
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.3, 0.7]])
    labels = np.array([0, 1, 0, 1])
    # bins: 0.9 -> 2 pixels, accuracy 1/2; 0.6 -> 1 pixel, accuracy 1; 0.7 -> 1 pixel, accuracy 1
    expected = (2 * abs(0.5 - 0.9) + abs(1 - 0.6) + abs(1 - 0.7)) / 4
    rel = C.reliability(probs, labels)
    assert rel["ece"] == pytest.approx(expected) and sum(rel["count"]) == 4 and rel["bins"] == 15


def test_pixel_sample_is_bounded_and_seeded():
    logits = torch.randn(3, 2, 20, 20)
    target = torch.randint(0, 2, (3, 20, 20))
    target[0] = 255
    a, b = C.PixelSample(3, max_pixels=30, seed=1), C.PixelSample(3, max_pixels=30, seed=1)
    a.add(logits, target, [0, 1, 2])
    for i in range(3):  # batch layout does not change the sample
        b.add(logits[i:i + 1], target[i:i + 1], [i])
    pa, la = a.arrays()
    assert pa.shape == (20, 2) and (la != 255).all()  # 10 per image, the all-ignore image gives none
    assert np.array_equal(pa, b.arrays()[0])
    assert np.allclose(pa.sum(1), 1)  # probabilities


@pytest.mark.parametrize("name", R.list_corruptions())
def test_corruptions_are_deterministic_and_in_range(name):
    x = torch.rand(3, 3, 24, 24, generator=torch.Generator().manual_seed(0))
    out = R.corrupt(x, name, 2, [0, 1, 2], seed=0)
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    assert not torch.allclose(out, x, atol=1e-3)
    single = R.corrupt(x[1:2], name, 2, [1], seed=0)  # same image id -> same noise, whatever the batch
    assert torch.allclose(out[1:2], single, atol=1e-6)
    weak, strong = (R.corrupt(x, name, s, [0, 1, 2]) for s in (1, 3))
    assert (strong - x).abs().mean() > (weak - x).abs().mean()


def test_robustness_sweep(spec):
    res = evaluate((Oracle(), ORACLE_CFG), spec, robustness=True, robustness_images=2, latency=False,
                   progress=False, roc_pixels=0)
    assert list(res["robustness"]) == R.list_corruptions() and res["robustness_images"] == 2
    for sev in res["robustness"].values():
        assert list(sev) == ["1", "2", "3"] and all(0 <= v <= 1 for v in sev.values())
    # the oracle reads absolute brightness: a small shift leaves it perfect, a large one does not
    b = res["robustness"]["brightness"]
    assert b["1"] == 1.0 and b["3"] < 0.9


def test_remap_recomputes_everything(spec):
    res = evaluate((Oracle(), ORACLE_CFG), spec, latency=False, progress=False, robustness=True,
                   robustness_images=1)
    out = remap_results(res, [0, 1, 1], ["bg", "animal"])
    cm = np.array(res["confusion_matrix"])
    merged = np.array([[cm[0, 0], cm[0, 1:].sum()], [cm[1:, 0].sum(), cm[1:, 1:].sum()]])
    assert out["confusion_matrix"] == merged.tolist() and out["classes"] == ["bg", "animal"]
    assert out["miou"] == pytest.approx(float(M.miou(torch.tensor(merged))))
    assert np.array(out["per_image"]["confusion"]).shape == (6, 2, 2)
    assert "roc" not in out and out["remapped_from"]["classes"] == CLASSES
    assert set(out["robustness"]) == set(res["robustness"])
    with pytest.raises(UserError, match="remap does not fit"):
        remap_results(res, [0, 1], ["a", "b"])


def test_remap_by_name_or_file(tmp_path, spec):
    cs = TAXONOMIES.get("cityscapes19-to-8")
    assert resolve_remap("cityscapes19-to-8") == (cs.mapping, cs.classes)
    f = tmp_path / "map.json"
    f.write_text(json.dumps({"mapping": {"0": 0, "1": 1, "2": 1}, "classes": ["bg", "animal"]}))
    res = evaluate((Oracle(), ORACLE_CFG), spec, latency=False, progress=False, remap=str(f), max_images=2)
    assert res["classes"] == ["bg", "animal"] and res["miou"] == 1.0
    with pytest.raises(UserError, match="unknown remap 'city'"):
        resolve_remap("city")
    f.write_text("[0, 1]")
    with pytest.raises(UserError, match="is not a remap file"):
        resolve_remap(str(f))


def test_cityscapes_remap_makes_results_comparable_with_cityscapes_8():
    from segcompare.stats import check_comparable

    k = 19
    cms = torch.randint(0, 50, (4, k, k))
    names = [f"f{i}" for i in range(4)]
    res19 = {"format": FORMAT, "model": "fcn", "dataset": "cityscapes:/cs", "split": "test",
             "classes": [f"c{i}" for i in range(k)], **metric_fields(cms.sum(0), None, cms, names)}
    res8 = remap_results(res19, *resolve_remap("cityscapes19-to-8"))
    assert res8["dataset"] == "cityscapes:/cs".replace("cityscapes:", "cityscapes-8:")
    assert res8["per_class_iou"][0] is None  # void: never in the 19-class labels nor predicted
    other = {**res8, "model": "segformer"}
    check_comparable([res8, other], paired=True)  # two remapped results: the same pixels count


def test_remapped_results_are_never_ranked_against_native_ones():
    """A 19->8 remap has no void class, so it is scored on other pixels than a native cityscapes-8 result even
    though dataset and classes read the same after the remap."""
    from segcompare.report import check_comparable as table_check
    from segcompare.stats import check_comparable

    names = [f"f{i}" for i in range(4)]
    cms19 = torch.randint(0, 50, (4, 19, 19))
    res19 = {"format": FORMAT, "model": "fcn", "dataset": "cityscapes:/cs", "split": "test",
             "classes": [f"c{i}" for i in range(19)], **metric_fields(cms19.sum(0), cms19.sum(0), cms19, names)}
    remapped = remap_results(res19, *resolve_remap("cityscapes19-to-8"))
    assert remapped["remapped_from"]["dataset"] == "cityscapes:/cs"
    assert "boundary_iou" not in remapped  # the bands followed the 19 classes' edges
    cms8 = torch.randint(0, 50, (4, 8, 8))
    native = {"format": FORMAT, "model": "segformer", "dataset": remapped["dataset"], "split": "test",
              "classes": list(remapped["classes"]), **metric_fields(cms8.sum(0), None, cms8, names)}
    with pytest.raises(UserError, match="remapped from cityscapes:/cs vs native labels"):
        check_comparable([remapped, native], paired=True)
    with pytest.raises(UserError, match="scored on remapped from cityscapes:/cs"):
        table_check([remapped, native])


def test_remap_error_does_not_suggest_remap_again(spec):
    cfg = {**ORACLE_CFG, "num_classes": 5}
    with pytest.raises(UserError, match="predicts 5 classes") as e:
        evaluate((Oracle(), cfg), spec, latency=False, progress=False, remap="cityscapes19-to-8")
    assert "or use --remap" not in str(e.value) and "remap those" in str(e.value)


def test_class_count_mismatch_is_a_user_error(spec):
    cfg = {**ORACLE_CFG, "num_classes": 5}
    with pytest.raises(UserError, match="predicts 5 classes but dataset .* has 3"):
        evaluate((Oracle(), cfg), spec, latency=False, progress=False)


def test_check_results_rejects_unknown_format(tmp_path):
    with pytest.raises(UserError, match=r"unknown results format 'x' in r\.json; expected segcompare-results/1"):
        check_results({"format": "x"}, "r.json")
    with pytest.raises(UserError, match="lacks"):
        check_results({"format": FORMAT, "model": "m"}, "r.json")


def test_write_results_is_atomic_and_nan_free(tmp_path, spec):
    res = evaluate((Oracle(), ORACLE_CFG), spec, latency=False, progress=False, max_images=1)
    res["per_class_precision"][0] = float("nan")
    path = write_results(res, tmp_path / "out" / "results.json")
    assert json.loads(path.read_text())["per_class_precision"][0] is None
    assert [p.name for p in path.parent.iterdir()] == ["results.json"]


def test_cli_evaluate_writes_results(tmp_path, spec, unet, capsys):
    from segcompare.checkpoint import save_checkpoint

    ckpt = save_checkpoint(unet, tmp_path / "ckpt", {"classes": CLASSES, "input_size": [32, 32],
                                                      "dataset": spec})
    out = tmp_path / "results.json"
    rc = main(["evaluate", "--checkpoint", str(ckpt), "--dataset", spec, "--out", str(out), "--size", "32", "32",
               "--batch-size", "3", "--max-images", "4"])
    assert rc == 0
    res = check_results(json.loads(out.read_text()), str(out))
    for key in CONTRACT_KEYS:
        assert key in res, key
    assert res["checkpoint"] == str(ckpt) and res["num_images"] == 4 and res["model"] == "unet_resnet18"
    assert res["size_mb"] == pytest.approx((ckpt / "model.safetensors").stat().st_size / 2**20)
    assert "mIoU" in capsys.readouterr().out


def test_cli_missing_checkpoint_is_one_line(tmp_path, spec, capsys):
    rc = main(["evaluate", "--checkpoint", str(tmp_path / "nope"), "--dataset", spec, "--out",
               str(tmp_path / "r.json")])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: ") and "nope" in err and err.count("\n") == 1


def test_package_level_evaluate_is_the_function_after_submodule_import(spec):
    import segcompare
    import segcompare.evaluation  # noqa: F401  (the module is named apart from the function: nothing rebinds it)

    res = segcompare.evaluate((Oracle(), ORACLE_CFG), spec, latency=False, progress=False, max_images=1)
    assert res["miou"] == 1.0
