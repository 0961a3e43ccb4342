"""Virtual capture: a mocap clip seen by a random pinhole camera through a noisy 2D detector.

Pipeline for one sample (all vectorised numpy; ~1 ms for T = 243):

0. Pose-space augmentation (:mod:`.augment`, off by default): limb mixing with another clip,
   joint-angle perturbation, proportions, trunk lean, whole-body tilt.
1. Body randomisation: each H36M bone is scaled by a random factor (left/right bones share one),
   descendants and the attached COCO markers move rigidly with their joint; then a global scale
   about the clip's ground point.
2. Random camera: image size (landscape or portrait, long side 640-1920 px), horizontal field of
   view -> focal length, yaw all around the subject, pitch (looking down a little or up),
   roll, distance chosen so the clip's bounding sphere fits the frame.
   World (Y up, metres) -> camera (OpenCV: x right, y down, z forward): ``X_c = R X_w + t``.
3. Projection ``u = f x/z + cx``, ``v = f y/z + cy``.
4. Detector noise on the COCO 2D: per-clip systematic offsets, white + temporally correlated
   jitter (std proportional to the person's pixel size and per-joint), occlusion episodes with
   low confidence and larger error, missing joints (conf 0, also when off-image), short
   left/right swaps of a limb pair. Confidences are in (0, 1] for detected joints. With
   ``error_model`` set, a table fitted to a real detector's errors (:mod:`.error_model`: per-joint
   offsets and AR(1) jitter in the body frame, gross errors more often on fast limbs, missing
   episodes, swaps, the detector's own confidence distribution) replaces this hand-set model.
5. COCO -> H36M with :func:`sasmamba_cli.skeleton.coco_to_h36m` (the inference conversion).

The trainer subtracts the root and does the random horizontal flip itself.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.signal import lfilter

from ..skeleton import COCO, H36M, coco_to_h36m
from .augment import augment_pose
from .error_model import load_error_model, sample_detections


@dataclass(frozen=True)
class VirtualConfig:
    bone_sigma: float = 0.07                 # log-std of per-bone length factors
    bone_clip: tuple = (0.8, 1.25)           # per-bone factor range
    scale_range: tuple = (0.85, 1.15)        # global body scale
    long_side_px: tuple = (640, 1920)        # image long side
    portrait_p: float = 0.35                 # probability of a portrait frame
    aspects: tuple = (16 / 9, 4 / 3)         # long / short side
    hfov_deg: tuple = (35.0, 85.0)           # field of view across the long side
    pitch_deg: tuple = (-10.0, 35.0)         # camera looking down (+) or up (-)
    roll_sigma_deg: float = 3.0              # camera roll std
    roll_max_deg: float = 10.0               # |roll| clip
    roll_fixed_deg: float | None = None      # every camera at this roll (evaluation sweeps; + = clockwise on screen)
    pitch_fixed_deg: float | None = None     # every camera at this pitch (+ = looking down; no ground check)
    fill: tuple = (0.55, 1.0)                # bounding sphere radius / half the short-side view
    min_cam_height_m: float = 0.2            # camera above the clip's ground
    principal_sigma: float = 0.01            # principal point jitter (fraction of width)
    noise_level: tuple = (0.3, 1.5)          # per-clip multiplier of the jitter below
    jitter_frac: float = 0.012               # base jitter std / person size (px / px)
    ar_coef: float = 0.8                     # AR(1) coefficient of the correlated jitter part
    ar_share: float = 0.5                    # fraction of jitter variance that is correlated
    offset_frac: float = 0.01                # per-clip systematic offset std / person size
    occlusion_rate: float = 0.004            # occlusion episodes per joint per frame
    occlusion_len: tuple = (3, 30)           # frames
    missing_p: float = 0.35                  # an occluded joint is reported missing (conf 0)
    offimage_missing_p: float = 0.7          # an off-image joint is missing (else low conf)
    swap_p: float = 0.15                     # probability of a left/right swap episode per clip
    swap_len: tuple = (1, 6)                 # frames
    conf_gamma: tuple = (1.0, 1.0)           # per-clip confidence remap conf ** g, g log-uniform in this
                                             # range (a detector that scales its scores differently)
    conf_ones_p: float = 0.0                 # probability that a clip's detected joints all get conf 1
    kp_threshold: float = 0.0                # joints whose (remapped) confidence is below this are missing,
                                             # as `lift --kp-threshold` makes them (0: none dropped)
    back_face_p: float = 0.0                 # share of clips where face keypoints turned away from the camera
                                             # (the nose and eyes of a person seen from behind, the far ear)
                                             # get a low confidence and a larger error, as YOLO-pose gives them
                                             # (realval: face scores 0.13 / 0.41 / 0.97 at the 10/50/90th pct)
    back_face_conf: tuple = (0.05, 0.5)      # their confidence (uniform)
    # a 2D error model fitted to real detections (training/error_model.py) instead of the
    # hand-set jitter / occlusion / swap model above: a bundled table's name or a JSON path
    error_model: str | None = None           # (its own swaps replace swap_p's)
    error_model_p: float = 1.0               # share of clips that use it (the others: the hand-set model)
    error_model_level: tuple = (0.7, 1.6)    # per-clip factor on its spatial errors (uniform)
    # pose-space augmentation (training/augment.py), applied first (before the body randomisation
    # and the camera above); all off by default.
    # Angles in degrees, slow terms with a period in frames (60-240 frames = 2-8 s at 30 fps).
    limb_mix_p: float = 0.0                  # one limb chain from another training clip's window
    limb_mix_limbs: tuple = ("l_arm", "r_arm", "l_leg", "r_leg")   # the chains it picks from (uniformly)
    fk_p: float = 0.0                        # joint-angle perturbation of the limb segments (FK)
    fk_const_deg: float = 6.0                # std of each segment's constant rotation
    fk_wave_deg: float = 5.0                 # max amplitude of its slow sinusoidal part
    fk_max_deg: float = 15.0                 # |rotation| clip
    proportion_p: float = 0.0                # per-group bone length factors below
    leg_scale: tuple = (1.0, 1.0)            # thighs and shins (factor range, uniform)
    arm_scale: tuple = (1.0, 1.0)            # upper arms and forearms (arm span vs height)
    torso_scale: tuple = (1.0, 1.0)          # pelvis-spine-thorax-neck-head
    width_scale: tuple = (1.0, 1.0)          # hip and shoulder widths
    lean_p: float = 0.0                      # trunk lean: upper body turned about the pelvis
    lean_forward_deg: tuple = (-5.0, 15.0)   # constant forward (+) lean range
    lean_side_deg: float = 8.0               # constant sideways lean in +- this
    lean_wave_deg: float = 4.0               # max amplitude of the slow sway
    tilt_p: float = 0.0                      # whole-body tilt about the ground point under the pelvis
    tilt_deg: float = 4.0                    # constant tilt in +- this (random horizontal axis)
    tilt_wave_deg: float = 2.0               # max amplitude of the slow sway
    aug_period_frames: tuple = (60.0, 240.0)  # period range of the slow terms


#: relative jitter per COCO joint (hips and wrists are the least stable detector outputs)
_JOINT_NOISE = {"nose": 0.5, "l_eye": 0.45, "r_eye": 0.45, "l_ear": 0.6, "r_ear": 0.6,
                "l_shoulder": 0.8, "r_shoulder": 0.8, "l_elbow": 1.0, "r_elbow": 1.0,
                "l_wrist": 1.2, "r_wrist": 1.2, "l_hip": 1.5, "r_hip": 1.5, "l_knee": 1.0,
                "r_knee": 1.0, "l_ankle": 1.1, "r_ankle": 1.1}


@dataclass(frozen=True)
class VirtualSample:
    """One virtual capture of a clip of T frames.

    kp2d_px:      (T, 17, 3) float32 H36M-17 x, y (pixels, origin top-left) and confidence
                  (0 = missing), built from ``coco2d_px`` by ``coco_to_h36m``.
    coco2d_px:    (T, 17, 3) float32 the noisy COCO-17 detections behind ``kp2d_px``.
    width, height: image size in pixels.
    target_cam_m: (T, 17, 3) float32 the body-randomised H36M joints in camera coordinates,
                  metres, OpenCV axes (x right, y down, z forward); not root-relative.
    focal_px:     focal length in pixels (square pixels).
    principal_px: (2,) principal point cx, cy in pixels.
    R, t:         world -> camera rotation (3, 3) and translation (3,) metres:
                  ``X_cam = R @ X_world_m + t`` (world Y up, after body randomisation).
    """

    kp2d_px: np.ndarray
    coco2d_px: np.ndarray
    width: int
    height: int
    target_cam_m: np.ndarray
    focal_px: float
    principal_px: np.ndarray
    R: np.ndarray
    t: np.ndarray


@lru_cache(maxsize=1)
def _tables():
    """Bone groups (left/right share a factor) and the H36M joint each COCO marker moves with."""
    keys = sorted({n.removeprefix("l_").removeprefix("r_") for n in H36M.names[1:]})
    bone_key = np.array([keys.index(n.removeprefix("l_").removeprefix("r_")) for n in H36M.names[1:]])
    attach = np.array([H36M.index(n) if n in H36M.names else H36M.index("neck_nose") for n in COCO.names])
    noise = np.array([_JOINT_NOISE[n] for n in COCO.names])
    return len(keys), bone_key, attach, noise


def project(points_cam: np.ndarray, focal_px: float, principal_px) -> np.ndarray:
    """Pinhole projection of camera-space points ``(..., 3)`` (z > 0) to pixels ``(..., 2)``."""
    p = np.asarray(points_cam, dtype=np.float64)
    return p[..., :2] / p[..., 2:3] * focal_px + np.asarray(principal_px, dtype=np.float64)


def randomize_body(h36m: np.ndarray, coco: np.ndarray, rng: np.random.Generator,
                   cfg: VirtualConfig) -> tuple[np.ndarray, np.ndarray]:
    """Scale bones (symmetric factors) and the whole body; ``(T, 17, 3)`` each, same units."""
    n_keys, bone_key, attach, _ = _tables()
    f = np.clip(np.exp(rng.normal(0.0, cfg.bone_sigma, n_keys)), *cfg.bone_clip)[bone_key]
    new = h36m.copy()
    for j, p in enumerate(H36M.parents):
        if p >= 0:
            new[:, j] = new[:, p] + f[j - 1] * (h36m[:, j] - h36m[:, p])
    coco_new = coco + (new - h36m)[:, attach]
    s = rng.uniform(*cfg.scale_range)
    anchor = np.array([new[0, 0, 0], min(new[..., 1].min(), coco_new[..., 1].min()), new[0, 0, 2]])
    return anchor + s * (new - anchor), anchor + s * (coco_new - anchor)


def random_camera(points_m: np.ndarray, rng: np.random.Generator, cfg: VirtualConfig):
    """Camera looking at the clip's bounding sphere: ``(R, t, focal, principal, width, height)``."""
    long_side = int(rng.uniform(*cfg.long_side_px))
    short_side = int(round(long_side / cfg.aspects[rng.integers(len(cfg.aspects))]))
    w, h = (short_side, long_side) if rng.random() < cfg.portrait_p else (long_side, short_side)
    hfov = np.deg2rad(rng.uniform(*cfg.hfov_deg))
    focal = (max(w, h) / 2) / np.tan(hfov / 2)
    half_short = np.arctan((min(w, h) / 2) / focal)
    pts = points_m.reshape(-1, 3)
    lo, hi = pts.min(0), pts.max(0)
    centre = (lo + hi) / 2
    radius = max(np.linalg.norm(hi - lo) / 2, 0.3)
    dist = radius / np.sin(half_short * rng.uniform(*cfg.fill))
    yaw = rng.uniform(0, 2 * np.pi)
    pitch = np.deg2rad(rng.uniform(*cfg.pitch_deg))
    if cfg.pitch_fixed_deg is not None:
        pitch = np.deg2rad(cfg.pitch_fixed_deg)
    min_y = lo[1] + cfg.min_cam_height_m
    if cfg.pitch_fixed_deg is None and centre[1] + dist * np.sin(pitch) < min_y:   # keep the camera above the ground
        pitch = np.arcsin(np.clip((min_y - centre[1]) / dist, -1, 1))
    fwd = np.array([-np.sin(yaw) * np.cos(pitch), -np.sin(pitch), -np.cos(yaw) * np.cos(pitch)])
    cam = centre - dist * fwd
    right = np.cross(fwd, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    down = np.cross(fwd, right)
    R = np.stack([right, down, fwd])
    roll = np.deg2rad(np.clip(rng.normal(0, cfg.roll_sigma_deg), -cfg.roll_max_deg, cfg.roll_max_deg))
    if cfg.roll_fixed_deg is not None:
        roll = np.deg2rad(cfg.roll_fixed_deg)
    c, s = np.cos(roll), np.sin(roll)
    R = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]]) @ R
    t = -R @ cam
    principal = np.array([w / 2, h / 2]) + rng.normal(0, cfg.principal_sigma * w, 2)
    return R, t, float(focal), principal, w, h


