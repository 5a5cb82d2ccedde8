"""What a researcher brings from outside the library: plugin modules and study files.

**Plugins.** A plugin is a module that registers activations (``actlab.register(...)``) when
it is imported. ``actlab run --plugins mypkg.acts`` (a module name or a ``.py`` file; several,
comma-separated) imports it before anything else, in every worker process of ``--processes``
too (they get the same command line); an installed package can declare it in the
``actlab.plugins`` entry-point group, and every ``actlab run`` imports it::

    # pyproject.toml of your package
    [project.entry-points."actlab.plugins"]
    my_activations = "mypkg.acts"

A checkpoint's fingerprint holds each activation's code, so a run resumed after the name was
registered again for another function is refused.

**Study files.** ``actlab run path/to/study.py`` calls the file's ``study()`` (or
``path/to/study.py:NAME``, or ``package.module:NAME``) and runs the ``Study`` it returns with
everything a built-in protocol gets: progress, checkpoints, ``--resume``, the report,
``--processes``, and the ``--seeds`` / ``--acts`` / ``--steps`` / ``--epochs`` / ``--lr`` /
``--lrs`` overrides (``--quick`` is passed as ``study(quick=True)`` where it takes it).
``actlab suite path/to/suite.py`` calls the file's ``suite()`` the same way
(``load_suite``).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import inspect
import sys
from collections.abc import Sequence
from pathlib import Path

GROUP = "actlab.plugins"


class PluginError(ValueError):
    """A plugin or a study file that cannot be loaded (the message says why)."""


def load(names: Sequence[str] = (), *, entry_points: bool = True) -> list[str]:
    """Import the plugin modules ``names`` (module names or ``.py`` paths) and, with
    ``entry_points``, those of the ``actlab.plugins`` group; returns what was loaded."""
    loaded = []
    if entry_points:
        for ep in importlib.metadata.entry_points(group=GROUP):
            try:
                ep.load()
            except Exception as e:  # a broken plugin is named, not a traceback
                why = f"the {GROUP} entry point {ep.name!r} ({ep.value}) failed: {e}"
                raise PluginError(why) from None
            loaded.append(ep.value)
    for name in names:
        _import(name, "plugin")
        loaded.append(name)
    return loaded


def has_entry_points() -> bool:
    return bool(importlib.metadata.entry_points(group=GROUP))


def _split(ref: str, default: str = "study") -> tuple[str, str] | None:
    """(file or module, function name) of a study (or suite) reference, or None if ``ref``
    is none; a bare ``.py`` file names its function ``default``."""
    if ref.endswith(".py"):
        return ref, default
    target, sep, attr = ref.rpartition(":")
    if not sep or not attr.isidentifier():
        return None
    if target.endswith(".py") or all(p.isidentifier() for p in target.split(".")):
        return target, attr
    return None


def is_study(ref: str) -> bool:
    """Whether ``ref`` names a study file (``x.py``, ``x.py:NAME``) or ``module:NAME``."""
    return _split(ref) is not None


def load_study(ref: str, *, quick: bool = False):
    """``(name, Study)`` from ``path.py``, ``path.py:NAME`` or ``module:NAME`` (NAME default
    ``study``): the function is called, with ``quick=True`` where it takes ``quick``."""
    from actlab.study import Study

    target, study = _call(ref, Study, "study", quick=quick)
    name = study.name if study.name != "study" else Path(target).stem.replace(".", "_")
    return name, study


def load_suite(ref: str, *, quick: bool = False):
    """``(name, Suite)`` from ``path.py``, ``path.py:NAME`` or ``module:NAME`` (NAME default
    ``suite``), as ``load_study`` does for a study."""
    from actlab.suite import Suite

    target, suite = _call(ref, Suite, "suite", quick=quick)
    name = suite.name if suite.name != "suite" else Path(target).stem.replace(".", "_")
    return name, suite


def _call(ref: str, kind: type, default: str, *, quick: bool):
    """(target, what its function returned): the function ``ref`` names (``default`` in a
    bare file) called, with ``quick=True`` where it takes ``quick``, checked to be a
    ``kind``."""
    target, attr = _split(ref, default) or (ref, default)
    module = _import(target, f"{default} file")
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise PluginError(
            f"{target} has no function {attr}(); accepted: a file or module defining "
            f"{attr}() -> actlab.{kind.__name__} (or name another: {target}:NAME)"
        )
    takes_quick = "quick" in inspect.signature(fn).parameters
    try:
        made = fn(quick=quick) if takes_quick else fn()
    except ValueError:  # the study's own check: its message names what is wrong
        raise
    except Exception as e:
        raise PluginError(f"{target}:{attr}() failed: {type(e).__name__}: {e}") from None
    if not isinstance(made, kind):
        raise PluginError(
            f"{target}:{attr}() returned a {type(made).__name__}, not an actlab.{kind.__name__}"
        )
    return target, made


def _import(name: str, what: str):
    """A module by name or by the path of a ``.py`` file."""
    try:
        if name.endswith(".py"):
            path = Path(name).resolve()
            if not path.is_file():
                raise FileNotFoundError(f"no such file {name}")
            key = f"actlab_user_{path.stem}_{abs(hash(str(path)))}"
            if key in sys.modules:
                return sys.modules[key]
            spec = importlib.util.spec_from_file_location(key, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[key] = module
            sys.path.insert(0, str(path.parent))  # its neighbours import as they would run
            try:
                spec.loader.exec_module(module)
            finally:
                sys.path.remove(str(path.parent))
            return module
        return importlib.import_module(name)
    except PluginError:
        raise
    except Exception as e:  # ImportError, a SyntaxError in the file, what its code raises
        raise PluginError(f"cannot import the {what} {name}: {type(e).__name__}: {e}") from None


def overrides(study, args):
    """``study`` with the command line's ``--seeds``, ``--acts``, ``--steps`` / ``--epochs``,
    ``--lr`` / ``--lrs``; ``--dataset`` is refused (the file chooses its data)."""
    import optax

    changes = {}
    if getattr(args, "dataset", None) is not None:
        raise PluginError(
            "--dataset goes with the built-in experiments; a study file chooses its data"
        )
    if args.seeds is not None:
        changes["seeds"] = args.seeds
    if args.acts is not None:
        if study.act_lrs is not None:
            raise PluginError(
                "--acts: the study gives each of its activations its own rate (act_lrs); "
                "change both in the file"
            )
        changes["activations"] = args.acts
    if args.steps is not None:
        changes |= {"steps": args.steps, "epochs": None}
    if args.epochs is not None:
        changes |= {"epochs": args.epochs, "steps": None}
    rate = args.lr if args.lr is not None else args.lrs
    if rate is not None and isinstance(study.optimizer, optax.GradientTransformation):
        raise PluginError(
            "--lr and --lrs need the study's optimizer to be a function of the learning rate "
            "(optimizer=optax.adam, lrs=...), not a transformation such as optax.adam(1e-3)"
        )
    if args.lr is not None:
        changes |= {"optimizer": study.optimizer(args.lr), "lrs": None, "act_lrs": None}
    if args.lrs is not None:
        changes |= {"lrs": tuple(args.lrs), "act_lrs": None}
    return study.replace(**changes)
