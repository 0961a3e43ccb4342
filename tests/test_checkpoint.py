"""safetensors + JSON checkpoints: round trip, mismatch errors, corruption, no pickle."""
import json

import pytest
import torch

from sasmamba_models import SasMambaLifter, preset
from sasmamba_models.baselines import TCNConfig, TemporalConvLifter
from sasmamba_models.checkpoint import CheckpointError, load_checkpoint, save_checkpoint


def test_round_trip_gives_identical_outputs(tmp_path):
    torch.manual_seed(0)
    m = SasMambaLifter(preset("tiny", in_chans=3)).eval()
    w, j = save_checkpoint(tmp_path / "ck", m, window=27, fps=30.0, licence="test")
    assert w.suffix == ".safetensors" and j.suffix == ".json"
    meta = json.loads(j.read_text())
    assert meta["arch"] == "sasmamba" and meta["config"]["in_chans"] == 3 and meta["window"] == 27
    m2, meta2 = load_checkpoint(j)
    x = torch.randn(1, 27, 17, 3)
    with torch.no_grad():
        torch.testing.assert_close(m(x), m2(x))
    assert meta2["weights_sha256"] == meta["weights_sha256"]


def test_baseline_round_trip(tmp_path):
    m = TemporalConvLifter(TCNConfig(channels=16)).eval()
    save_checkpoint(tmp_path / "tcn", m)
    m2, meta = load_checkpoint(tmp_path / "tcn.safetensors")
    assert meta["arch"] == "tcn"
    x = torch.randn(2, 27, 17, 2)
    with torch.no_grad():
        torch.testing.assert_close(m(x), m2(x))


def test_mismatched_config_names_both_sides(tmp_path):
    save_checkpoint(tmp_path / "ck", SasMambaLifter(preset("tiny")))
    with pytest.raises(CheckpointError, match=r"dim: expected 64, checkpoint has 16"):
        load_checkpoint(tmp_path / "ck", expect_config={"dim": 64})
    with pytest.raises(CheckpointError, match="arch 'sasmamba', expected 'tcn'"):
        load_checkpoint(tmp_path / "ck", expect_arch="tcn")


def test_corrupt_or_missing_files(tmp_path):
    w, j = save_checkpoint(tmp_path / "ck", SasMambaLifter(preset("tiny")))
    data = bytearray(w.read_bytes())
    data[-10] ^= 0xFF
    w.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="sha256 does not match"):
        load_checkpoint(j)
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nothing")
    j.write_text("{not json")
    with pytest.raises(CheckpointError, match="cannot read checkpoint metadata"):
        load_checkpoint(j)


def test_config_that_does_not_fit_the_weights(tmp_path):
    w, j = save_checkpoint(tmp_path / "ck", SasMambaLifter(preset("tiny")))
    meta = json.loads(j.read_text())
    meta["config"]["dim"] = 32
    j.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError):
        load_checkpoint(j)


def test_no_pickle_in_checkpoint_code():
    import inspect

    import sasmamba_models.checkpoint as ck
    src = inspect.getsource(ck)
    assert "torch.load" not in src and "pickle" not in src.replace("unpickled", "")


def test_bundled_weights_resolve_by_name(tmp_path):
    from sasmamba_cli.weights import bundled_weights, default_weights_path, resolve_weights

    found = bundled_weights()
    if default_weights_path().is_file():
        assert found["sasmamba_s81"] == default_weights_path()                 # the default since stop 11
        assert resolve_weights("sasmamba_default") == default_weights_path()   # the alias names the default
        assert resolve_weights("sasmamba_xs") == found["sasmamba_xs"]          # the former default
    assert resolve_weights(tmp_path / "x.json") == tmp_path / "x.json"          # paths stay paths
    assert str(resolve_weights("no_such_bundle")) == "no_such_bundle"


def test_weights_without_their_card_say_so(tmp_path):
    from sasmamba_cli.errors import SasmambaError
    from sasmamba_cli.pipeline.lifting import load_lifter

    (tmp_path / "w.safetensors").write_bytes(b"x")
    with pytest.raises(SasmambaError, match="no metadata card"):
        load_lifter(str(tmp_path / "w.safetensors"))
    (tmp_path / "c.json").write_text("{}")
    with pytest.raises(SasmambaError, match="has no weights"):
        load_lifter(str(tmp_path / "c.json"))
