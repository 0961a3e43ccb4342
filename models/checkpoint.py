"""Checkpoints: safetensors weights + a JSON metadata file. Nothing is ever unpickled.

``NAME.safetensors`` holds the state dict; ``NAME.json`` holds::

    {"format": "sasmamba-weights", "format_version": 1,
     "arch": "sasmamba" | "tcn" | "mean" | "transformer",
     "config": {...},                      # the architecture's config dataclass as a dict
     "skeleton": "h36m17", "input": {...}, # keypoint layout and normalisation of the input
     "window": T, "fps": 30,               # training window length and frame rate
     "data": ..., "licence": ..., "metrics": {...}, "command": ..., "seed": ...,
     "weights_sha256": "..."}
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch.nn as nn

from sasmamba_cli.atomic import write_bytes

from .baselines import MeanPoseConfig, MeanPoseLifter, TCNConfig, TemporalConvLifter, TransformerConfig, TransformerLifter
from .config import LifterConfig
from .lifter import SasMambaLifter

FORMAT = "sasmamba-weights"
FORMAT_VERSION = 1

ARCHS = {
    "sasmamba": (LifterConfig, SasMambaLifter),
    "tcn": (TCNConfig, TemporalConvLifter),
    "mean": (MeanPoseConfig, MeanPoseLifter),
    "transformer": (TransformerConfig, TransformerLifter),
}


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupt, or does not match what the caller expects."""


def arch_of(model: nn.Module) -> str:
    for name, (_, cls) in ARCHS.items():
        if isinstance(model, cls):
            return name
    raise CheckpointError(f"cannot save a {type(model).__name__}; expected one of {[c.__name__ for _, c in ARCHS.values()]}")


def build_model(arch: str, config: dict) -> nn.Module:
    if arch not in ARCHS:
        raise CheckpointError(f"unknown arch {arch!r}; expected one of {sorted(ARCHS)}")
    cfg_cls, model_cls = ARCHS[arch]
    if arch == "sasmamba":
        cfg = LifterConfig.from_dict(config)
    else:
        cfg = cfg_cls(**config)
    return model_cls(cfg)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def paths_for(path: str | os.PathLike) -> tuple[Path, Path]:
    """``X``, ``X.json`` or ``X.safetensors`` -> (weights path, metadata path)."""
    p = Path(path)
    if p.suffix in (".json", ".safetensors"):
        p = p.with_suffix("")
    return p.with_name(p.name + ".safetensors"), p.with_name(p.name + ".json")


def save_checkpoint(path, model: nn.Module, **metadata) -> tuple[Path, Path]:
    """Write ``path.safetensors`` and ``path.json`` atomically; returns both paths."""
    from safetensors.torch import save

    wpath, mpath = paths_for(path)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    blob = save(state)
    write_bytes(wpath, blob)
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "arch": arch_of(model),
            "config": model.config.to_dict(), **metadata,
            "weights_sha256": hashlib.sha256(blob).hexdigest()}
    write_bytes(mpath, (json.dumps(meta, indent=2, sort_keys=False) + "\n").encode())
    return wpath, mpath


def read_metadata(path) -> dict:
    _, mpath = paths_for(path)
    if not mpath.is_file():
        raise CheckpointError(f"checkpoint metadata {mpath} not found; expected a .json next to the .safetensors")
    try:
        meta = json.loads(mpath.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise CheckpointError(f"cannot read checkpoint metadata {mpath}: {e}") from e
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{mpath}: expected format {FORMAT!r}, found {meta.get('format')!r}")
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(f"{mpath}: format_version {meta['format_version']} is newer than this "
                              f"sasmamba understands ({FORMAT_VERSION}); upgrade sasmamba")
    return meta


def load_checkpoint(path, *, expect_config: dict | None = None, expect_arch: str | None = None,
                    map_location: str = "cpu", verify_hash: bool = True):
    """Load ``(model, metadata)``. Raises :class:`CheckpointError` on any mismatch."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    wpath, mpath = paths_for(path)
    meta = read_metadata(path)
    if expect_arch is not None and meta.get("arch") != expect_arch:
        raise CheckpointError(f"checkpoint {mpath} has arch {meta.get('arch')!r}, expected {expect_arch!r}")
    if expect_config is not None:
        diff = {k: (expect_config[k], meta["config"].get(k)) for k in expect_config
                if meta["config"].get(k) != expect_config[k]}
        if diff:
            lines = ", ".join(f"{k}: expected {a!r}, checkpoint has {b!r}" for k, (a, b) in diff.items())
            raise CheckpointError(f"checkpoint {mpath} does not match the requested config ({lines})")
    if not wpath.is_file():
        raise CheckpointError(f"checkpoint weights {wpath} not found")
    if verify_hash and meta.get("weights_sha256") and sha256_file(wpath) != meta["weights_sha256"]:
        raise CheckpointError(f"{wpath}: sha256 does not match {mpath} (file corrupt or replaced)")
    model = build_model(meta["arch"], meta["config"])
    try:
        state = load_file(str(wpath), device=map_location)
    except (SafetensorError, OSError) as e:
        raise CheckpointError(f"cannot read weights {wpath}: {e}") from e
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as e:  # shape mismatches
        raise CheckpointError(f"{wpath} does not fit arch {meta['arch']} with config {meta['config']}: "
                              f"{str(e).splitlines()[-1].strip()}") from e
    if missing or unexpected:
        raise CheckpointError(f"{wpath} does not fit arch {meta['arch']} with config {meta['config']}: "
                              f"missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]}")
    model.eval()
    return model, meta
