"""Process-level settings that must be made before JAX starts its backends."""

from __future__ import annotations

import os
from pathlib import Path

FLAG = "--xla_force_host_platform_device_count"


def use_host_devices(n: int | None = None) -> int:
    """Split the CPU into ``n`` XLA host devices (default: the usable cores).

    A study then shards its seeds over them, one thread each: on a 2-core CPU this measured
    ~2x faster than one device with intra-op threading for the seed-001 MLP. It only affects
    the CPU platform, and only when called before JAX's first computation; an ``XLA_FLAGS``
    that already sets the count wins. Returns the count asked for.
    """
    if n is None:
        n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    flags = os.environ.get("XLA_FLAGS", "")
    if FLAG not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} {FLAG}={n}".strip()
    return n


CACHE_OPT_OUT = "ACTLAB_NO_COMPILATION_CACHE"


def cache_dir() -> Path:
    """Where ``actlab`` runs keep compiled programs: ``$XDG_CACHE_HOME/actlab/jax`` (default
    ``~/.cache/actlab/jax``)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "actlab" / "jax"


def use_compilation_cache(path: str | os.PathLike | None = None) -> Path | None:
    """Turn on JAX's persistent compilation cache, so that a second run of the same study
    (in a new process) loads its programs instead of compiling them again (10-30 s each).

    ``path`` default: ``JAX_COMPILATION_CACHE_DIR`` if set (JAX's own variable wins), else
    ``cache_dir()``. Opt out with ``ACTLAB_NO_COMPILATION_CACHE=1``. Returns the folder in
    use, or None when opted out. Every program is cached whatever its compile time (XLA:CPU
    compiles a tiny one in seconds).
    """
    if os.environ.get(CACHE_OPT_OUT, "") not in ("", "0"):
        return None
    import jax

    path = Path(path or os.environ.get("JAX_COMPILATION_CACHE_DIR") or cache_dir())
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    return path


MEMORY_SHARE = 0.8  # of a device's free memory the models may take (XLA's own buffers, traces)


def memory_budget() -> int | None:
    """Bytes free for one local device's work, times ``MEMORY_SHARE``: ``memory_stats()``'s
    ``bytes_limit - bytes_in_use`` where the device reports it (GPU, TPU), else on a CPU the
    available RAM shared by the process's host devices; None where neither answers."""
    import jax

    devices = jax.local_devices()
    stats = devices[0].memory_stats() or {}
    if "bytes_limit" in stats:
        free = stats["bytes_limit"] - stats.get("bytes_in_use", 0)
    elif devices[0].platform == "cpu":
        import psutil

        free = psutil.virtual_memory().available // len(devices)
    else:
        return None
    return int(free * MEMORY_SHARE)
