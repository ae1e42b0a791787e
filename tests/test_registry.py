"""Every registry the same way: an unknown name is one line listing the valid ones; every item builds or resolves."""

import math

import numpy as np
import pytest
import torch

import segcompare.data as D
import segcompare.data.transforms as T
import segcompare.export  # noqa: F401 - registers the export formats
import segcompare.losses as L
import segcompare.metrics as M
import segcompare.models as MD
import segcompare.optim as O
import segcompare.robustness as R
import segcompare.zoo as Z
from segcompare.errors import UserError
from segcompare.registry import Registry, registries


def check_architecture(key, arch):
    assert arch.display_name and arch.what_it_is and "\n" not in arch.what_it_is
    assert set(arch.libraries) <= set(Z.LIBRARY_NAMES)
    assert any(e.arch == key for _, e in Z.MODELS.items())  # every architecture has a listed model


def check_encoder(key, enc):
    assert enc.display_name and Z.encoder_name(key) == enc.display_name


def check_model(name, entry):
    facts = Z.model_facts(name)
    assert (facts.name, facts.library, facts.arch, facts.encoder_key) == (name, entry.library, entry.arch,
                                                                         entry.encoder)
    assert facts.display_name == Z.display_name(name) and facts.short_name in facts.display_name
    assert facts.what_it_is == Z.ARCHITECTURES.get(entry.arch).what_it_is and facts.pretrained_encoder
    assert entry.library in MD.LIBRARIES  # building every listed model is test_models' round trip


def check_library(name, library):
    assert issubclass(library.adapter, MD.SegModel) and library.adapter.library == name
    assert any(e.library == name for _, e in Z.MODELS.items())


def check_loss(name, build):
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 5, 6, generator=g, requires_grad=True)
    target = torch.randint(0, 3, (2, 5, 6), generator=g)
    loss = L.build_loss(name)(logits, target)
    loss.backward()
    assert math.isfinite(loss.item()) and logits.grad is not None


def check_optimizer(name, build):
    model = torch.nn.Conv2d(3, 2, 1)
    before = model.weight.detach().clone()
    opt = O.build_optimizer(name, model, lr=0.1)
    model(torch.randn(1, 3, 4, 4)).sum().backward()
    opt.step()
    assert not torch.equal(before, model.weight)


def check_scheduler(name, schedule):
    opt = torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=1.0)
    sched = O.build_scheduler(name, opt, total_steps=20, steps_per_epoch=5)
    lrs = []
    for _ in range(20):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert all(0 <= lr <= 1 for lr in lrs) and 0 <= schedule.default_warmup < 1


def check_dataset(prefix, build):
    assert issubclass(build.dataset_class, D.SegDataset) and D.describe_dataset(prefix)
    if build.needs_root:  # file datasets: test_datasets builds each from a fake tree; here, the root is asked for
        with pytest.raises(UserError, match=f"needs a folder: use the spec {prefix}:ROOT"):
            D.get_dataset(prefix)
        return
    ds = D.get_dataset(prefix, "val", size=(64, 64), length=2)
    image, mask = ds[0]
    assert image.shape == (3, 64, 64) and mask.shape == (64, 64) and int(mask.max()) < ds.num_classes


def check_taxonomy(name, t):
    assert t.source in D.DATASETS and t.target in D.DATASETS
    assert set(t.mapping) <= set(range(len(t.classes))) and len(t.mapping) > len(set(t.mapping))
    cm = M.confusion_matrix(torch.arange(len(t.mapping)), torch.arange(len(t.mapping)), len(t.mapping))
    assert M.remap_confusion(cm, t.mapping, num_new=len(t.classes)).trace() == len(t.mapping)


def check_augmentation(name, recipe):
    image = np.zeros((24, 32, 3), np.uint8)
    image[:, 16:] = 200
    mask = (image[..., 0] > 0).astype(np.uint8)
    img, m = T.prepare(image, mask, (12, 16), augment=name, rng=np.random.default_rng(0))
    assert img.shape == (12, 16, 3) and m.shape == (12, 16) and set(np.unique(m)) <= {0, 1, 255}
    assert (recipe.scale is None or recipe.scale[0] <= recipe.scale[1]) and 0 <= recipe.jitter < 1


def check_export_format(name, exporter):
    assert callable(exporter) and name == "transformers"  # the one format; a new one needs its own round trip


def check_corruption(name, fn):
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    for severity in R.SEVERITIES:
        out = R.corrupt(x, name, severity, image_ids=[0, 1])
        assert out.shape == x.shape and 0 <= out.min() and out.max() <= 1 and not torch.equal(out, x)


CHECKS = {"architecture": check_architecture, "encoder": check_encoder, "model": check_model,
          "library": check_library, "loss": check_loss, "optimizer": check_optimizer,
          "scheduler": check_scheduler, "dataset": check_dataset, "taxonomy": check_taxonomy,
          "corruption": check_corruption, "export format": check_export_format,
          "augmentation": check_augmentation}
ITEMS = [(kind, name) for kind, reg in registries().items() if kind in CHECKS for name in reg.ordered()]


def test_every_registry_is_checked():
    assert set(registries()) - {"test-thing"} == set(CHECKS)  # test-thing: the throwaway one below
    assert all(len(reg) for reg in registries().values())


@pytest.mark.parametrize("kind", sorted(CHECKS))
def test_unknown_name_lists_the_valid_ones_in_one_line(kind):
    reg = registries()[kind]
    with pytest.raises(UserError) as e:
        reg.get("no_such_thing")
    message = str(e.value)
    assert "\n" not in message and f"unknown {kind} 'no_such_thing'" in message
    shown = reg.names() if len(reg) <= 40 else reg.names()[:40]
    assert all(name in message for name in shown)


@pytest.mark.parametrize("kind, name", ITEMS, ids=[f"{k}-{n}" for k, n in ITEMS])
def test_every_item_builds_or_resolves(kind, name):
    CHECKS[kind](name, registries()[kind].get(name))


@pytest.mark.parametrize("call, match", [
    (lambda: Z.resolve("unet_resnet9000"), "unknown smp encoder 'resnet9000'.*the model name is unet_ENCODER"),
    (lambda: MD.build_model("no_such_model", 2), "unknown model 'no_such_model'.*accept any smp encoder"),
    (lambda: L.build_loss("ce+dicee"), "unknown loss 'dicee'. Did you mean dice\\?.*sums like ce\\+dice"),
    (lambda: O.check_scheduler("cosin"), "unknown scheduler 'cosin'. Did you mean cosine\\?"),
    (lambda: D.get_dataset("synthetic-pets", "tran"), "unknown split 'tran'. Did you mean train\\?"),
    (lambda: R.corrupt(torch.rand(1, 3, 8, 8), "fogg", 1, [0]), "unknown corruption 'fogg'. Did you mean fog\\?"),
])
def test_unknown_names_through_the_public_functions(call, match):
    with pytest.raises(UserError, match=match) as e:
        call()
    assert "\n" not in str(e.value)


def test_registering_a_name_twice_is_refused():
    reg = Registry("test-thing")
    reg.register("a")(1)
    with pytest.raises(ValueError, match="registered twice"):
        reg.add("a", 2)
    assert reg.ordered() == ["a"] and reg.get("a") == 1


def test_corruptions_keep_registration_order():
    assert R.list_corruptions() == R.CORRUPTIONS.ordered() and R.list_corruptions() != sorted(R.list_corruptions())
