"""Rig maps (``data/rigs/<name>.json``): mocap joints -> H36M-17 joints and COCO-17 virtual markers.

A rig file holds the unit -> mm factor, the up axis, frame-rate fixes, how to name clips, the
head's local axes and one *rule* per H36M / COCO joint. Rules (positions in mm, evaluated in the
file's order, H36M first; ``"@name"`` refers to an H36M joint computed before):

* ``{"joint": "X"}``                 the rig joint X (or ``"@name"``)
* ``{"mean": ["A", "B", ...]}``      the mean of several points
* ``{"lerp": ["A", "B"], "t": k}``   ``A + k (B - A)`` (``k > 1`` extrapolates)
* ``{"head": [l, u, f], "from": "X"}`` joint X plus ``l`` mm to the left, ``u`` up and ``f``
  forward in the head frame (see ``head_frame``)
* any rule may add ``"shift": {"along": ["A", "B"], "mm": d}``: move ``d`` mm along ``B - A``.

``head_frame``: ``joint`` whose global rotation carries the head; ``up_local`` and
``forward_local`` are the head's up and facing directions in that joint's local axes; left is
``up x forward`` (right-handed, Y-up world). See docs/data.md for the chosen offsets.
"""
from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..skeleton import COCO, H36M

RIG_NAMES = ("bandai", "cmu_asf", "cmu_daz")


@dataclass(frozen=True)
class Rig:
    """A loaded rig map; ``spec`` is the parsed JSON (see the module docstring)."""

    name: str
    spec: dict

    @property
    def format(self) -> str:
        return self.spec["format"]

    @property
    def unit_mm(self) -> float:
        return float(self.spec["unit_mm"])

    def excluded(self, path: Path) -> bool:
        return any(fnmatch.fnmatch(path.name, p) for p in self.spec.get("exclude", []))

    def fps_for(self, path: Path, header_fps: float | None) -> float:
        """Frame rate of a file: a matching ``fps_overrides`` pattern (matched against the
        path with forward slashes), else the rig's ``fps``, else the header's."""
        p = Path(path).as_posix()
        for o in self.spec.get("fps_overrides", []):
            if fnmatch.fnmatch(p, o["pattern"]):
                return float(o["fps"])
        if self.spec.get("fps"):
            return float(self.spec["fps"])
        if header_fps is None:
            raise InputError(f"{path}: no frame rate in the file and none in rig {self.name!r}; "
                             f"add \"fps\" to data/rigs/{self.name}.json")
        return snap_fps(header_fps)

    def clip_meta(self, path: Path) -> dict:
        """clip_id, source, subject, group, licence for a file, from the rig's ``clip`` templates
        (the regex is searched in ``<parent folder>/<stem>``; ``group_alias`` maps a formatted group
        to another, e.g. to join the two partners of one recorded dance)."""
        c = self.spec["clip"]
        path = Path(path)
        key = f"{path.parent.name}/{path.stem}"
        m = re.search(c["regex"], key)
        if m is None:
            raise InputError(f"{path}: file name does not match rig {self.name!r} clip pattern "
                             f"{c['regex']!r}; rename it or use another --rig")
        fields = {**m.groupdict(), "stem": path.stem}
        meta = {k: c[k].format(**fields) for k in ("clip_id", "source", "subject", "group", "licence")}
        meta["group"] = c.get("group_alias", {}).get(meta["group"], meta["group"])
        return meta


def snap_fps(fps: float) -> float:
    """Header frame rates are written with few digits (0.0333333 s): snap to an integer when
    within 0.05 %, else round to 1e-3 Hz."""
    r = round(fps)
    return float(r) if r > 0 and abs(fps - r) / r < 5e-4 else round(fps, 3)


