"""``sasmamba lift --engine ray``: the same per-clip work as the local batch, on a Ray cluster.

Design (Ray's actor-pool pattern for batch inference, kept small):

- the **driver** (the ``sasmamba lift`` process) lists the clips and applies the local batch's
  resume rule (:func:`sasmamba_cli.batch.pending_clip`: same settings hash, same source
  fingerprint, every listed output present); only pending clips are sent out;
- a pool of ``workers`` **actors** (:class:`LiftWorker`), each reserving ``cpus_per_worker`` CPUs
  and ``gpus_per_worker`` GPUs, loads the detector and the lifter **once** and processes whole
  clips with :func:`sasmamba_cli.batch.process_clip`, the local engine's own function:
  the outputs are the local engine's, written atomically by the worker into ``--out``;
- **tasks carry paths and settings, never frames**: inputs and ``--out`` must be on storage that
  every node sees at the same path (NFS, a mounted bucket); a worker that cannot read an input or
  write ``--out`` reports it as that clip's failure, naming its node;
- each actor sets torch's threads (and OpenMP's) to its CPU share: oversubscribed threads made the
  lift stage 5-25x slower on a busy machine;
- **faults**: a clip that fails is a ``failed`` row (it never stops the others); a worker process
  that dies mid-clip (killed, out of memory) is replaced and its clip retried up to
  ``max_retries`` times, then reported failed; outputs are renamed into place only when complete
  (a killed worker leaves at most hidden temporaries), so nothing half-written is ever taken as
  done; Ctrl-C kills the actors and with them their running clips (Ray cannot force-cancel an
  actor's task), stops a Ray instance started here, removes what the clips cut short had written
  (temporaries, and the files of a set whose JSON is missing:
  :func:`~sasmamba_cli.batch.discard_unfinished`) and exits 130; a rerun skips the
  finished clips and does the rest (``tests/test_ray_engine.py``);
- the driver collects the rows (the CLI writes the same ``summary.csv``).

Without ``address`` a local Ray instance is started (and stopped at the end); ``address="auto"``
joins a running cluster (``ray start --head`` ...; docs/cluster.md).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import InputError
from ..batch import ClipSummary, check_output_dir, discard_unfinished, output_stems, pending_clip

RAY_INSTALL = 'pip install "sasmamba[ray]"  (from a checkout: pip install ".[ray]")'
#: fault injection for tests: a worker that finds this file at the start of a clip deletes it and
#: dies at once (as a killed or out-of-memory process would)
KILL_ONCE_ENV = "SASMAMBA_FAULT_KILL_ONCE"


@dataclass(frozen=True)
class RayOptions:
    address: str | None = None        # None: start a local Ray instance; "auto" or HOST:PORT: join a cluster
    workers: int = 2                  # actors (each loads the models once)
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0
    max_retries: int = 2              # re-runs of a clip whose worker died


def import_ray():
    try:
        import ray
    except ImportError as e:
        raise InputError(f"--engine ray needs Ray, which is not installed ({e}); install the extra: "
                         f"{RAY_INSTALL}") from e
    return ray


class LiftWorker:
    """One actor: the models loaded once, whole clips processed with the local engine's function."""

    def __init__(self, settings, threads: int, env: dict | None = None):
        os.environ.update(env or {})
        os.environ["OMP_NUM_THREADS"] = str(threads)
        import torch

        from ..pipeline.run import LiftPipeline

        torch.set_num_threads(threads)
        self.settings = replace(settings, lift_threads=threads)
        self.pipeline = LiftPipeline(self.settings)
        self.threads = threads

    def info(self) -> dict:
        import socket

        return {"pid": os.getpid(), "node": socket.gethostname()}

    def process(self, path: str, out_dir: str, stem: str, keypoints_mode: bool, resume: bool) -> ClipSummary:
        import socket

        import torch

        from ..batch import process_clip

        flag = os.environ.get(KILL_ONCE_ENV)
        if flag:                          # fault injection: the one worker that removes the flag dies
            try:                          # (two workers may see it at once: only the unlink is atomic)
                os.unlink(flag)
            except FileNotFoundError:
                pass
            else:
                os._exit(137)
        torch.set_num_threads(self.threads)          # ultralytics may have changed it
        p, out = Path(path), Path(out_dir)
        node = socket.gethostname()
        if not p.exists():
            return ClipSummary(path, "failed", message=f"worker on node {node} cannot find input {path}: inputs "
                               "must be on storage every node sees at the same path (docs/cluster.md)", exit_code=2)
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError:
            pass
        if not os.access(out, os.W_OK):
            return ClipSummary(path, "failed", message=f"worker on node {node} cannot write to {out_dir}: --out "
                               "must be a shared folder every node can write (docs/cluster.md)", exit_code=4)
        return process_clip(self.pipeline, p, out, stem, keypoints_mode=keypoints_mode, resume=resume)