#: a face keypoint counts as turned away when its direction from the head's centre points away
#: from the camera by more than this (a face seen in profile keeps its nose and both ears)
FACE_AWAY_DEG = 25.0


def face_turned_away(coco_cam: np.ndarray, margin_deg: float = FACE_AWAY_DEG) -> np.ndarray:
    """``(T, 17)`` bool: face keypoints of camera-frame COCO-17 joints ``(T, 17, 3)`` (camera at the
    origin) that face away from the camera: the nose and eyes when the nose points away from it
    (seen from behind), each ear when it lies on the far side of the head; "away" = more than
    ``margin_deg`` beyond the plane facing the camera."""
    head = 0.5 * (coco_cam[:, 3] + coco_cam[:, 4])                           # between the ears
    to_cam = -head / np.maximum(np.linalg.norm(head, axis=-1, keepdims=True), 1e-9)
    limit = -np.sin(np.deg2rad(margin_deg))

    def away_from_camera(j: int) -> np.ndarray:
        v = coco_cam[:, j] - head
        return (v * to_cam).sum(-1) < limit * np.linalg.norm(v, axis=-1)

    away = np.zeros(coco_cam.shape[:2], bool)
    nose_away = away_from_camera(0)
    away[:, 0] = away[:, 1] = away[:, 2] = nose_away
    for j in (3, 4):
        away[:, j] = away_from_camera(j)
    return away


