"""Euler-angle continuity of BVH rotation channels: per joint, how much each Euler channel changes
from one frame to the next, next to how much the rotation itself changes (geodesic angle).

    python scripts/euler_continuity.py clip.json                      # export with sasmamba, then measure
    python scripts/euler_continuity.py clip.json --order ZXY          # the same with one order for all joints
    python scripts/euler_continuity.py a_track1.bvh b_track1.bvh      # measure BVH files as they are
    python scripts/euler_continuity.py --mocap bandai work_data/raw/.../dataset-2_wave-left-hand_*.bvh
                                                  # mocap -> H36M positions -> sasmamba BVH -> measure
    python scripts/euler_continuity.py --mocap bandai @scripts/euler_continuity_clips.txt --quiet
                                                  # the 36 arm-heavy Bandai Namco clips of docs/export.md
                                                  # (one path per line; extract the archives of
                                                  # ../shared/data/mocap into work_data/raw first)

Per joint with rotation channels (angles in degrees):

* ``geo``: frame-to-frame rotation angle of the joint's local rotation, ``angle(R_t^T R_t+1)``,
  computed from the channels of the file (a property of the rotations, not of the Euler angles);
  ``geo_over_45`` / ``geo_over_90`` count the frames where it exceeds 45 / 90 degrees,
  ``geo_over_45_frames`` / ``geo_over_90_frames`` list them (the frame the step arrives at, 0-based:
  a step from frame t to t+1 is listed as t+1), and ``geo_over_45_near_edge`` /
  ``geo_over_90_near_edge`` count those with one of their two frames among the first or last
  ``--edge`` frames (default 12) of the file, i.e. of the track (a person entering or leaving the
  picture);
* ``ch``: per channel, the absolute frame-to-frame change of the written value;
* ``mid``: the largest |middle angle| (90 = gimbal lock of that joint's channel order) and the
  number of frames with |middle angle| > 80;
* ``flagged``: frames where the largest channel change exceeds ``ratio * geo + slack``
  (defaults 2 x and 5 degrees): the Euler angles jump although the rotation barely moves
  (branch switches, 360 wraps, swings near gimbal lock).

For a result JSON or mocap input the export's own verification (BVH re-parsed, forward kinematics
vs the input) is printed too, so a change to the Euler extraction can be checked not to move any
joint. ``--json OUT`` writes everything as JSON.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sasmamba_cli.export.bvh_read import local_transforms, read_bvh  # noqa: E402

NEAR_LOCK_DEG = 80.0


def geodesic_deg(r: np.ndarray) -> np.ndarray:
    """(F-1,) rotation angle between consecutive matrices of ``r`` (F, 3, 3), degrees."""
    rel = np.swapaxes(r[:-1], -1, -2) @ r[1:]
    cos = (np.trace(rel, axis1=-2, axis2=-1) - 1.0) / 2.0
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def near_edge(frames, n_frames: int, edge: int) -> int:
    """How many steps arriving at ``frames`` (step t -> t+1 listed as t+1) have frame t among the
    first ``edge`` frames or frame t+1 among the last ``edge`` of ``n_frames``."""
    return int(sum(1 for f in frames if f - 1 < edge or f > n_frames - 1 - edge))


def measure_bvh(path: Path, ratio: float = 2.0, slack: float = 5.0, edge: int = 12) -> dict:
    """Per joint continuity statistics of one BVH file (see the module docstring)."""
    m = read_bvh(path)
    rot, _ = local_transforms(m)
    starts = m.channel_start
    joints = []
    for j, chans in enumerate(m.channels):
        idx = [k for k, c in enumerate(chans) if c.endswith("rotation")]
        if len(idx) != 3 or m.num_frames < 2:
            continue
        order = "".join(chans[k][0] for k in idx)
        vals = m.motion[:, [starts[j] + k for k in idx]]                  # (F, 3) degrees
        step = np.abs(np.diff(vals, axis=0))                              # (F-1, 3)
        geo = geodesic_deg(rot[:, j])
        worst = step.max(axis=1)
        flagged = np.flatnonzero(worst > ratio * geo + slack)
        excess = worst - geo
        mid = np.abs(vals[:, 1])
        mid = np.minimum(mid % 360.0, 360.0 - mid % 360.0)                # fold 360 wraps
        mid = np.where(mid > 90.0, 180.0 - mid, mid)                      # (a+180, 180-b, c+180) branch
        over = {k: [int(f) + 1 for f in np.flatnonzero(geo > k)] for k in (45, 90)}
        joints.append({
            "joint": m.names[j], "order": order,
            "geo_max": float(geo.max()), "geo_p99": float(np.percentile(geo, 99)),
            "geo_over_45": int(np.sum(geo > 45.0)), "geo_over_90": int(np.sum(geo > 90.0)),
            "geo_over_45_frames": over[45], "geo_over_90_frames": over[90],
            "geo_over_45_near_edge": near_edge(over[45], m.num_frames, edge),
            "geo_over_90_near_edge": near_edge(over[90], m.num_frames, edge),
            "ch_max": [float(x) for x in step.max(axis=0)],
            "ch_p99": [float(x) for x in np.percentile(step, 99, axis=0)],
            "excess_max": float(excess.max()), "excess_frame": int(np.argmax(excess)) + 1,
            "mid_max": float(mid.max()), "near_lock_frames": int(np.sum(mid > NEAR_LOCK_DEG)),
            "flagged": int(flagged.size), "flagged_frames": [int(f) + 1 for f in flagged[:20]],
        })
    return {"path": str(path), "frames": m.num_frames, "edge_frames": int(edge), "joints": joints}


def mocap_result(path: Path, rig_name: str, fps: float = 30.0):
    """A result whose single track is the mocap clip (H36M joints) seen from 7 m by a level camera."""
    from sasmamba_cli.export.synthetic import synthetic_result
    from sasmamba_cli.mocap.convert import convert_file
    from sasmamba_cli.mocap.rigs import load_rig

    w = convert_file(path, load_rig(rig_name), fps=fps).h36m_mm.astype(float) / 1000.0   # Y up, m
    centre = (w[:, 0].max(0) + w[:, 0].min(0)) / 2
    cam_pos = np.array([centre[0], 1.6, centre[2] + 7.0])
    cam = (w - cam_pos) @ np.diag([1.0, -1.0, -1.0])                      # x right, y down, z forward
    base = synthetic_result(len(cam), 1, fps=fps)
    track = dataclasses.replace(base.tracks[0], joints_3d_m=cam - cam[:, :1], root_3d_m=cam[:, 0].copy())
    return base.with_tracks([track])


def export(result, out_dir: Path, stem: str, order: str) -> list[tuple[Path, object]]:
    """sasmamba's export (FK-consistent, as `sasmamba export --format bvh`); (path, report) per track."""
    from sasmamba_cli.export.bvh import BvhOptions
    from sasmamba_cli.export.formats import export_result

    s = export_result(result, out_dir, ["bvh"], stem=stem, bvh_options=BvhOptions(order=order))
    bvhs = [p for p in s.paths if p.suffix == ".bvh"]
    return list(zip(bvhs, s.bvh_reports))


