"""The README is a contract too: Spaces front matter, exactly two commands, and CI runs the test one."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _front_matter() -> dict:
    match = re.match(r"^---\n(.*?)\n---\n", README, re.S)
    assert match, "README.md must start with Hugging Face Spaces front matter"
    return yaml.safe_load(match.group(1))


def _commands() -> list[str]:
    return re.findall(r"```bash\n(.*?)\n```", README.split("## Quick start", 1)[1].split("\n## ", 1)[0], re.S)


def test_spaces_front_matter():
    meta = _front_matter()
    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py"
    assert (ROOT / meta["app_file"]).is_file()


def test_two_commands_and_ci_runs_the_test_one():
    app_cmd, test_cmd = _commands()
    assert "python app.py" in app_cmd and "requirements.txt" in app_cmd
    assert "pytest" in test_cmd
    assert test_cmd.strip() in (ROOT / ".ci" / "run").read_text()


def test_requirements_cover_the_runtime_libraries():
    reqs = (ROOT / "requirements.txt").read_text().lower()
    for lib in ["torch", "torchvision", "transformers", "segmentation-models-pytorch", "accelerate", "gradio",
                "plotly", "pandas", "huggingface-hub", "safetensors", "pillow"]:
        assert re.search(rf"^{re.escape(lib)}\b", reqs, re.M), lib
    assert "torch==2.13" not in reqs
