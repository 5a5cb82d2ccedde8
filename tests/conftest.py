"""Suite-wide settings: strict rank promotion, full-precision matmuls, no network, a private
cache, and skips that are seen.

A test that needs a dataset that cannot be generated says so with
``@pytest.mark.needs_data("fashion_mnist")``. The probe runs when the test is set up, never at
collection. Without the data the test is skipped with a reason that ``-rs`` prints; with
``ACTLAB_REQUIRE_DATA=fashion_mnist,fortunes`` (set by ``.ci/run`` for the Debian packages it
installed) it fails instead, so a broken data path cannot hide behind skips.
"""

import functools
import os

import jax
import pytest

# at import, before any test module is collected: collection-time code must not reach out either
os.environ.setdefault("ACTLAB_OFFLINE", "1")

jax.config.update("jax_numpy_rank_promotion", "raise")
# the equivalence tests compare float32 models to ~1e-5; on TF32 hardware (Ampere and later
# GPUs) a default-precision matmul rounds to ~1e-3, so every comparison runs at full precision
# (a no-op on CPUs)
jax.config.update("jax_default_matmul_precision", "highest")

REQUIRE_ENV = "ACTLAB_REQUIRE_DATA"
HOW = {
    "fashion_mnist": "apt-get install dataset-fashion-mnist",
    "fortunes": "apt-get install fortunes",
}


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "needs_data(name): skip (or fail under ACTLAB_REQUIRE_DATA) without dataset"
    )
    # pytest-xdist's own mark (make test runs --dist loadgroup); known without xdist too
    config.addinivalue_line("markers", "xdist_group(name): run these tests on one worker")


@functools.cache
def _missing(name: str) -> str | None:
    """Why dataset ``name`` cannot be loaded offline here, or None if it can."""
    from actlab import data

    try:
        data.load(name)
    except FileNotFoundError as e:
        return str(e).splitlines()[0].removesuffix("Looked in:").strip(" .")
    return None


def _required() -> set[str]:
    return {s.strip() for s in os.environ.get(REQUIRE_ENV, "").split(",") if s.strip()}


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    for mark in item.iter_markers("needs_data"):
        name = mark.args[0]
        why = _missing(name)
        if why is None:
            continue
        msg = f"needs dataset {name} ({HOW.get(name, 'see actlab.data.load')}): {why}"
        if name in _required():
            pytest.fail(f"{REQUIRE_ENV} names {name}, but: {msg}", pytrace=False)
        pytest.skip(msg)


@pytest.fixture(autouse=True, scope="session")
def _cache(tmp_path_factory):
    """Generated datasets go to a per-session cache, not the user's home."""
    os.environ.setdefault("ACTLAB_CACHE", str(tmp_path_factory.mktemp("cache")))
