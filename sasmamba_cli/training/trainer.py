"""``sasmamba train``: the training loop with checkpoints, resume, CSV log and validation.

A run lives in ``OUT_DIR``:
    config.json            the resolved TrainConfig (written once; resume checks it matches)
    state.safetensors/json model + AdamW tensors / step, epoch, RNG state, timings (resume point)
    best.safetensors/json  best weights on the *validation* part (never chosen on test)
    last.safetensors/json  latest weights
    log.csv                one row per logged step, plus one per epoch with validation metrics
"""
from __future__ import annotations

import csv
import dataclasses
import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..atomic import atomic_path, write_text
from ..errors import InputError


@dataclass(frozen=True)
class TrainConfig:
    data: tuple[str, ...]                 # dataset .npz files (from `sasmamba data build`)
    out_dir: str                          # run folder
    arch: str = "sasmamba"                # sasmamba | tcn | mean
    preset: str = "s"                     # sasmamba preset (ignored by other archs)
    model: dict = field(default_factory=dict)   # config overrides / the arch's config
    window: int = 27                      # T: frames per training window (= model max_frames)
    in_chans: int = 2
    batch_size: int = 16
    lr: float = 5e-4
    weight_decay: float = 0.01
    lr_decay: float = 0.99                # lr multiplier per epoch (MODEL.md)
    epoch_samples: int = 2048             # samples per "epoch" (lr step, validation, checkpoint)
    epochs: int = 300
    max_minutes: float = 0.0              # wall-clock budget for this invocation (0 = none)
    checkpoint_every: int = 20            # steps
    val_clips: int = 24                   # validation clips per epoch (first N of the val part)
    val_max_frames: int = 300             # frames per validation clip
    seed: int = 0
    split: str = ""                       # split JSON ("" = the bundled split_v1.json)
    threads: int = 0                      # torch threads (0 = torch default)
    device: str = "auto"                  # auto (CUDA when available) | cpu | cuda | cuda:N
    workers: int = 0                      # batch-building processes (0 = in-process; GPU runs: several)
    init_weights: str = ""                # warm start: a checkpoint (path or bundled name) of the same
                                          # architecture whose weights start this run (not its optimiser)
    virtual: dict = field(default_factory=dict)   # VirtualConfig overrides (camera and 2D noise model)
    upright: bool = False                 # train on windows turned as `lift --upright` turns a track

    def to_dict(self):
        d = dataclasses.asdict(self)
        d["data"] = list(self.data)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise InputError(f"unknown training config keys {unknown}; expected a subset of {sorted(known)}")
        d = dict(d)
        d["data"] = tuple(d.get("data", ()))
        return cls(**d)


# keys that may change between resumes without invalidating the run
RESUMABLE = {"max_minutes", "epochs", "threads", "checkpoint_every", "out_dir", "device", "workers"}


def build_model(cfg: TrainConfig):
    from sasmamba_models import SasMambaLifter, preset
    from sasmamba_models.baselines import MeanPoseConfig, MeanPoseLifter, TCNConfig, TemporalConvLifter

    if cfg.arch == "sasmamba":
        return SasMambaLifter(preset(cfg.preset, max_frames=cfg.window, in_chans=cfg.in_chans, **cfg.model))
    if cfg.arch == "tcn":
        return TemporalConvLifter(TCNConfig(max_frames=cfg.window, in_chans=cfg.in_chans, **cfg.model))
    if cfg.arch == "mean":
        return MeanPoseLifter(MeanPoseConfig(max_frames=cfg.window, in_chans=cfg.in_chans))
    raise InputError(f"unknown arch {cfg.arch!r}; expected sasmamba, tcn or mean")


def virtual_config(overrides: dict):
    """The virtual capture settings with a run's ``virtual`` overrides (lists become tuples)."""
    from .virtual import VirtualConfig

    known = {f.name for f in dataclasses.fields(VirtualConfig)}
    bad = sorted(set(overrides) - known)
    if bad:
        raise InputError(f"unknown 'virtual' keys {bad}; expected a subset of {sorted(known)}")
    return VirtualConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()})