def detector_noise(coco_px: np.ndarray, width: int, height: int, rng: np.random.Generator,
                   cfg: VirtualConfig, turned_away: np.ndarray | None = None) -> np.ndarray:
    """Clean COCO pixels ``(T, 17, 2)`` -> noisy detections ``(T, 17, 3)`` (x, y, conf).
    ``turned_away (T, 17)``: face keypoints facing away from the camera (:func:`face_turned_away`),
    used in ``cfg.back_face_p`` of the clips (hand-set noise model only)."""
    T, J, _ = coco_px.shape
    if cfg.error_model and cfg.error_model_p > 0 and (cfg.error_model_p >= 1.0 or rng.random() < cfg.error_model_p):
        det = sample_detections(coco_px, rng, load_error_model(cfg.error_model),
                                level=rng.uniform(*cfg.error_model_level))
        xy, conf = det[..., :2], det[..., 2]
        missing = conf <= 0
        return _finish(xy, np.where(missing, 1e-3, conf), missing, width, height, rng, cfg, swap=False)
    _, _, _, joint_noise = _tables()
    size = np.max(coco_px.max(1) - coco_px.min(1), axis=-1)                  # (T,) person px
    size = np.maximum(size, 8.0)[:, None, None]
    level = rng.uniform(*cfg.noise_level)
    sigma = cfg.jitter_frac * level * joint_noise[None, :, None]             # (1, J, 1) / size
    white = rng.normal(size=(T, J, 2)) * np.sqrt(1 - cfg.ar_share)
    a = cfg.ar_coef
    corr = lfilter([np.sqrt(1 - a * a)], [1, -a], rng.normal(size=(T, J, 2)), axis=0) * np.sqrt(cfg.ar_share)
    err = (white + corr) * sigma                                             # in person sizes
    err = err + rng.normal(0, cfg.offset_frac * level, (1, J, 2))
    # occlusion episodes: larger error, low confidence, sometimes missing
    occluded = np.zeros((T, J), bool)
    n_ep = rng.poisson(cfg.occlusion_rate * T * J)
    if n_ep:
        js = rng.integers(0, J, n_ep)
        starts = rng.integers(0, T, n_ep)
        lens = rng.integers(cfg.occlusion_len[0], cfg.occlusion_len[1] + 1, n_ep)
        tt = np.arange(T)[:, None]
        hit = (tt >= starts) & (tt < starts + lens)                          # (T, n_ep)
        np.logical_or.at(occluded.T, js, hit.T)
    err = err + occluded[..., None] * rng.normal(0, 3 * cfg.jitter_frac, (T, J, 2))
    hidden = None
    if cfg.back_face_p > 0 and turned_away is not None and rng.random() < cfg.back_face_p:
        hidden = turned_away & ~occluded
        err = err + hidden[..., None] * rng.normal(0, 2 * cfg.jitter_frac, (T, J, 2))
    xy = coco_px + err * size
    e = np.linalg.norm(err, axis=-1) / (cfg.jitter_frac * joint_noise)        # ~ chi, 1 = typical
    conf = 1 / (1 + np.exp(-(2.5 - 0.6 * e + rng.normal(0, 0.5, (T, J)))))
    conf = np.where(occluded, rng.uniform(0.05, 0.35, (T, J)), conf)
    if hidden is not None:
        conf = np.where(hidden, rng.uniform(*cfg.back_face_conf, (T, J)), conf)
    missing = occluded & (rng.random((T, J)) < cfg.missing_p)
    return _finish(xy, conf, missing, width, height, rng, cfg, swap=True)


