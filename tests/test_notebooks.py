"""The notebooks run top to bottom in quick mode, show their plots, and stay small.

Each runs in a fresh kernel of this interpreter (``ACTLAB_QUICK=1``), within ``TIMEOUT``.
"""

import sys
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

from jupyter_client.kernelspec import KernelSpecManager  # noqa: E402

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NAMES = sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))
TIMEOUT = 60  # seconds per notebook, quick mode, 2 CPU cores
MAX_BYTES = 600_000  # committed notebook with outputs


def test_every_study_has_a_notebook():
    assert set(NAMES) >= {
        "two_layer_mnist",
        "mlp_four_activations",
        "deep_xor",
        "activation_catalogue",
        "alexnet_relu_vs_tanh",
    }


def test_python3_kernel_runs_this_interpreter():
    # jupyter_client swaps a bare "python" in argv for sys.executable; any other path must
    # be this interpreter, or the notebooks would run another environment
    argv = KernelSpecManager().get_kernel_spec("python3").argv
    assert argv[0] in ("python", "python3", sys.executable)


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_in_quick_mode(name, monkeypatch):
    if name in ("two_layer_mnist", "mlp_four_activations", "activation_catalogue",
                "alexnet_relu_vs_tanh"):  # fmt: skip
        from actlab import data

        try:
            data.load("fashion_mnist")
        except FileNotFoundError:
            pytest.skip(
                "Fashion-MNIST is not on this machine (apt-get install dataset-fashion-mnist)"
            )
    monkeypatch.setenv("ACTLAB_QUICK", "1")
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    client = nbclient.NotebookClient(
        nb, kernel_name="python3", timeout=TIMEOUT, resources={"metadata": {"path": str(NOTEBOOKS)}}
    )
    t = time.perf_counter()
    client.execute()
    took = time.perf_counter() - t
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), "no plot shown"
    assert any("quick mode" in o.get("text", "") for o in outputs)
    assert took < TIMEOUT, f"{name} took {took:.0f} s"


@pytest.mark.parametrize("name", NAMES)
def test_committed_notebook_is_small_and_clean(name):
    path = NOTEBOOKS / f"{name}.ipynb"
    assert path.stat().st_size < MAX_BYTES
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        assert "widgets" not in cell.metadata
        if cell.cell_type == "code":
            assert "execution" not in cell.metadata  # no timestamps in the diff
    assert "widgets" not in nb.metadata