def warm_start(model, weights: str) -> dict:
    """Copy a checkpoint's weights into ``model`` (same architecture and shapes); its metadata."""
    from ..pipeline.lifting import load_weights

    src, meta, _ = load_weights(weights, "cpu")
    mine, theirs = model.state_dict(), src.state_dict()
    if set(mine) != set(theirs) or any(mine[k].shape != theirs[k].shape for k in mine):
        raise InputError(f"init_weights {weights}: its tensors do not match this run's model (check preset, "
                         "window and in_chans against the checkpoint's config)")
    model.load_state_dict(theirs)
    return meta


def resolve_device(name: str):
    """``auto`` -> CUDA when torch sees one, else CPU; a named CUDA device that is absent is an error.
    A CUDA device also gets TF32 turned off (:func:`pipeline.lifting.plain_fp32_on_cuda`)."""
    import torch

    if name in ("", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError as e:
        raise InputError(f"unknown device {name!r}; expected auto, cpu, cuda or cuda:N") from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {name!r} requested but torch sees no CUDA device; use --device cpu")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise InputError(f"device {name!r} requested but torch sees {torch.cuda.device_count()} CUDA "
                         f"device(s) (cuda:0 .. cuda:{torch.cuda.device_count() - 1})")
    from ..pipeline.lifting import plain_fp32_on_cuda

    plain_fp32_on_cuda(dev)                  # training and evaluation in plain fp32, as on the CPU
    return dev


def load_data(paths) -> "MocapDataset":  # noqa: F821
    """Load and merge dataset .npz files, with a clear error for missing ones."""
    from ..mocap.dataset import load_dataset, merge_datasets

    if not paths:
        raise InputError("no dataset given; build one with `sasmamba data build ... --out X.npz`")
    sets = []
    for p in paths:
        if not Path(p).is_file():
            raise InputError(f"dataset {p} not found; build it with `sasmamba data build SRC --rig NAME --out {p}`")
        sets.append(load_dataset(p))
    return sets[0] if len(sets) == 1 else merge_datasets(sets)


def _atomic_json(path: Path, obj) -> None:
    write_text(path, json.dumps(obj, indent=2) + "\n")


def _save_state(run: Path, model, opt, meta: dict, device=None) -> None:
    from safetensors.torch import save_file

    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    for i, st in opt.state_dict()["state"].items():
        for k, v in st.items():
            tensors[f"opt.{i}.{k}"] = (v if hasattr(v, "shape") else __import__("torch").tensor(v)).detach().cpu().contiguous()
    torch = __import__("torch")
    tensors["rng.torch"] = torch.get_rng_state()      # drop-path masks continue exactly (CPU ...)
    if device is not None and device.type == "cuda":
        tensors["rng.cuda"] = torch.cuda.get_rng_state(device)      # (... and CUDA generator)
    with atomic_path(run / "state.safetensors") as tmp:
        save_file(tensors, str(tmp))
    _atomic_json(run / "state.json", meta)


def _load_state(run: Path, model, opt, device=None) -> dict:
    import torch
    from safetensors.torch import load_file

    meta = json.loads((run / "state.json").read_text())
    tensors = load_file(str(run / "state.safetensors"))
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    if "rng.torch" in tensors:                  # runs saved before this was kept re-seed instead
        torch.set_rng_state(tensors["rng.torch"])
    if "rng.cuda" in tensors and device is not None and device.type == "cuda":
        torch.cuda.set_rng_state(tensors["rng.cuda"], device)
    sd = opt.state_dict()
    state = {}
    for key, v in tensors.items():
        if key.startswith("opt."):
            _, i, name = key.split(".", 2)
            state.setdefault(int(i), {})[name] = v
    sd["state"] = state
    for g in sd["param_groups"]:
        g["lr"] = meta["lr"]
    opt.load_state_dict(sd)
    return meta


def _check_same_run(cfg_path: Path, cfg: TrainConfig) -> None:
    """A run folder holds one configuration: resuming it with other settings (beyond
    ``RESUMABLE``) is an :class:`InputError`."""
    if not cfg_path.exists():
        return
    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig) if f.default is not dataclasses.MISSING}
    old = {**defaults, **json.loads(cfg_path.read_text())}    # keys added since the run started
    diff = {k: (old.get(k), v) for k, v in cfg.to_dict().items() if k not in RESUMABLE and old.get(k) != v}
    if diff:
        raise InputError(f"{cfg_path.parent} holds a run with a different config ({diff}; run value first); "
                         "use another --out or the same settings to resume")


