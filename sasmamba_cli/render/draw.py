"""OpenCV drawing: 2D skeleton overlays and a fixed virtual camera for the 3D panel.

The 3D view is an orthographic projection from a fixed azimuth / elevation, with one scale and
centre for the whole clip (computed from every point of every track), so people do not jump or
shrink between frames. World axes: Y up, metres (see ``sasmamba_cli.export.world``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..skeleton import H36M

# BGR colours, one per track (cycled by track id); clear on light and dark video.
PALETTE = [(255, 128, 0), (0, 200, 255), (80, 220, 60), (200, 80, 255), (60, 60, 255),
           (255, 220, 40), (160, 160, 160), (0, 128, 255)]
BONES = [(p, j) for j, p in enumerate(H36M.parents) if p >= 0]
LEFT = set(H36M.left)


def track_colour(track_id: int) -> tuple[int, int, int]:
    return PALETTE[int(track_id) % len(PALETTE)]


def _shade(c, f: float):
    return tuple(int(min(255, v * f)) for v in c)


def draw_skeleton(img: np.ndarray, pts: np.ndarray, colour, valid: np.ndarray | None = None,
                  thickness: int = 2, radius: int = 3) -> None:
    """Draw bones and joints of one person: ``pts (17, 2)`` pixels; ``valid (17,)`` mask.

    Left-side bones are drawn lighter than right-side ones.
    """
    import cv2

    p = np.round(pts).astype(np.int32)
    ok = np.ones(len(p), bool) if valid is None else valid
    for a, b in BONES:
        if ok[a] and ok[b]:
            c = _shade(colour, 1.35) if b in LEFT else colour
            cv2.line(img, tuple(p[a]), tuple(p[b]), c, thickness, cv2.LINE_AA)
    for j in np.flatnonzero(ok):
        cv2.circle(img, tuple(p[j]), radius, (255, 255, 255), -1, cv2.LINE_AA)


@dataclass(frozen=True)
class View3D:
    """A fixed orthographic camera for a ``size x size`` panel.

    rotation: (3, 3) world -> view (x right, y up on screen, z toward the viewer)
    centre:   (3,) world point at the panel centre (m); scale: pixels per metre
    floor_y:  height of the ground grid (m); grid: (G, 2, 3) world segments of the ground grid
    """

    rotation: np.ndarray
    centre: np.ndarray
    scale: float
    size: int
    floor_y: float
    grid: np.ndarray

    def project(self, pts_world: np.ndarray) -> np.ndarray:
        """(..., 3) world metres -> (..., 2) panel pixels."""
        v = (pts_world - self.centre) @ self.rotation.T
        return np.stack([self.size / 2 + v[..., 0] * self.scale,
                         self.size / 2 - v[..., 1] * self.scale], axis=-1)

    def background(self) -> np.ndarray:
        """The panel with its ground grid, drawn once per clip."""
        import cv2

        img = np.full((self.size, self.size, 3), 32, np.uint8)
        seg = np.round(self.project(self.grid)).astype(np.int32)
        for a, b in seg:
            cv2.line(img, tuple(a), tuple(b), (80, 80, 80), 1, cv2.LINE_AA)
        axes = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], float) * 0.5
        o = axes[0] + [self.centre[0], self.floor_y, self.centre[2]]
        pa = np.round(self.project(axes + o - axes[0])).astype(np.int32)
        for k, c in zip(range(1, 4), [(60, 60, 230), (60, 200, 60), (230, 120, 60)]):
            cv2.line(img, tuple(pa[0]), tuple(pa[k]), c, 2, cv2.LINE_AA)
        cv2.putText(img, "1 m grid, Y up", (8, self.size - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    (160, 160, 160), 1, cv2.LINE_AA)
        return img


def make_view(points_world: np.ndarray, size: int, floor_y: float = 0.0,
              azimuth_deg: float = 30.0, elevation_deg: float = 20.0, margin: float = 0.12) -> View3D:
    """Fit a fixed view to ``points_world (N, 3)`` metres (all frames, all tracks)."""
    from ..export.geometry import axis_rotation

    rot = axis_rotation("X", np.radians(elevation_deg)) @ axis_rotation("Y", np.radians(-azimuth_deg))
    pts = points_world.reshape(-1, 3)
    if len(pts) == 0:
        pts = np.zeros((1, 3))
    lo, hi = pts.min(0), pts.max(0)
    lo[1] = min(lo[1], floor_y)
    step = 1.0
    gx = np.arange(np.floor(lo[0] / step) - 1, np.ceil(hi[0] / step) + 2) * step
    gz = np.arange(np.floor(lo[2] / step) - 1, np.ceil(hi[2] / step) + 2) * step
    grid = [[[x, floor_y, gz[0]], [x, floor_y, gz[-1]]] for x in gx]
    grid += [[[gx[0], floor_y, z], [gx[-1], floor_y, z]] for z in gz]
    grid = np.array(grid, float)
    centre = (lo + hi) / 2
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    v = (corners - centre) @ rot.T
    extent = max(np.ptp(v[:, 0]), np.ptp(v[:, 1]), 0.5)
    scale = size * (1 - 2 * margin) / extent
    return View3D(rot, centre, float(scale), int(size), float(floor_y), grid)