@lru_cache(maxsize=None)
def load_rig(name: str) -> Rig:
    """Load ``data/rigs/<name>.json`` (or a path to a rig JSON)."""
    if name.endswith(".json"):
        text = Path(name).read_text()
        rig_name = Path(name).stem
    else:
        f = resources.files("sasmamba_cli.data").joinpath("rigs").joinpath(f"{name}.json")
        if not f.is_file():
            raise InputError(f"unknown rig {name!r}; expected one of {list(RIG_NAMES)} "
                             f"or a path to a rig .json")
        text, rig_name = f.read_text(), name
    spec = json.loads(text)
    missing = [n for n in H36M.names if n not in spec.get("h36m", {})]
    missing += [f"coco:{n}" for n in COCO.names if n not in spec.get("coco", {})]
    if missing:
        raise InputError(f"rig {rig_name!r} has no rule for {missing}; every H36M-17 and COCO-17 "
                         f"joint needs one")
    return Rig(rig_name, spec)


def _to_y_up(pos: np.ndarray, rot: np.ndarray, up: str) -> tuple[np.ndarray, np.ndarray]:
    if up.upper() == "Y":
        return pos, rot
    if up.upper() == "Z":  # (x, y, z) Z-up -> (x, z, -y) Y-up: rotation -90 deg about X
        A = np.array([[1.0, 0, 0], [0, 0, 1], [0, -1, 0]])
        return pos @ A.T, A @ rot
    raise InputError(f"unsupported up_axis {up!r}; expected 'Y' or 'Z'")


def apply_rig(rig: Rig, names, pos: np.ndarray, rot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """FK output in file units -> ``(h36m_mm (F,17,3), coco_mm (F,17,3))`` float64, Y up.

    names: (J,) rig joint names; pos: (F, J, 3) file units; rot: (F, J, 3, 3) global rotations.
    """
    pos, rot = _to_y_up(np.asarray(pos, np.float64) * rig.unit_mm, rot, rig.spec.get("up_axis", "Y"))
    index = {n: i for i, n in enumerate(names)}
    hf = rig.spec["head_frame"]
    if hf["joint"] not in index:
        raise InputError(f"rig {rig.name!r}: head joint {hf['joint']!r} not in the file; "
                         f"is this the right --rig?")
    up_l = np.asarray(hf["up_local"], float)
    fw_l = np.asarray(hf["forward_local"], float)
    up_l /= np.linalg.norm(up_l)
    fw_l = fw_l - up_l * (fw_l @ up_l)
    fw_l /= np.linalg.norm(fw_l)
    left_l = np.cross(up_l, fw_l)
    head_basis = rot[:, index[hf["joint"]]] @ np.stack([left_l, up_l, fw_l], -1)  # (F, 3, 3) columns l,u,f
    done: dict[str, np.ndarray] = {}

    def point(ref: str) -> np.ndarray:
        if ref.startswith("@"):
            if ref[1:] not in done:
                raise InputError(f"rig {rig.name!r}: {ref} is used before it is defined")
            return done[ref[1:]]
        if ref not in index:
            raise InputError(f"rig {rig.name!r}: joint {ref!r} not in the file (it has "
                             f"{len(names)} joints, e.g. {list(names)[:6]}); is this the right --rig?")
        return pos[:, index[ref]]

    def evaluate(rule: dict) -> np.ndarray:
        if "joint" in rule:
            p = point(rule["joint"])
        elif "mean" in rule:
            p = np.mean([point(r) for r in rule["mean"]], axis=0)
        elif "lerp" in rule:
            a, b = (point(r) for r in rule["lerp"])
            p = a + float(rule["t"]) * (b - a)
        elif "head" in rule:
            p = point(rule["from"]) + head_basis @ np.asarray(rule["head"], float)
        else:
            raise InputError(f"rig {rig.name!r}: unknown rule {rule}; expected joint/mean/lerp/head")
        if "shift" in rule:
            a, b = (point(r) for r in rule["shift"]["along"])
            d = b - a
            p = p + float(rule["shift"]["mm"]) * d / np.maximum(np.linalg.norm(d, axis=-1, keepdims=True), 1e-9)
        return p

    for n, rule in rig.spec["h36m"].items():
        done[n] = evaluate(rule)
    h36m = np.stack([done[n] for n in H36M.names], axis=1)
    coco = np.stack([evaluate(rig.spec["coco"][n]) for n in COCO.names], axis=1)
    return h36m, coco
