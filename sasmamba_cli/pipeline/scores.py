"""Keypoint scores: what a 2D backend's per-keypoint score means and how it becomes the lifter's
confidence. The table is data: ``sasmamba_cli/data/keypoint_scores.json`` (one entry per kind of
score, with what it is for and what was measured); ``lift --scores NAME`` picks one for keypoint
files.

Shapes: ``scores`` any shape, values >= 0 (0 = missing); the map keeps missing at 0.
"""
from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

import numpy as np

from ..errors import InputError

_MAPS = {"identity": lambda s: s, "ones": lambda s: np.ones_like(s)}


@lru_cache(maxsize=1)
def score_table() -> dict:
    return json.loads(resources.files("sasmamba_cli.data").joinpath("keypoint_scores.json").read_text())


def score_names() -> list[str]:
    return list(score_table()["maps"])


def map_scores(scores: np.ndarray, name: str) -> np.ndarray:
    """``scores`` -> lifter confidences by the table entry ``name`` (missing stays 0)."""
    table = score_table()["maps"]
    if name not in table:
        raise InputError(f"unknown --scores {name!r}; expected one of {', '.join(table)} "
                         "(sasmamba_cli/data/keypoint_scores.json says what each is for)")
    s = np.asarray(scores, dtype=np.float64)
    ok = np.isfinite(s) & (s > 0)
    return np.where(ok, _MAPS[table[name]["map"]](np.where(ok, s, 0.0)), 0.0)


def default_kp_threshold(scores: str | None = None, backend: str = "yolo") -> float:
    """The keypoint threshold when ``--kp-threshold`` is not given: the table entry's
    ``kp_threshold`` for ``scores`` (keypoint files) or for the entry the ``backend`` uses (videos)."""
    table = score_table()
    name = scores if scores is not None else table["backends"].get(backend, table["default"])
    if name not in table["maps"]:
        raise InputError(f"unknown --scores {name!r}; expected one of {', '.join(table['maps'])}")
    return float(table["maps"][name]["kp_threshold"])
