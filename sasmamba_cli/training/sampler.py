"""Turn mocap clips into (2D input, 3D target) training windows through virtual capture.

Every sample goes through the same 2D path as inference: virtual COCO-17 detections ->
``coco_to_h36m`` -> ``lifter_input`` (screen normalisation); a paired dataset's real 2D goes
straight to ``lifter_input`` (:mod:`.observe`). Targets are root-relative H36M joints
in camera coordinates, metres.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..mocap.dataset import MocapDataset
from ..skeleton import flip_h36m, lifter_input
from ..pipeline.roll import rotate_camera_z, rotate_keypoints, torso_roll
from .observe import observe
from .virtual import VirtualConfig


@dataclass(frozen=True)
class Batch:
    """x: (B, T, 17, in_chans) float32 normalised 2D (+conf); y: (B, T, 17, 3) float32 metres,
    root-relative camera coordinates; clip: (B,) clip index of each sample."""

    x: np.ndarray
    y: np.ndarray
    clip: np.ndarray


def window_sample(ds: MocapDataset, clip: int, start: int, window: int, rng: np.random.Generator,
                  in_chans: int, flip: bool = False, virtual: VirtualConfig | None = None,
                  upright: bool = False, donor: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One window ``[start, start + window)`` of ``clip`` (edge-padded if the clip is shorter).
    ``donor``: ``(clip, start)`` of another window (edge-padded the same way), the limb donor of
    ``virtual.limb_mix_p`` (:mod:`.augment`).
    ``upright``: the window is seen as ``lift --upright`` sees a track (2D turned so the median torso
    points up, the target turned with it about the optical axis; :mod:`sasmamba_cli.pipeline.roll`)."""
    a, b = int(ds.clip_start[clip]), int(ds.clip_start[clip + 1])
    idx = np.clip(np.arange(start, start + window), 0, b - a - 1) + a
    donor_rows = None
    if donor is not None:
        da, db = int(ds.clip_start[donor[0]]), int(ds.clip_start[donor[0] + 1])
        donor_rows = np.clip(np.arange(donor[1], donor[1] + window), 0, db - da - 1) + da
    s = observe(ds, clip, idx, rng, virtual, donor_rows)
    kp, y = s.kp2d_px, s.target_cam_m - s.target_cam_m[:, :1]
    if upright:
        roll = torso_roll(kp)
        kp, y = rotate_keypoints(kp, -roll, s.width, s.height), rotate_camera_z(y, -roll)
    x = lifter_input(kp, s.width, s.height, in_chans)
    if flip:                     # flip_h36m negates channel 0 only, so a conf channel is kept
        x, y = flip_h36m(x), flip_h36m(y)
    return x.astype(np.float32), y.astype(np.float32)


class WindowSampler:
    """Random training windows, clips drawn in proportion to their length. With
    ``virtual.limb_mix_p > 0`` each window also gets a donor window (limb mixing, :mod:`.augment`)
    from another training clip, drawn the same way."""

    def __init__(self, ds: MocapDataset, clips: np.ndarray, window: int, in_chans: int, flip_p: float = 0.5,
                 virtual: VirtualConfig | None = None, upright: bool = False):
        if len(clips) == 0:
            raise ValueError("no training clips: check the dataset and the split file")
        self.ds, self.clips, self.window, self.in_chans, self.flip_p = ds, np.asarray(clips), window, in_chans, flip_p
        self.virtual, self.upright = virtual, upright
        lengths = np.diff(ds.clip_start)[self.clips].astype(np.float64)
        self.p = lengths / lengths.sum()
        self.lengths = lengths.astype(np.int64)

    @property
    def num_frames(self) -> int:
        return int(self.lengths.sum())

    def batch(self, size: int, rng: np.random.Generator) -> Batch:
        picks = rng.choice(len(self.clips), size=size, p=self.p)
        xs, ys = [], []
        for i in picks:
            start = int(rng.integers(0, max(1, self.lengths[i] - self.window + 1)))
            donor = None
            if self.virtual is not None and self.virtual.limb_mix_p > 0 and not self.ds.paired and len(self.clips) > 1:
                k = int(rng.choice(len(self.clips), p=self.p))
                if k == i:      # another clip: the next one in the list
                    k = (k + 1) % len(self.clips)
                donor = (int(self.clips[k]), int(rng.integers(0, max(1, self.lengths[k] - self.window + 1))))
            x, y = window_sample(self.ds, int(self.clips[i]), start, self.window, rng, self.in_chans,
                                 flip=bool(rng.random() < self.flip_p), virtual=self.virtual,
                                 upright=self.upright, donor=donor)
            xs.append(x)
            ys.append(y)
        return Batch(np.stack(xs), np.stack(ys), self.clips[picks])


