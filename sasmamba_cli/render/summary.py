"""Summary PNG per clip (matplotlib, drawn once): per track, per-joint confidence over time, bone
lengths over time, and the root trajectory seen from above (world frame, metres)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..atomic import atomic_path
from ..export.rig import bone_lengths_cm
from ..export.track_rig import world_frame_of
from ..pipeline.result import ClipResult
from ..skeleton import H36M


def drawable(text: str) -> str:
    """``text`` with the characters matplotlib's default font has no glyph for replaced by '?'
    (a non-Latin file name would otherwise draw as boxes and print 'Glyph ... missing' warnings)."""
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    try:
        font = FT2Font(font_manager.findfont(font_manager.FontProperties()))
    except (OSError, RuntimeError, ValueError):
        return "".join(c if c.isascii() else "?" for c in text)
    return "".join(c if c.isascii() or font.get_char_index(ord(c)) else "?" for c in text)

MAX_TRACKS = 6


def write_summary(res: ClipResult, path: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    tracks = list(res.tracks[:MAX_TRACKS])
    rows = max(1, len(tracks))
    fig, axes = plt.subplots(rows, 3, figsize=(15, 3.2 * rows), squeeze=False,
                             gridspec_kw={"width_ratios": [1.4, 1.4, 1]})
    world = world_frame_of(res)
    fps = res.source.fps
    for row, t in zip(axes, tracks):
        time = t.frames / fps
        im = row[0].imshow(t.confidence.T, aspect="auto", vmin=0, vmax=1, cmap="viridis",
                           extent=[time[0], time[-1] + 1 / fps, 16.5, -0.5], interpolation="nearest")
        row[0].set_yticks(range(17), H36M.names, fontsize=6)
        row[0].set_title(f"track {t.track_id}: 2D confidence per joint "
                         f"({t.interpolated.mean() * 100:.0f}% frames interpolated)", fontsize=9)
        row[0].set_xlabel("time (s)")
        fig.colorbar(im, ax=row[0], fraction=0.03)
        lengths = bone_lengths_cm(t.positions_camera_m() * 100.0)
        for j in range(1, 17):
            row[1].plot(time, lengths[:, j], lw=0.8, label=H36M.names[j])
        spread = np.ptp(lengths[:, 1:], axis=0) / np.maximum(np.median(lengths[:, 1:], axis=0), 1e-9)
        row[1].set_title(f"bone lengths (cm), max spread {spread.max() * 100:.1f}%", fontsize=9)
        row[1].set_xlabel("time (s)")
        row[1].legend(fontsize=5, ncol=2, loc="upper right")
        root = world.to_world_cm(t.root_3d_m + t.joints_3d_m[:, 0]) / 100.0
        sc = row[2].scatter(root[:, 0], root[:, 2], c=time, s=4, cmap="plasma")
        row[2].plot(root[0, 0], root[0, 2], "k^", ms=6)
        row[2].plot(0, 0, "ks", ms=6)
        row[2].annotate("camera", (0, 0), fontsize=7)
        row[2].set_aspect("equal", adjustable="datalim")
        row[2].set_title("root trajectory from above (m; camera at origin, looks to -Z)", fontsize=9)
        row[2].set_xlabel("x (m)")
        row[2].set_ylabel("z (m)")
        fig.colorbar(sc, ax=row[2], fraction=0.04, label="s")
    if not tracks:
        axes[0, 0].set_title("no tracks in this result")
    fig.suptitle(f"{drawable(Path(res.source.path).name)}: {len(res.tracks)} track(s), {res.source.frame_count} "
                 f"frames @ {fps:.3f} fps", fontsize=11)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)
    return path
