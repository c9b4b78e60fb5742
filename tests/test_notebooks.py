"""Every notebook in ``colab/`` runs top to bottom on CPU, each in a fresh kernel.

The notebooks ``assert`` their own results (losses fall, the flavors differ
where the docs say, pmap equals one device); these tests also read a few of the
values they print. Outputs are cleared in the repository: a notebook saved with
outputs fails here.
"""

from __future__ import annotations

import os
import pathlib
import re

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "colab").glob("*.ipynb"))
BADGE = "https://colab.research.google.com/github/optx-dev/optx/blob/main/colab/{}"
CELL_TIMEOUT_S = 240


def _execute(path: pathlib.Path, tmp_path: pathlib.Path):
  notebook = nbformat.read(path, as_version=4)
  env = dict(os.environ)
  env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(
    os.pathsep
  )
  env["JAX_PLATFORMS"] = "cpu"
  env.pop("XLA_FLAGS", None)
  env.pop("COLAB_TPU_ADDR", None)
  client = nbclient.NotebookClient(
    notebook,
    timeout=CELL_TIMEOUT_S,
    kernel_name="python3",
    resources={"metadata": {"path": str(tmp_path)}},
  )
  client.execute(env=env)
  return notebook


def _stdout(notebook) -> str:
  return "".join(
    output.get("text", "")
    for cell in notebook.cells
    if cell.cell_type == "code"
    for output in cell.outputs
    if output.get("name") == "stdout"
  )


def _images(notebook) -> int:
  return sum(
    "image/png" in output.get("data", {})
    for cell in notebook.cells
    if cell.cell_type == "code"
    for output in cell.outputs
  )


def test_the_five_notebooks_are_there():
  assert [p.name for p in NOTEBOOKS] == [
    "01_quickstart.ipynb",
    "02_schedules_gallery.ipynb",
    "03_optimizers_compared.ipynb",
    "04_scale_out.ipynb",
    "05_finder_onecycle_early_stopping.ipynb",
  ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_saved_clean_with_badge_and_colab_install(path):
  notebook = nbformat.read(path, as_version=4)
  nbformat.validate(notebook)
  for cell in notebook.cells:
    if cell.cell_type == "code":
      assert cell.outputs == [] and cell.execution_count is None, "clear the outputs"
  assert BADGE.format(path.name) in notebook.cells[0].source
  install = notebook.cells[1]
  assert install.cell_type == "code"
  assert '"google.colab" in sys.modules' in install.source
  assert "%pip install" in install.source
  assert notebook.metadata.kernelspec.name == "python3"


def test_quickstart(tmp_path):
  notebook = _execute(ROOT / "colab" / "01_quickstart.ipynb", tmp_path)
  text = _stdout(notebook)
  initial = float(re.search(r"initial loss ([\d.]+)", text).group(1))
  adam = float(re.search(r"optx\.adam\s+loss [\d.]+ -> ([\d.]+)", text).group(1))
  assert adam < initial / 10
  assert "updates after a NaN gradient are all zero: True" in text
  built = int(re.search(r"(\d+) optimizers of the table built", text).group(1))
  assert built >= 11


def test_schedules_gallery(tmp_path):
  notebook = _execute(ROOT / "colab" / "02_schedules_gallery.ipynb", tmp_path)
  assert _images(notebook) == 2
  text = _stdout(notebook)
  assert "'optx (seed) / Keras rule': 5" in text
  if "torch=True" in text:
    assert "'optx.torch ReduceLROnPlateau': 6" in text


def test_optimizers_compared(tmp_path):
  notebook = _execute(ROOT / "colab" / "03_optimizers_compared.ipynb", tmp_path)
  assert _images(notebook) == 1
  text = _stdout(notebook)
  assert text.startswith("optx") and "digits: 1437 training and 360 validation" in text
  accuracy = {
    m.group(1): float(m.group(2))
    for m in re.finditer(r"^(\w+)\s+val loss .* val accuracy\s+([\d.]+)%", text, re.M)
  }
  assert set(accuracy) == {"SGD", "momentum", "Nesterov", "AdaGrad", "RMSProp", "Adam"}
  assert accuracy["Adam"] > 90 and accuracy["RMSProp"] > 90


def test_scale_out(tmp_path):
  notebook = _execute(ROOT / "colab" / "04_scale_out.ipynb", tmp_path)
  text = _stdout(notebook)
  assert text.startswith("8 devices")
  gap = float(re.search(r"after \d+ steps: ([\d.e+-]+)", text).group(1))
  assert gap < 1e-4
  losses = [float(x) for x in re.findall(r"val loss ([\d.]+)", text)]
  assert len(losses) == 6 and losses[-1] < losses[0]
