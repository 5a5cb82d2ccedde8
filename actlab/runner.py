"""The chunked runner: train a ``Study`` into a run folder, resumably.

    result = runner.execute("xor", study, "runs/xor")                  # a fresh run
    result = runner.execute("xor", study, "runs/xor", resume=True)     # continue it

Training is compiled once and run in about ``chunks`` calls; after each, ``results.json``,
``trace.npz`` and a checkpoint are written atomically into the folder, so a run killed at any
point keeps what it computed and ``resume=True`` continues it, bit-identical to a run that
was never stopped. Ctrl-C saves and raises ``Interrupted``. A finished run gets its report
(``report.md``, the tidy table, plots, ``summary.txt``; ``report=False`` for none) and, with
``tensorboard=True``, TensorBoard events written chunk by chunk. The ``actlab`` command,
``experiments/`` and the notebooks all train through here.

What the folder holds must fit what is asked, or ``RunFolderError`` (a ``ValueError``) says
why before anything is compiled: an ``out`` that is a file or cannot be written, a resume
with nothing to resume (unless ``or_start``), a fresh run into an unfinished one, a checkpoint
of other settings. A damaged file raises ``results.CorruptFile`` and stays where it is; a
failed write (a full disk) raises ``SaveFailed`` and leaves the previous checkpoint valid.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from actlab import checkpoint, distributed, results, selection, warmstart
from actlab import tensorboard as tb
from actlab.record import Threshold


class RunFolderError(ValueError):
    """What the run folder holds, or is, does not fit what was asked."""


class Interrupted(Exception):
    """Ctrl-C during ``execute``, after what was done has been saved."""

    def __init__(self, steps_done: int, steps: int, saved: bool):
        super().__init__(f"interrupted at step {steps_done} of {steps}")
        self.steps_done, self.steps, self.saved = steps_done, steps, saved


class SaveFailed(Exception):
    """A write into the run folder failed during ``execute`` (a full disk, ...). Every file
    is written atomically, so the previous checkpoint is still valid."""

    def __init__(self, error: OSError):
        super().__init__(os_error(error))
        self.error = error


class ReportInterrupted(Exception):
    """Ctrl-C while ``execute`` wrote the report of a finished run. The run itself is saved:
    ``actlab report OUT`` writes the report."""


class ReportFailed(Exception):
    """A write of the report of a finished run failed (a full disk, ...). The run itself is
    saved: once the folder can be written, ``actlab report OUT`` writes the report."""

    def __init__(self, error: OSError):
        super().__init__(os_error(error))
        self.error = error


def os_error(e: OSError) -> str:
    """``PATH (reason)``, one line."""
    return f"{e.filename} ({e.strerror or e})" if e.filename else str(e)


def check_out(out: Path) -> None:
    """Raise ``RunFolderError`` unless ``out`` is a folder that can be written, or can be made
    inside one. Called before anything is compiled, so that a bad --out costs nothing."""
    accepted = "accepted: a folder that can be written, or a new path inside one"
    try:
        existing = next(p for p in (out, *out.parents) if p.exists())
        if not existing.is_dir():
            what = "is a file" if existing == out else f"is inside a file, {existing}"
            raise RunFolderError(f"--out {out} {what}, not a folder; {accepted}")
        with tempfile.TemporaryFile(dir=existing):  # a real write: mode bits do not stop root
            pass
    except OSError as e:
        why = e.strerror or e
        raise RunFolderError(f"--out {out} cannot be written ({why}); {accepted}") from None


# ----------------------------------------------------------------------------- training


def execute(
    name: str,
    study,
    out: Path,
    chunks: int = 20,
    *,
    progress: bool = True,
    resume: bool = False,
    or_start: bool = False,
    threshold: Threshold | None = None,
    command: str | None = None,
    diverged_as: str | None = None,
    report: bool = True,
    tidy: str = "auto",
    tensorboard: bool = False,
    programs: bool = False,
):
    """Train ``study`` into the run folder ``out`` in about ``chunks`` compiled calls (one
    compilation) and return its ``Result``; ``name`` is the experiment's name in the files.
    After each call ``results.json``, ``trace.npz`` and a checkpoint are written atomically
    into ``out``, with ``tensorboard=True`` also the new evaluations' TensorBoard events
    (``actlab.tensorboard``: ``out/tensorboard/ACT/seed_I/``); the checkpoint is removed when
    the run completes. Then, unless ``report=False``, ``write_report`` writes the report
    (``tidy``: the tidy table's level, ``report.write``'s).

    ``resume=True`` continues from ``out``'s checkpoint (same chunk size, so the same
    compiled program); if there is none it raises ``RunFolderError``, or with ``or_start=True``
    starts from step 0. Without ``resume`` a checkpoint in ``out`` (an unfinished run) is
    refused, not discarded. Raises ``RunFolderError`` for these and for an ``out`` that cannot
    be written (before compiling), ``ValueError`` for a checkpoint of other settings,
    ``results.CorruptFile`` for one that cannot be read, ``ValueError`` from the study itself;
    ``SaveFailed`` if a save fails (the previous checkpoint stays valid); ``Interrupted`` on
    Ctrl-C, once what was done is saved; ``ReportInterrupted`` or ``ReportFailed`` while the
    report is written. ``diverged_as`` is the rule of ``results.json``'s ``summary`` and the
    report's (``actlab.outcome``; default: every seed counts). Only process 0 writes.
    ``programs=True`` keeps the compiled programs' traced form between processes where the
    study is all actlab's code (``actlab.warmstart``: a built-in protocol), so that the next
    run of it skips tracing.
    """
    from tqdm.auto import tqdm

    out = Path(out)
    check_out(out)
    fp = checkpoint.fingerprint(study, experiment=name)
    meta = _checkpoint_to_resume(out, fp, resume=resume, or_start=or_start)
    cfg = study.config()
    intervals = -(-cfg.steps // cfg.eval_every)
    # a resumed run keeps its chunk: the same compiled program
    per_chunk = max(1, -(-intervals // chunks)) if meta is None else int(meta["chunk"])
    store = warmstart.for_study(study, fp) if programs else None
    try:
        run = study.start(store=store, chunk=per_chunk)
    except KeyboardInterrupt:
        raise Interrupted(0, cfg.steps, saved=False) from None
    if meta is not None:
        checkpoint.restore(run, out, fp)
    elif distributed.is_main():  # the events of the run this one replaces
        tb.clear(out / tb.DIR)

    saved_kw = {"threshold": threshold, "command": command, "diverged_as": diverged_as}

    def save(snap: checkpoint.Snapshot) -> None:
        done = snap.intervals_done >= run.num_intervals
        res = checkpoint.result(run, snap)
        if not distributed.is_main():  # process 0 writes the folder
            return
        try:
            results.save(res, out, name, complete=done, **saved_kw)
            if tensorboard:  # before the checkpoint: a resume writes no step twice either way
                tb.write(out / tb.DIR, res.trace, res.activations, res.study.lrs)
            if done:
                checkpoint.remove(out)
            else:
                checkpoint.save(out, run, chunk=per_chunk, fp=fp, snap=snap)
        except OSError as e:
            raise SaveFailed(e) from None

    snap = checkpoint.snapshot(run)
    saved = run.intervals_done if meta is not None else -1
    desc = f"{name} {_size(study)}"
    quiet = not progress or not distributed.is_main()
    bar = tqdm(total=run.cfg.steps, initial=run.steps_done, unit="step", disable=quiet, desc=desc)
    try:
        while not run.done:
            run.advance(per_chunk)
            snap = checkpoint.snapshot(run)  # consistent: taken between two chunks
            bar.update(run.steps_done - bar.n)
            save(snap)
            saved = snap.intervals_done
    except KeyboardInterrupt:
        if snap.intervals_done > 0 and saved != snap.intervals_done:
            save(snap)  # the interrupt came while saving: save that chunk again
            saved = snap.intervals_done
        steps_done = min(saved * run.cfg.eval_every, run.cfg.steps) if saved > 0 else 0
        raise Interrupted(steps_done, run.cfg.steps, saved=saved > 0) from None
    finally:
        bar.close()  # before any message: it starts on a line of its own
    if distributed.is_main():
        checkpoint.remove(out)
    result = run.result()
    if report and distributed.is_main():
        write_report(result, name, out, tidy=tidy, **saved_kw)
    return result


SUMMARY = "summary.txt"  # the console summary, as actlab run prints it


def write_report(result, name: str, out: Path, *, tidy: str = "auto", **kw) -> Path:
    """``report.md``, the tidy table and the plots (``actlab.report``) and ``summary.txt`` of
    ``result`` into the run folder ``out``; returns report.md's path. ``kw`` as
    ``results.summary`` (``threshold``, ``command``, ``diverged_as``). Raises
    ``ReportInterrupted`` on Ctrl-C and ``ReportFailed`` if a file cannot be written."""
    from actlab import report  # matplotlib: loaded only where a report is written

    try:
        rec = report.Record.of(result, name, **kw)
        path = report.write(rec, out, tidy=tidy)
        text = report.console(rec)
        results.atomic_write(Path(out) / SUMMARY, lambda tmp: tmp.write_text(text + "\n"))
    except KeyboardInterrupt:
        raise ReportInterrupted(f"interrupted while writing the report into {out}") from None
    except OSError as e:
        raise ReportFailed(e) from None
    return path


SELECTION_DIR, SELECTION_JSON = "selection", "selection.json"


def execute_selected(
    name: str,
    study,
    out: Path,
    chunks: int = 20,
    *,
    metric: str = "val_accuracy",
    validation: int | float = selection.VALIDATION,
    select_seeds: int | None = None,
    resume: bool = False,
    or_start: bool = False,
    report: bool = True,
    tidy: str = "auto",
    **kw,
):
    """``actlab.selection``'s recipe into the run folder ``out``; returns ``(Selection,
    Result)``.

    The selection run (every activation x ``study.lrs`` x ``select_seeds`` seeds of its own,
    on a validation split) trains into ``out/selection/``, a run folder of its own; the
    choice is written to ``out/selection.json`` (with the selection study's fingerprint) and
    ``out/selection.csv``; then the comparison, each activation at its selected rate with
    the study's seeds, trains into ``out`` itself. ``resume=True`` continues whichever stage
    was interrupted and reuses a ``selection.json`` of the same selection study; one of other
    settings is refused. ``kw`` goes to ``execute`` for both stages; the report (``report``,
    ``tidy``) is the comparison's.
    """
    out = Path(out)
    check_out(out)
    tuning = selection.tuning_study(study, metric, validation=validation, seeds=select_seeds)
    fp = _canonical(checkpoint.fingerprint(tuning, experiment=f"{name}_selection"))
    path = out / SELECTION_JSON
    chosen = None
    if resume and path.exists():
        doc = json.loads(path.read_text())
        if doc.get("fingerprint") != fp:
            raise RunFolderError(
                f"{path} holds a selection made with other settings; choose another --out "
                f"(or remove {out}) to start over"
            )
        chosen = selection.Selection.from_json(doc["selection"])
    if chosen is None:
        tuned = execute(
            f"{name}_selection",
            tuning,
            out / SELECTION_DIR,
            chunks,
            resume=resume,
            or_start=resume,  # a run interrupted before its first save starts over
            report=False,
            **kw,
        )
        chosen = selection.choose(tuned, metric)
        doc = {"fingerprint": fp, "selection": chosen.to_json()}
        if distributed.is_main():
            results.atomic_write(path, lambda tmp: tmp.write_text(json.dumps(doc, indent=1)))
            results.atomic_write(
                out / "selection.csv", lambda tmp: chosen.table().to_csv(tmp, index=False)
            )
        or_start = or_start or resume  # the comparison has not started yet
    final = selection.at_selected(study, chosen)
    result = execute(
        name, final, out, chunks, resume=resume, or_start=or_start, report=report, tidy=tidy, **kw
    )
    return chosen, result


def _canonical(doc) -> str:
    return json.dumps(results.jsonable(doc), sort_keys=True)


def _checkpoint_to_resume(out: Path, fp: dict, *, resume: bool, or_start: bool) -> dict | None:
    """The meta of ``out``'s checkpoint to continue from, or None to start from step 0.

    Raises ``RunFolderError`` where what ``out`` holds does not fit what was asked,
    ``results.CorruptFile`` if the checkpoint cannot be read and ``ValueError`` if it is
    another study's (both before anything is compiled).
    """
    held = (out / checkpoint.NPZ).exists()
    if held and not resume:
        raise RunFolderError(
            f"{out} holds an unfinished run ({checkpoint.NPZ}): add --resume to continue it, "
            f"or choose another --out (or remove {out}) to start over"
        )
    if not held:
        if resume and not or_start:
            raise RunFolderError(
                f"--resume: {out} holds no {checkpoint.NPZ}, so no run to resume; run without "
                "--resume to start one (--resume-or-start does either)"
            )
        if resume:
            print(f"actlab: {out} holds no run to resume: starting from step 0", file=sys.stderr)
        return None
    meta = checkpoint.read(out)
    checkpoint.check(meta, fp, out / checkpoint.NPZ)
    problem = checkpoint.sidecar_problem(out, meta)
    if problem:
        print(
            f"actlab: warning: {problem}; resuming from {checkpoint.NPZ}, the authority",
            file=sys.stderr,
        )
    return meta


def _size(study) -> str:
    lrs = f" x {len(study.lrs)} lrs" if study.lrs is not None else ""
    return f"{len(study.activations)} acts x {study.seeds} seeds{lrs}"


def saved_meta(out: Path) -> dict | None:
    """The meta of ``out``'s checkpoint, or None if it has none that can be read."""
    try:
        return checkpoint.read(out)
    except ValueError:
        return None
