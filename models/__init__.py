"""SasMamba networks (installed as ``sasmamba_models``).

Pure PyTorch model code: configuration, selective-scan backends, the structure-aware
deformable convolution, the SAS-SSM block, the lifter, baselines and checkpoint I/O.
Nothing here imports GPU-only modules at import time (see ``sasmamba_models.scan``).

Axis glossary used in shape comments:
    B batch, T frames, J joints (17, Human3.6M order), C model width, Di inner width (2C),
    N SSM state size, K scan directions (4), L scanned sequence length (T*J), G groups.
"""
from .config import LifterConfig, PRESETS, preset
from .lifter import SasMambaLifter, count_parameters

__all__ = ["LifterConfig", "PRESETS", "preset", "SasMambaLifter", "count_parameters"]
