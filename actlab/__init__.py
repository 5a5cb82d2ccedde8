"""actlab: activation-function studies in JAX, every activation x every seed in one jit."""

import importlib

# name: the module that defines it (None: the module itself). Loaded on first use (PEP 562),
# so that importing a submodule such as actlab.cli (the `actlab` command's parser) does not
# load JAX.
_EXPORTS = {
    "activations": None,
    "aggregate": None,
    "data": None,
    "layout": None,
    "outcome": None,
    "runner": None,
    "selection": None,
    "stats": None,
    "warmstart": None,
    "REGISTRY": "activations",
    "Activation": "activations",
    "register": "activations",
    "NNX": "adapters",
    "Equinox": "adapters",
    "CNN": "models",
    "MLP": "models",
    "Transformer": "models",
    "Init": "models",
    "Layout": "layout",
    "plan": "layout",
    "Selection": "selection",
    "Suite": "suite",
    "Task": "suite",
    "Slot": "slot",
    "Result": "study",
    "Run": "study",
    "Study": "study",
    "Config": "train",
    "Keys": "train",
    "Trace": "train",
    "TrainState": "train",
    "make_train": "train",
    "seed_keys": "train",
    "variance_components": "variance",
}

__version__ = "0.1.0"
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'actlab' has no attribute {name!r}")
    module = importlib.import_module(f"actlab.{_EXPORTS[name] or name}")
    value = module if _EXPORTS[name] is None else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