def _finish(xy: np.ndarray, conf: np.ndarray, missing: np.ndarray, width: int, height: int,
            rng: np.random.Generator, cfg: VirtualConfig, swap: bool) -> np.ndarray:
    """The steps both noise models share: off-image joints (missing or low confidence), the
    per-clip confidence remap, the keypoint threshold, the hand-set model's limb swap (``swap``),
    missing joints zeroed.
    ``xy`` (T, J, 2) px, ``conf`` (T, J), ``missing`` (T, J) bool -> (T, J, 3)."""
    T, J = conf.shape
    off = (xy[..., 0] < 0) | (xy[..., 0] >= width) | (xy[..., 1] < 0) | (xy[..., 1] >= height)
    missing |= off & (rng.random((T, J)) < cfg.offimage_missing_p)
    conf = np.where(off & ~missing, np.minimum(conf, 0.3), conf)
    conf = np.clip(conf, 1e-3, 1.0)
    if cfg.conf_gamma != (1.0, 1.0):                # a monotone remap of this clip's scores
        g = np.exp(rng.uniform(np.log(cfg.conf_gamma[0]), np.log(cfg.conf_gamma[1])))
        conf = conf ** g
    if cfg.conf_ones_p and rng.random() < cfg.conf_ones_p:
        conf = np.ones_like(conf)
    if cfg.kp_threshold > 0:
        missing = missing | (conf < cfg.kp_threshold)
    # left/right swap of one limb pair for a few frames
    if swap and T and rng.random() < cfg.swap_p:
        pairs = [(7, 8, 9, 10), (13, 14, 15, 16), (9, 10), (15, 16), (11, 12)]
        sel = pairs[rng.integers(len(pairs))]
        a0 = int(rng.integers(0, T))
        sl = slice(a0, a0 + int(rng.integers(cfg.swap_len[0], cfg.swap_len[1] + 1)))
        left, right = list(sel[0::2]), list(sel[1::2])
        xy[sl, left + right] = xy[sl, right + left]
    conf = np.where(missing, 0.0, conf)
    xy = np.where(missing[..., None], 0.0, xy)
    return np.concatenate([xy, conf[..., None]], -1)