def eval_windows(length: int, window: int) -> list[int]:
    """Start frames of windows tiling ``[0, length)``; the last one is aligned to the clip end."""
    if length <= window:
        return [0]
    starts = list(range(0, length - window + 1, window))
    if starts[-1] + window < length:
        starts.append(length - window)
    return starts


# --- batches produced ahead by worker processes (GPU training) -------------------------------
_WORKER_SAMPLER: WindowSampler | None = None


def _init_worker(sampler: WindowSampler) -> None:
    global _WORKER_SAMPLER
    _WORKER_SAMPLER = sampler


def _worker_batch(size: int, seed: int) -> Batch:
    return _WORKER_SAMPLER.batch(size, np.random.default_rng(seed))


def make_pool(sampler: WindowSampler, workers: int):
    """A pool of ``workers`` forked processes holding ``sampler`` (None for 0), started at once.
    Fork shares the dataset copy-on-write; make the pool before CUDA is initialised here."""
    if workers <= 0:
        return None
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    if "fork" not in mp.get_all_start_methods():
        raise ValueError(f"workers={workers} needs the 'fork' start method, which this platform lacks "
                         f"(it has {mp.get_all_start_methods()}); train with --workers 0")
    pool = ProcessPoolExecutor(workers, mp_context=mp.get_context("fork"), initializer=_init_worker,
                               initargs=(sampler,))
    for f in [pool.submit(int) for _ in range(workers)]:    # fork every worker now, before CUDA
        f.result()
    return pool


class BatchStream:
    """Training batches in a fixed, resumable order.

    ``pool is None``: each batch is drawn in this process from ``rng`` (the CPU runs' stream).
    Otherwise each batch comes from its own seed drawn from ``rng`` and is built ahead by the
    worker processes of ``pool`` (:func:`make_pool`, so a GPU does not wait for the numpy virtual
    capture); that stream depends on the seed only, not on the number of workers.
    ``state`` is the ``rng`` state to save in a checkpoint: resuming from it continues with the
    first batch not yet handed out, whatever was prefetched. ``kind`` names the stream
    (``"in-process"`` or ``"seeded"``): the two differ, so a resume that switches between them
    continues validly but not as the uninterrupted run would have.
    """

    def __init__(self, sampler: WindowSampler, size: int, rng: np.random.Generator, pool=None, workers: int = 0):
        self.sampler, self.size, self.rng, self._pool = sampler, size, rng, pool
        self.workers = max(1, int(workers)) if pool is not None else 0
        self.kind = "seeded" if pool is not None else "in-process"
        self.state = rng.bit_generator.state
        self._pending: list = []

    def next(self) -> Batch:
        if self._pool is None:
            b = self.sampler.batch(self.size, self.rng)
            self.state = self.rng.bit_generator.state
            return b
        from concurrent.futures.process import BrokenProcessPool

        while len(self._pending) < 2 * self.workers:
            seed = int(self.rng.integers(2 ** 63))
            self._pending.append((self._pool.submit(_worker_batch, self.size, seed), self.rng.bit_generator.state))
        fut, state = self._pending.pop(0)
        try:
            b = fut.result()
        except BrokenProcessPool as e:
            raise RuntimeError("a batch-building worker process died (out of memory?); the run is "
                               "checkpointed: resume it with fewer --workers (or 0)") from e
        self.state = state
        return b

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
            self._pending.clear()
