"""The preview MP4 (2D overlay beside a 3D view) and the summary PNG of a result."""
