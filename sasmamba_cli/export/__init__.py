"""Outputs beyond the lift itself: the writer registry (``formats``), the BVH solver, writer and
reader, the FK-consistent stage, verification. See docs/export.md."""
