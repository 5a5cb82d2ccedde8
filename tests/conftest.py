import jax
import pytest

jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture(autouse=True, scope="session")
def _cache(tmp_path_factory):
    """Generated datasets go to a per-session cache, not the user's home."""
    import os

    os.environ.setdefault("ACTLAB_CACHE", str(tmp_path_factory.mktemp("cache")))
    os.environ.setdefault("ACTLAB_OFFLINE", "1")  # the suite never reaches for a network
