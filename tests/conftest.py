import os
import tempfile
from pathlib import Path

import pytest

# ultralytics writes a settings file at import: keep it out of the user's home
os.environ.setdefault("YOLO_CONFIG_DIR", tempfile.mkdtemp(prefix="sasmamba-yolo-"))
os.environ.setdefault("YOLO_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"../shared not present ({SHARED}); it holds the real data used by this test")
    return SHARED


def pytest_collection_modifyitems(config, items):
    try:
        import torch
        has_cuda = torch.cuda.is_available()
    except Exception:
        has_cuda = False
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords and not has_cuda:
            item.add_marker(skip_gpu)


@pytest.fixture(autouse=True, scope="module")
def _yolo_env(tmp_path_factory):
    """ultralytics writes its settings into YOLO_CONFIG_DIR: a fresh temp folder per test module."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("YOLO_CONFIG_DIR", str(tmp_path_factory.mktemp("yolo_config")))
        mp.setenv("YOLO_OFFLINE", "1")
        yield


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    """A seeded (untrained) ``tiny`` SasMamba checkpoint with a 27-frame window at 30 fps."""
    import torch
    from sasmamba_models import SasMambaLifter, preset
    from sasmamba_models.checkpoint import save_checkpoint

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "tiny"
    save_checkpoint(path, SasMambaLifter(preset("tiny", max_frames=27)), window=27, fps=30)
    return path
