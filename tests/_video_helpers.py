"""Shared test helper: give an mp4 phone-style rotation metadata without an ffmpeg CLI."""
import struct
from pathlib import Path


def set_rotation_90(path: Path) -> Path:
    """Patch the video track's tkhd display matrix to 'rotate 90 degrees clockwise' (as phones do);
    returns the patched copy ``<stem>_rot90.mp4``."""
    data = bytearray(path.read_bytes())
    i = data.index(b"tkhd")
    assert data[i + 4] == 0, "expected a version-0 tkhd box"
    off = i + 4 + 40              # version/flags, times, track id, reserved, duration, reserved, layer ... volume
    data[off:off + 36] = struct.pack(">9i", 0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000)
    out = path.with_name(path.stem + "_rot90.mp4")
    out.write_bytes(bytes(data))
    return out
