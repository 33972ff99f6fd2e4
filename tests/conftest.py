import os
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))

# No calibration in the suite (kernels/choose.py): the old CPU rules decide, nothing is timed;
# tests/test_choose.py turns it on with injected timings.
os.environ.setdefault("LSTMKIT_CALIBRATE", "0")

from lstmkit import PRESETS  # noqa: E402

ALL_PRESETS = list(PRESETS)


@pytest.fixture
def one_thread():
    """torch on one thread for the test (training tests: results as on the shared machine)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def data_cache(tmp_path_factory):
    """LSTMKIT_DATA_CACHE pointed at a fresh folder for a test module (parsed corpora such as
    the chorales are cached there, never in the user's cache); restored afterwards."""
    d = tmp_path_factory.mktemp("data-cache")
    old = os.environ.get("LSTMKIT_DATA_CACHE")
    os.environ["LSTMKIT_DATA_CACHE"] = str(d)
    yield d
    if old is None:
        del os.environ["LSTMKIT_DATA_CACHE"]
    else:
        os.environ["LSTMKIT_DATA_CACHE"] = old


@pytest.fixture(scope="module")
def keras():
    """Keras 3 on its torch backend (skips where it is not installed or runs on another backend)."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    try:
        import keras
    except ImportError as e:  # pragma: no cover - depends on the environment
        pytest.skip(f"Keras 3 is not installed (pip install 'lstmkit[test]'): {e}")
    if keras.backend.backend() != "torch":
        pytest.skip(f"Keras runs on the {keras.backend.backend()!r} backend; these checks need KERAS_BACKEND=torch")
    return keras


@pytest.fixture
def interrupt_after_first_checkpoint(monkeypatch):
    """The one training loop (lstmkit.train.loop) raises KeyboardInterrupt right after it
    wrote its first checkpoint, as a user's Ctrl-C would; later checkpoints are written as
    usual (the resumed run). Yields the list of checkpoint calls."""
    import lstmkit.train.loop as loop

    real, calls = loop.save_checkpoint, []

    def interrupting(*a, **k):
        calls.append(1)
        r = real(*a, **k)
        if len(calls) == 1:
            raise KeyboardInterrupt
        return r

    monkeypatch.setattr(loop, "save_checkpoint", interrupting)
    yield calls


@pytest.fixture
def edit_model_config():
    """``edit(model_dir, fn)``: change a model directory's config.json the way a user would
    (``fn`` edits the parsed dict), re-registered in the manifest so that only the app-level
    validation can catch the edit."""
    import json

    from lstmkit.io import register_files

    def edit(model, fn):
        doc = json.loads((model / "config.json").read_text())
        fn(doc)
        (model / "config.json").write_text(json.dumps(doc))
        register_files(model, ["config.json"])

    return edit


@pytest.fixture
def need_speech():
    """Skip unless the speech pipeline can run here: librosa, soundfile and espeak-ng."""
    pytest.importorskip("librosa")
    pytest.importorskip("soundfile")
    from lstmkit.data.espeak_digits import espeak_available

    if not espeak_available():
        pytest.skip("espeak-ng is not installed")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


def randomize(module: torch.nn.Module, scale: float = 0.5, seed: int = 0) -> None:
    """Fill every parameter with N(0, scale^2) (layer-norm gains around 1)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            noise = torch.randn(p.shape, generator=g, dtype=torch.float64).to(p.dtype) * scale
            p.copy_(noise + 1.0 if name.startswith("weight_ln") else noise)
