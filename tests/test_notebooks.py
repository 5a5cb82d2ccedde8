"""The notebooks run top to bottom in quick mode, show their plots, show sane numbers, and stay
small.

Each runs in a fresh kernel of this interpreter (``ACTLAB_QUICK=1``). No cell has a tight time
limit: a busy machine is normal, and speed is measured in ``benchmarks/``. ``CELL_TIMEOUT``
only turns a hung kernel into a failure instead of a hung CI.
"""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

from jupyter_client.kernelspec import KernelSpecManager  # noqa: E402

pytestmark = pytest.mark.slow  # each runs an experiment in a kernel: make test-fast skips them

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NAMES = sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))
CELL_TIMEOUT = 1800  # seconds: a hang, not a slow machine (quick mode takes about a minute)
MAX_BYTES = 600_000  # committed notebook with outputs
NEEDS_FASHION = (
    "two_layer_mnist",
    "mlp_four_activations",
    "activation_catalogue",
    "alexnet_relu_vs_tanh",
)
NEEDS = {**dict.fromkeys(NEEDS_FASHION, "fashion_mnist"), "transformer_ffn": "fortunes"}
MARK = "ACTLAB-CHECK "

# Appended to each notebook under test: what the notebook trained and analysed, as JSON. It reads
# the notebook's own variables, so it checks what the notebook computed and shows.
PROBE = f"""
import json as _json, math as _math
import numpy as _np

def _plain(v):
    if isinstance(v, dict):
        return {{str(k): _plain(x) for k, x in v.items()}}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, (bool, _np.bool_)):
        return bool(v)
    if isinstance(v, str):
        return v
    if isinstance(v, (int, float, _np.integer, _np.floating)):
        return float(v) if _math.isfinite(float(v)) else None
    return None

print({MARK!r} + _json.dumps({{
    "activations": list(study.activations),
    "seeds": int(study.seeds),
    "num_steps": int(study.num_steps),
    "classes": int(study.data.num_classes),
    "steps": _np.asarray(result.steps).tolist(),
    "final_test_accuracy": _plain(_np.asarray(result.final("test_accuracy")).tolist()),
    "final_train_loss": _plain(_np.asarray(result.final("train_loss")).tolist()),
    "diverged": _np.asarray(result.diverged).tolist(),
    "analysis": {{
        k: _plain(v) for k, v in analysis.items() if isinstance(v, (dict, float, int, str))
    }},
}}))
"""


def test_every_study_has_a_notebook():
    assert set(NAMES) >= {
        "two_layer_mnist",
        "mlp_four_activations",
        "deep_xor",
        "activation_catalogue",
        "alexnet_relu_vs_tanh",
        "transformer_ffn",
    }


def test_python3_kernel_runs_this_interpreter():
    # jupyter_client swaps a bare "python" in argv for sys.executable; any other path must
    # be this interpreter, or the notebooks would run another environment
    argv = KernelSpecManager().get_kernel_spec("python3").argv
    assert argv[0] in ("python", "python3", sys.executable)


def run_notebook(name: str, monkeypatch) -> tuple[list, dict]:
    """Execute notebook ``name`` in quick mode with ``PROBE`` appended; returns its outputs
    (without the probe's) and what the probe printed."""
    monkeypatch.setenv("ACTLAB_QUICK", "1")
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(PROBE))
    client = nbclient.NotebookClient(
        nb,
        kernel_name="python3",
        timeout=CELL_TIMEOUT,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    client.execute()
    *cells, probe = [c for c in nb.cells if c.cell_type == "code"]
    outputs = [o for c in cells for o in c.outputs]
    printed = "".join(o.get("text", "") for o in probe.outputs)
    assert MARK in printed, f"the probe cell printed nothing: {probe.outputs}"
    return outputs, json.loads(printed.split(MARK, 1)[1])


def check_numbers(name: str, got: dict) -> None:
    """What every study notebook shows: a full [acts, seeds] result, accuracies in [0, 1],
    finite losses for every model that did not diverge, failures for those that did."""
    acts, seeds = got["activations"], got["seeds"]
    assert got["steps"][0] == 0 and got["steps"][-1] == got["num_steps"]
    acc = np.array(got["final_test_accuracy"], dtype=float)  # None (non-finite) -> nan
    loss = np.array(got["final_train_loss"], dtype=float)
    diverged = np.array(got["diverged"], dtype=bool)
    assert acc.shape == loss.shape == diverged.shape == (len(acts), seeds)
    ok = ~diverged
    assert np.isfinite(acc[ok]).all() and ((acc[ok] >= 0) & (acc[ok] <= 1)).all()
    assert np.isfinite(loss[ok]).all() and (loss[ok] >= 0).all()
    # every seed counts, as in the report: a diverged run is a failure at chance accuracy
    # and the worst (infinite, printed as null) loss
    np.testing.assert_allclose(acc[diverged], 1 / got["classes"])
    assert np.isnan(loss[diverged]).all()
    analysis = got["analysis"]
    if "diverged_as" in analysis:  # the studies' own analyses declare the same rule
        assert analysis["diverged_as"] == "failure"
        assert analysis["n_diverged"] == dict(zip(acts, diverged.sum(axis=1).tolist()))
    if name == "deep_xor":
        for a in acts:
            solved, nan = analysis["solved_rate"][a], analysis["nan_rate"][a]
            assert 0 <= solved <= 1 and 0 <= nan <= 1 and solved + nan <= 1 + 1e-9
            # every model whose loss went NaN is a diverged model, and the other way round
            assert nan == pytest.approx(diverged[acts.index(a)].mean())
    elif name == "alexnet_relu_vs_tanh":
        final = analysis["final_train_error"]
        for a in acts:
            assert 0 <= final[a] <= 1
        assert analysis["steps_per_epoch"] >= 1
        assert analysis["lr_tuned_per_activation"] is False and analysis["epochs"] > 0
    elif name == "activation_catalogue":
        for a, dead in analysis["dead_at_end"].items():
            assert a in acts and 0 <= dead <= 1


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.needs_data(NEEDS[n])) if n in NEEDS else n
     for n in NAMES],
)  # fmt: skip
def test_notebook_runs_in_quick_mode(name, monkeypatch):
    outputs, got = run_notebook(name, monkeypatch)
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), "no plot shown"
    assert any("quick mode" in o.get("text", "") for o in outputs)
    check_numbers(name, got)


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
