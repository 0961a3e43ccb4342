"""Lifter configuration: a frozen dataclass and the named presets."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class LifterConfig:
    """Hyper-parameters of a :class:`SasMambaLifter`. All fields are plain JSON values."""

    dim: int = 64                     # C: token width
    depth: int = 5                    # number of (spatial, temporal) block pairs
    max_frames: int = 243             # T_max: temporal position-embedding length = window length
    num_joints: int = 17              # J: Human3.6M-17
    in_chans: int = 2                 # 2 = (x, y); 3 = (x, y, confidence)
    out_chans: int = 3                # (x, y, z) root-relative
    d_state: int = 16                 # N: SSM state size
    expand: int = 2                   # Di = expand * C
    kernel_size: int = 3              # k of the (deformable) frame x joint convolution
    deformable: bool = True           # False: plain depthwise conv (PoseMamba-style ablation)
    strides: tuple[int, ...] = (2, 3)  # joint-group strides added in the frame-major scan; () = none
    mlp_ratio: float = 2.0
    drop_path: float = 0.2            # max drop-path rate (linear 0 -> drop_path over the blocks)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["strides"] = list(self.strides)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "LifterConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown LifterConfig fields {unknown}; expected a subset of {sorted(known)}")
        d = dict(d)
        if "strides" in d:
            d["strides"] = tuple(int(s) for s in d["strides"])
        return cls(**d)

    def replace(self, **kw) -> "LifterConfig":
        return dataclasses.replace(self, **kw)


PRESETS: dict[str, LifterConfig] = {
    # the authors' two configurations (0.951 M / 5.57 M trainable parameters at T=243)
    "s": LifterConfig(dim=64, depth=5),
    "l": LifterConfig(dim=128, depth=10),
    # PoseMamba-style ablation of "s": plain depthwise 3x3 conv, no stride sums
    "ablation": LifterConfig(dim=64, depth=5, deformable=False, strides=()),
    # a tiny configuration for unit tests
    "tiny": LifterConfig(dim=16, depth=1, max_frames=27),
}


def preset(name: str, **overrides) -> LifterConfig:
    """Return preset ``name`` with optional field overrides (e.g. ``max_frames=81``)."""
    try:
        cfg = PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; expected one of {sorted(PRESETS)}") from None
    return cfg.replace(**overrides) if overrides else cfg
