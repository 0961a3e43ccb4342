"""One mocap file -> one :class:`~sasmamba_cli.mocap.dataset.Clip` (FK, rig map, resample)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError
from .dataset import Clip
from ..pipeline.resample import resample
from .rigs import Rig, apply_rig


def find_sources(srcs: list[Path], rig: Rig) -> list[Path]:
    """Expand files / folders (searched recursively) into the motion files for ``rig``'s format:
    ``.bvh`` for BVH rigs, ``.amc`` for ASF rigs. Sorted; the rig's ``exclude`` names dropped."""
    ext = ".bvh" if rig.format == "bvh" else ".amc"
    out: list[Path] = []
    for s in srcs:
        s = Path(s)
        if s.is_dir():
            out.extend(p for p in sorted(s.rglob("*")) if p.is_file() and p.suffix.lower() == ext)
        elif s.is_file():
            out.append(s)
        else:
            raise InputError(f"source {s} does not exist; expected a {ext} file or a folder")
    return [p for p in out if not rig.excluded(p)]


def _asf_for(amc: Path) -> Path:
    asfs = sorted(amc.parent.glob("*.asf"))
    subject = amc.stem.split("_")[0]
    exact = [a for a in asfs if a.stem == subject]
    if exact:
        return exact[0]
    if len(asfs) == 1:
        return asfs[0]
    raise InputError(f"{amc}: expected one .asf skeleton in the same folder (or {subject}.asf), "
                     f"found {[a.name for a in asfs] or 'none'}")


def fk_file(path: Path, rig: Rig) -> tuple[tuple[str, ...], np.ndarray, np.ndarray, float | None]:
    """Read + FK one file: joint names, positions (F, J, 3) file units, rotations (F, J, 3, 3),
    header fps (None when the format has none)."""
    if rig.format == "bvh":
        from ..export.bvh_read import forward_kinematics_full, read_bvh

        m = read_bvh(path)
        pos, rot = forward_kinematics_full(m)
        return m.names, pos, rot, m.fps
    if rig.format == "asf":
        from .asf import forward_kinematics_asf, read_amc, read_asf

        skel = read_asf(_asf_for(path))
        pos, rot = forward_kinematics_asf(skel, read_amc(path))
        return skel.names, pos, rot, None
    raise InputError(f"rig {rig.name!r} has unknown format {rig.format!r}; expected 'bvh' or 'asf'")


def convert_file(path: Path, rig: Rig, fps: float, min_frames: int = 2) -> Clip:
    """FK + rig map + resampling of one file to ``fps``; positions float32 mm, Y up."""
    path = Path(path)
    meta = rig.clip_meta(path)
    names, pos, rot, header_fps = fk_file(path, rig)
    src_fps = rig.fps_for(path, header_fps)
    h36m, coco = apply_rig(rig, names, pos, rot)
    h36m, coco = resample(h36m, src_fps, fps), resample(coco, src_fps, fps)
    if h36m.shape[0] < min_frames:
        raise InputError(f"{path}: only {h36m.shape[0]} frames at {fps} fps; expected >= {min_frames}")
    if not (np.all(np.isfinite(h36m)) and np.all(np.isfinite(coco))):
        raise InputError(f"{path}: forward kinematics produced NaN/inf positions")
    return Clip(h36m.astype(np.float32), coco.astype(np.float32), **meta)