class RayReporter:
    """Progress callbacks of the Ray engine (the CLI draws them with Rich)."""

    def started(self, total: int, pending: int, workers: int) -> None: ...

    def clip_finished(self, row: ClipSummary, retried: int) -> None: ...

    def clip_retried(self, path: str, attempt: int, reason: str) -> None: ...


# long on purpose: the driver's loop (submit, collect, retry a lost worker, report) keeps one
# table of clips in flight; its pieces that stand alone are the functions above
def run_ray(settings, inputs: list[Path], out_dir: Path, *, keypoints_mode: bool = False, resume: bool = True,
            options: RayOptions = RayOptions(), reporter: RayReporter | None = None,
            driver_pipeline=None, worker_env: dict | None = None) -> list[ClipSummary]:
    """Lift ``inputs`` on Ray; rows in input order (as :func:`sasmamba_cli.batch.run_batch`)."""
    ray = import_ray()
    from ..pipeline.run import LiftPipeline

    reporter = reporter or RayReporter()
    if options.workers < 1 or options.cpus_per_worker <= 0 or options.gpus_per_worker < 0:
        raise InputError(f"expected --workers >= 1, --cpus-per-worker > 0, --gpus-per-worker >= 0; found "
                         f"{options.workers}, {options.cpus_per_worker}, {options.gpus_per_worker}")
    stems = output_stems(inputs)
    out_dir = Path(out_dir).resolve()
    check_output_dir(out_dir)
    driver = driver_pipeline or LiftPipeline(settings)            # for the settings hash (resume rule)
    rows: dict[Path, ClipSummary] = {}
    todo: list[Path] = []
    for p in inputs:
        done = pending_clip(driver, p, out_dir, stems[p], keypoints_mode=keypoints_mode, resume=resume)
        if done is not None:
            rows[p] = done
        else:
            todo.append(p)
    started_here = False
    if todo and not ray.is_initialized():
        kw = {"include_dashboard": False, "log_to_driver": False, "logging_level": "ERROR"}
        if options.address:
            ray.init(address=options.address, **kw)
        else:
            ray.init(num_cpus=max(1, int(round(options.workers * options.cpus_per_worker))), **kw)
        started_here = True
    n_workers = min(options.workers, len(todo))
    reporter.started(len(inputs), len(todo), n_workers)
    for p, r in rows.items():
        reporter.clip_finished(r, 0)
    if not todo:
        return [rows[p] for p in inputs]
    threads = max(1, int(options.cpus_per_worker))
    actor_cls = ray.remote(num_cpus=options.cpus_per_worker, num_gpus=options.gpus_per_worker)(LiftWorker)
    new_actor = lambda: actor_cls.remote(settings, threads, worker_env)
    actors = [new_actor() for _ in range(n_workers)]
    queue = list(todo)
    attempts = {p: 0 for p in todo}
    running: dict = {}                                            # future -> (actor index, path)
    stopped: list[Path] = []                                      # clips cut short by Ctrl-C
    try:
        def submit(i: int) -> None:
            p = queue.pop(0)
            attempts[p] += 1
            fut = actors[i].process.remote(str(p.resolve()), str(out_dir), stems[p], keypoints_mode, resume)
            running[fut] = (i, p)

        for i in range(n_workers):
            if queue:
                submit(i)
        while running:
            ready, _ = ray.wait(list(running), num_returns=1)
            fut = ready[0]
            i, p = running.pop(fut)
            try:
                row = ray.get(fut)
            except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError,
                    ray.exceptions.ActorDiedError) as e:
                ray.kill(actors[i], no_restart=True)
                actors[i] = new_actor()                           # a fresh worker (models loaded again)
                if attempts[p] <= options.max_retries:
                    reporter.clip_retried(str(p), attempts[p], type(e).__name__)
                    queue.insert(0, p)
                    submit(i)
                    continue
                row = ClipSummary(str(p), "failed", message=f"the worker processing it died {attempts[p]} times "
                                  f"(killed or out of memory: {type(e).__name__}); gave up after "
                                  f"{options.max_retries} retries", exit_code=1)
            except ray.exceptions.RayTaskError as e:             # process_clip never raises; a Ray fault
                row = ClipSummary(str(p), "failed", message=f"task error on the cluster: {e}", exit_code=1)
            rows[p] = row
            reporter.clip_finished(row, attempts[p] - 1)
            if queue:
                submit(i)
    except KeyboardInterrupt:
        stopped = [p for _, p in running.values()]
        for a in actors:                  # actor tasks cannot be force-cancelled (ray.cancel refuses
            ray.kill(a, no_restart=True)  # force=True for them): stop their worker processes
        try:                                                      # let the killed tasks settle
            ray.wait(list(running), num_returns=len(running), timeout=10)
        except Exception:
            pass
        raise
    finally:
        for a in actors:
            ray.kill(a, no_restart=True)
        if started_here:
            ray.shutdown()                                        # stops this run's worker processes
        for p in stopped:                                         # no half set of a clip cut short
            discard_unfinished(out_dir, stems[p])
    return [rows[p] for p in inputs]