def _row(j: dict) -> str:
    ch = " ".join(f"{a:6.1f}/{b:6.1f}" for a, b in zip(j["ch_p99"], j["ch_max"]))
    return (f"  {j['joint']:<13} {j['order']} geo {j['geo_p99']:5.1f}/{j['geo_max']:6.1f}  "
            f"ch {ch}  mid {j['mid_max']:5.1f} ({j['near_lock_frames']:3d} >{NEAR_LOCK_DEG:.0f})  "
            f"flagged {j['flagged']:3d}  excess {j['excess_max']:6.1f} @{j['excess_frame']}")


def summarize(entries: list[dict]) -> dict:
    """Totals over files: flagged frames, worst excess, frames near lock, per joint name."""
    per = {}
    for e in entries:
        for j in e["joints"]:
            d = per.setdefault(j["joint"], {"flagged": 0, "excess_max": 0.0, "near_lock_frames": 0,
                                            "mid_max": 0.0, "ch_max": 0.0, "geo_max": 0.0, "orders": set()})
            d["flagged"] += j["flagged"]
            d["near_lock_frames"] += j["near_lock_frames"]
            d["excess_max"] = max(d["excess_max"], j["excess_max"])
            d["mid_max"] = max(d["mid_max"], j["mid_max"])
            d["ch_max"] = max(d["ch_max"], max(j["ch_max"]))
            d["geo_max"] = max(d["geo_max"], j["geo_max"])
            d["orders"].add(j["order"])
    for d in per.values():
        d["orders"] = sorted(d["orders"])
    frames = sum(e["frames"] for e in entries)
    steps = {k: sum(j.get(k, 0) for e in entries for j in e["joints"])
             for k in ("geo_over_45", "geo_over_90", "geo_over_45_near_edge", "geo_over_90_near_edge")}
    return {"files": len(entries), "frames": frames,
            "flagged": sum(d["flagged"] for d in per.values()), **steps, "joints": per}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                 fromfile_prefix_chars="@")
    ap.add_argument("inputs", nargs="+", type=Path, help="result JSON(s), BVH file(s), or mocap BVH(s) with --mocap")
    ap.add_argument("--order", default="auto", help="channel order for exports (auto or e.g. ZXY)")
    ap.add_argument("--mocap", metavar="RIG", help="treat .bvh inputs as mocap of this rig (e.g. bandai): "
                    "convert to H36M joints, export with sasmamba, measure the export")
    ap.add_argument("--ratio", type=float, default=2.0, help="flag when a channel step > ratio * geo + slack")
    ap.add_argument("--slack", type=float, default=5.0, help="degrees (see --ratio)")
    ap.add_argument("--edge", type=int, default=12, help="frames at each end of a file counted as its edge "
                    "(steps over 45 / 90 degrees there are counted apart)")
    ap.add_argument("--out", type=Path, help="keep the exported BVH files here (default: a temporary folder)")
    ap.add_argument("--json", type=Path, help="write all numbers to this JSON file")
    ap.add_argument("--quiet", action="store_true", help="print only per-file summaries and the totals")
    args = ap.parse_args(argv)

    entries = []
    with tempfile.TemporaryDirectory() as tmp:
        out_root = args.out or Path(tmp)
        for src in args.inputs:
            items: list[tuple[Path, object]]
            if src.suffix.lower() == ".json":
                from sasmamba_cli.pipeline.result import load_result
                items = export(load_result(src), out_root / src.stem, src.stem, args.order)
            elif args.mocap:
                items = export(mocap_result(src, args.mocap), out_root / src.stem, src.stem, args.order)
            else:
                items = [(src, None)]
            for path, report in items:
                e = measure_bvh(path, args.ratio, args.slack, args.edge)
                e["source"] = str(src)
                if report is not None:
                    e["verification"] = {"mean_error_mm": float(report.mean_error_mm.mean()),
                                         "max_error_mm": float(report.max_error_mm.max()),
                                         "solver_max_mm": float(report.solver_max_mm)}
                entries.append(e)
                flagged = sum(j["flagged"] for j in e["joints"])
                worst = max(e["joints"], key=lambda j: j["excess_max"])
                ver = e.get("verification")
                vtxt = (f"; FK vs input mean {ver['mean_error_mm']:.2f} mm max {ver['max_error_mm']:.1f} mm, "
                        f"file vs solver {ver['solver_max_mm']:.4f} mm" if ver else "")
                print(f"{path.name} ({src.name}): {e['frames']} frames, {flagged} flagged joint-frames, "
                      f"worst excess {worst['excess_max']:.1f} deg at {worst['joint']}{vtxt}")
                if not args.quiet:
                    print("  joint         ord  geo p99/max   ch p99/max per channel (deg)"
                          "                   |mid| max (frames)   flagged  max(ch - geo)")
                    for j in e["joints"]:
                        print(_row(j))
    total = summarize(entries)
    print(f"\nTOTAL {total['files']} files, {total['frames']} frames, {total['flagged']} flagged joint-frames; "
          f"rotation steps > 90 deg: {total['geo_over_90']} ({total['geo_over_90_near_edge']} within {args.edge} "
          f"frames of a file's first or last frame), > 45 deg: {total['geo_over_45']} "
          f"({total['geo_over_45_near_edge']})")
    for name, d in total["joints"].items():
        print(f"  {name:<13} {','.join(d['orders'])}: flagged {d['flagged']:4d}, max excess {d['excess_max']:6.1f}, "
              f"max channel step {d['ch_max']:6.1f} (max geo {d['geo_max']:5.1f}), |mid| max {d['mid_max']:5.1f}, "
              f"frames near lock {d['near_lock_frames']}")
    if args.json:
        args.json.write_text(json.dumps({"files": entries, "total": total}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
