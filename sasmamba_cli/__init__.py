"""sasmamba: video -> tracked 3D human skeletons with a SasMamba lifter."""
__version__ = "0.1.0"
