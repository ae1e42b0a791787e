"""The Space's own front matter (README.md) against requirements.txt and the Spaces config reference: the Gradio
that `sdk_version` pins must be one requirements.txt allows, and the Gradio major app.py needs."""

import re
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


def front_matter() -> dict:
    match = re.match(r"^---\n(.*?)\n---\n", (ROOT / "README.md").read_text(), re.S)
    assert match, "README.md must start with Hugging Face Spaces front matter"
    return yaml.safe_load(match.group(1))


def requirement(name: str) -> Requirement:
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and Requirement(line).name.lower() == name:
            return Requirement(line)
    raise AssertionError(f"{name} is not in requirements.txt")


def test_sdk_version_is_inside_the_gradio_bound():
    meta = front_matter()
    assert isinstance(meta["sdk_version"], str), "sdk_version must be a string (6.31.0)"
    spec = requirement("gradio").specifier
    assert spec.contains(meta["sdk_version"]), f"sdk_version {meta['sdk_version']} is outside gradio{spec}"


@pytest.mark.parametrize("version, allowed", [("6.0.0", True), ("6.99.1", True), ("5.49.1", False),
                                              ("7.0.0", False)])
def test_gradio_bound_is_the_major_app_py_uses(version, allowed):
    # app.py passes theme / css_paths to launch(), which only Gradio 6 accepts
    assert "css_paths" in (ROOT / "app.py").read_text()
    assert requirement("gradio").specifier.contains(version) is allowed


def test_python_version_and_spaces_keys():
    meta = front_matter()
    assert meta["python_version"] == "3.11"  # a string: YAML would read 3.10 as the float 3.1
    assert "Python 3.11" in (ROOT / "README.md").read_text()
    assert isinstance(meta["suggested_hardware"], str) and meta["suggested_hardware"].startswith("cpu")
    assert isinstance(meta["tags"], list) and all(isinstance(t, str) for t in meta["tags"])
    assert "image-segmentation" in meta["tags"]
    assert Version(meta["sdk_version"]).major == 6