def _split_clips(ds, cfg: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """(train clip indices, val clip indices, at most ``val_clips``) of ``cfg.split``; an empty
    part is an :class:`InputError`."""
    from ..mocap.dataset import split_indices

    split = cfg.split or None
    train_clips = split_indices(ds, split, "train")
    val_clips = split_indices(ds, split, "val")[: cfg.val_clips]
    split_name = cfg.split or "the bundled split_v1.json"
    for part, clips in (("train", train_clips), ("val", val_clips)):
        if len(clips) == 0:
            raise InputError(f"no {part} clips: {split_name} puts none of the {ds.num_clips} clips of "
                             f"{', '.join(map(str, cfg.data))} in its '{part}' part; pass --split FILE whose "
                             "'val' / 'test' parts name groups of this data (docs/data.md, 'Split')")
    return train_clips, val_clips


def _weights_card(cfg: TrainConfig, ds, train_clips, train_frames: int, command: str, n_params: int) -> dict:
    """The metadata every checkpoint of the run carries (input / output conventions, data, command)."""
    layout = ("H36M-17 2D keypoints of a paired dataset (real detections, e.g. Human3.6M's)" if ds.paired
              else "H36M-17 from COCO-17 via skeletons.json coco17_to_h36m17")
    return {"skeleton": "h36m17", "window": cfg.window, "fps": float(ds.fps),
            "input": {"layout": layout,
                      "normalisation": "screen: x' = 2x/w - 1, y' = 2y/w - h/w", "in_chans": cfg.in_chans},
            "output": {"units": "m", "axes": "camera: x right, y down, z forward", "root_relative": True},
            "data": {"files": [Path(p).name for p in cfg.data],
                     "sources": sorted(set(ds.source[train_clips].tolist())),
                     "licences": sorted(set(ds.licence[train_clips].tolist())),
                     "train_clips": int(len(train_clips)), "train_frames": train_frames,
                     "split": Path(cfg.split).name if cfg.split else "split_v1.json"},
            "command": command, "seed": cfg.seed, "params": n_params,
            "init_weights": cfg.init_weights or None, "upright": cfg.upright,
            "virtual": cfg.virtual or None}


def _fit_mean_pose(model, sampler, ds, val_clips, cfg: TrainConfig, run: Path, base_meta: dict) -> None:
    """The ``mean`` baseline in closed form: the mean root-relative training pose (camera axes) of
    ``epoch_samples`` drawn windows; writes ``best`` and ``last``."""
    import torch
    from sasmamba_models.checkpoint import save_checkpoint

    from .evaluate import evaluate

    rng = np.random.default_rng(cfg.seed)
    acc = np.zeros((17, 3))
    n = 0
    for _ in range(max(1, cfg.epoch_samples // cfg.batch_size)):
        b = sampler.batch(cfg.batch_size, rng)
        acc += b.y.sum(axis=(0, 1))
        n += b.y.shape[0] * b.y.shape[1]
    with torch.no_grad():
        model.mean_pose.copy_(torch.from_numpy(acc / n).float())
    val = evaluate(model, ds, val_clips, cfg.window, cfg.in_chans, seed=cfg.seed, flip_modes=(False,),
                   max_frames_per_clip=cfg.val_max_frames)
    meta = {**base_meta, "val": val["no_tta"]["overall"], "steps": 0, "epochs": 0, "train_seconds": 0.0}
    save_checkpoint(run / "best", model, **meta)
    save_checkpoint(run / "last", model, **meta)


def _start_or_resume(cfg: TrainConfig, run: Path, model, opt, device, console) -> dict:
    """The run's state: fresh (warm-started from ``init_weights`` when given), or the one saved in
    ``run`` (model, optimiser and random generators restored)."""
    state = {"step": 0, "epoch": 0, "samples": 0, "lr": cfg.lr, "train_seconds": 0.0, "best_val": None,
             "rng": None}
    if cfg.init_weights and not (run / "state.json").exists():
        warm_start(model, cfg.init_weights)
        model.to(device)
        console.print(f"warm start from {cfg.init_weights}")
    if (run / "state.json").exists():
        state = _load_state(run, model, opt, device)
        console.print(f"resuming {run} at step {state['step']} (epoch {state['epoch']}, "
                      f"{state['train_seconds'] / 60:.1f} min trained)")
    return state


LOG_COLUMNS = ["step", "epoch", "samples", "lr", "loss", "mpjpe_mm", "n_mpjpe_mm", "velocity_mm",
               "sec_per_step", "train_minutes", "val_mpjpe_mm", "val_p_mpjpe_mm"]


def _open_log(log_path: Path, main: bool, step: int):
    """``(file, csv writer)`` appending to ``log.csv`` (rows after ``step``, the checkpoint resumed
    from, dropped first); other ranks than the main one write into memory."""
    if main and log_path.exists():
        rows = log_path.read_text().splitlines(keepends=True)
        keep = rows[:1] + [r for r in rows[1:] if r.split(",", 1)[0].isdigit() and int(r.split(",", 1)[0]) <= step]
        write_text(log_path, "".join(keep))
    new_log = not log_path.exists()
    log = open(log_path, "a", newline="") if main else io.StringIO()
    writer = csv.writer(log)
    if new_log:
        writer.writerow(LOG_COLUMNS)
    return log, writer


def _train_step(net, model, opt, b, dist, device):
    """One optimiser step on this rank's slice of the global batch ``b``; ``(loss, parts)``."""
    import torch

    from . import distributed as ddp
    from .losses import lifter_loss

    pred = net(torch.from_numpy(ddp.shard(b.x, dist)).to(device, non_blocking=True))
    loss, parts = lifter_loss(pred, torch.from_numpy(ddp.shard(b.y, dist)).to(device, non_blocking=True))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return loss, parts


def train(cfg: TrainConfig, *, command: str = "", console=None) -> Path:
    """Train (or resume) a run; returns the run folder. Stops at ``epochs`` or ``max_minutes``.

    Over the ~80-line rule on purpose (140 lines): the set-up, the step loop and the epoch-end
    validation share the run's live state (optimiser, batch stream, log, progress bar, timers,
    DDP group); every part that stands alone is a helper above."""
    import torch
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from sasmamba_models.checkpoint import save_checkpoint

    from .evaluate import evaluate
    from .sampler import BatchStream, WindowSampler, make_pool
    from . import distributed as ddp

    dist = ddp.setup("cuda" if cfg.device.startswith("cuda") else "cpu")
    console = console or Console(stderr=True, quiet=not dist.main)
    run = Path(cfg.out_dir)
    run.mkdir(parents=True, exist_ok=True)
    cfg_path = run / "config.json"
    _check_same_run(cfg_path, cfg)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.device)
    if dist.active and device.type == "cuda":
        device = torch.device("cuda", dist.local_rank)
        torch.cuda.set_device(device)
    ddp.check_batch(cfg.batch_size, dist)
    torch.manual_seed(cfg.seed)

    ds = load_data(cfg.data)
    train_clips, val_clips = _split_clips(ds, cfg)
    try:
        sampler = WindowSampler(ds, train_clips, cfg.window, cfg.in_chans, virtual=virtual_config(cfg.virtual),
                                upright=cfg.upright)
        model = build_model(cfg)
        if cfg.workers < 0:
            raise ValueError(f"workers must be >= 0, found {cfg.workers}")
    except ValueError as e:
        raise InputError(f"cannot set up training: {e}") from e
    if dist.main:
        _atomic_json(cfg_path, cfg.to_dict())      # only once the data and the model are known to work
    base_meta = _weights_card(cfg, ds, train_clips, sampler.num_frames, command,
                              sum(p.numel() for p in model.parameters() if p.requires_grad))
    try:
        pool = make_pool(sampler, cfg.workers) if cfg.arch != "mean" else None   # before CUDA starts
    except ValueError as e:
        raise InputError(str(e)) from e
    try:
        model.to(device)

        if cfg.arch == "mean":  # closed form: the mean root-relative training pose in camera axes
            _fit_mean_pose(model, sampler, ds, val_clips, cfg, run, base_meta)
            return run

        if device.type == "cuda":
            base_meta["device"] = torch.cuda.get_device_name(device)
        if cfg.arch == "sasmamba":           # (the ablation preset is arch sasmamba too)
            from sasmamba_models.scan import resolve_backend
            base_meta["scan_backend"] = resolve_backend("auto", device)
            console.print(f"scan backend: {base_meta['scan_backend']} on {device}")
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        state = _start_or_resume(cfg, run, model, opt, device, console)
        net = ddp.wrap(model, dist, device)          # DDP when launched by torchrun with several processes
        rng = np.random.default_rng(cfg.seed)
        if state.get("rng"):
            rng.bit_generator.state = state["rng"]
        stream = BatchStream(sampler, cfg.batch_size, rng, pool, cfg.workers)
        if state["step"] and state.get("stream", "in-process") != stream.kind:
            console.print(f"note: this run drew its batches {state.get('stream', 'in-process')}, now {stream.kind} "
                          f"(--workers {cfg.workers}): training continues validly, but not with the batches "
                          "an uninterrupted run would have drawn")
        state["stream"] = stream.kind
        steps_per_epoch = max(1, cfg.epoch_samples // cfg.batch_size)
        log, writer = _open_log(run / "log.csv", dist.main, state["step"])
        t_start = time.time()
        t0_trained = state["train_seconds"]

        def save_all():
            if not dist.main:
                return
            state["rng"] = stream.state
            state["train_seconds"] = t0_trained + time.time() - t_start
            _save_state(run, model, opt, state, device)
            save_checkpoint(run / "last", model, **base_meta, steps=state["step"], epochs=state["epoch"],
                            train_seconds=state["train_seconds"], val=state.get("last_val"))

        budget = cfg.max_minutes * 60 if cfg.max_minutes else float("inf")
        total_steps = cfg.epochs * steps_per_epoch
        with Progress(TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      TextColumn("{task.fields[info]}"), console=console, transient=False) as prog:
            task = prog.add_task("train", total=total_steps, completed=state["step"], info="")
            model.train()
            while ddp.agree(state["step"] < total_steps and time.time() - t_start < budget, dist):
                t = time.time()
                loss, parts = _train_step(net, model, opt, stream.next(), dist, device)
                state["step"] += 1
                state["samples"] += cfg.batch_size
                dt = time.time() - t
                trained_min = (t0_trained + time.time() - t_start) / 60
                writer.writerow([state["step"], state["epoch"], state["samples"], f"{state['lr']:.3e}", f"{float(loss.detach()):.5f}",
                                 f"{parts['mpjpe'] * 1000:.2f}", f"{parts['n_mpjpe'] * 1000:.2f}",
                                 f"{parts['velocity'] * 1000:.3f}", f"{dt:.3f}", f"{trained_min:.2f}", "", ""])
                prog.update(task, advance=1, info=f"mpjpe {parts['mpjpe'] * 1000:.1f} mm  {dt:.2f} s/step")
                if state["step"] % steps_per_epoch == 0:
                    state["epoch"] += 1
                    state["lr"] *= cfg.lr_decay
                    for g in opt.param_groups:
                        g["lr"] = state["lr"]
                    if not dist.main:                # rank 0 validates and writes; the others wait
                        ddp.barrier(dist)
                        continue
                    model.eval()
                    val = evaluate(model, ds, val_clips, cfg.window, cfg.in_chans, seed=cfg.seed, flip_modes=(False,),
                                   max_frames_per_clip=cfg.val_max_frames)["no_tta"]["overall"]
                    model.train()
                    state["last_val"] = val
                    writer.writerow([state["step"], state["epoch"], state["samples"], f"{state['lr']:.3e}", "", "", "", "",
                                     "", f"{trained_min:.2f}", f"{val['mpjpe']:.2f}", f"{val['p_mpjpe']:.2f}"])
                    console.print(f"epoch {state['epoch']}: val MPJPE {val['mpjpe']:.1f} mm, P-MPJPE {val['p_mpjpe']:.1f} mm")
                    if state["best_val"] is None or val["mpjpe"] < state["best_val"]:
                        state["best_val"] = val["mpjpe"]
                        save_checkpoint(run / "best", model, **base_meta, steps=state["step"], epochs=state["epoch"],
                                        train_seconds=t0_trained + time.time() - t_start, val=val)
                    save_all()
                    ddp.barrier(dist)
                elif state["step"] % cfg.checkpoint_every == 0:
                    save_all()
                log.flush()
        save_all()
        log.close()
        if dist.main and not (run / "best.json").exists():
            save_checkpoint(run / "best", model, **base_meta, steps=state["step"], epochs=state["epoch"],
                            train_seconds=state["train_seconds"], val=state.get("last_val"))
        return run
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)   # also on errors and Ctrl-C
        ddp.teardown(dist)