def virtual_capture(h36m_mm: np.ndarray, coco_mm: np.ndarray, rng: np.random.Generator,
                    cfg: VirtualConfig = VirtualConfig(), donor_h36m_mm: np.ndarray | None = None) -> VirtualSample:
    """One random virtual capture of a clip (``(T, 17, 3)`` mm, Y-up world each).
    ``donor_h36m_mm``: another clip's window of the same shape, the limb donor of
    ``cfg.limb_mix_p`` (:func:`.augment.augment_pose`; no limb mixing without one)."""
    h36m = np.asarray(h36m_mm, dtype=np.float64)
    coco = np.asarray(coco_mm, dtype=np.float64)
    if h36m.shape != coco.shape or h36m.shape[1:] != (17, 3) or h36m.shape[0] < 1:
        raise ValueError(f"expected h36m_mm and coco_mm of the same shape (T, 17, 3), found "
                         f"{h36m.shape} and {coco.shape}")
    h36m, coco = augment_pose(h36m, coco, rng, cfg, donor_h36m_mm)
    h36m, coco = h36m / 1000.0, coco / 1000.0
    h36m, coco = randomize_body(h36m, coco, rng, cfg)
    R, t, focal, principal, w, h = random_camera(np.concatenate([h36m, coco], 1), rng, cfg)
    h_cam = h36m @ R.T + t
    c_cam = coco @ R.T + t
    coco_det = detector_noise(project(c_cam, focal, principal), w, h, rng, cfg,
                              face_turned_away(c_cam) if cfg.back_face_p > 0 else None)
    kp = coco_to_h36m(coco_det)
    return VirtualSample(kp.astype(np.float32), coco_det.astype(np.float32), w, h,
                         h_cam.astype(np.float32), focal, principal, R, t)
