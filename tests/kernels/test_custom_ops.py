"""torch.library.opcheck on every fused-kernel op (kernels/ops.py): schema, fake implementation
against the real one, autograd registration, AOT dispatch with dynamic shapes.

The samples are the ops' real calls: a module's forward and backward run with the ops
recorded, so each op is checked on the arguments lstmkit gives it (every preset's switches,
lengths, directions, a projection, the recurrent mask, zoneout, both layer-norm input paths).
CI checks one rich call of each op; the sweep over every preset and option is ``slow``."""

import pytest
import torch

import lstmkit
from lstmkit.kernels import _build, ops

OPS = ("lstm_forward", "lstm_backward", "lstm_infer", "gru_forward", "gru_backward", "gru_infer", "elman_forward",
       "elman_backward", "elman_infer")


@pytest.fixture(scope="module", autouse=True)
def _ext():
    if _build.load_extension() is None:
        pytest.skip(f"fused extension unavailable here: {_build.extension_error()}")


def _record(monkeypatch, run):
    """Every op call ``run()`` makes: (name, args detached)."""
    calls = []
    for name in OPS:
        real = getattr(ops, name)

        def spy(*args, _name=name, _real=real):
            calls.append((_name, tuple(a.detach().clone() if isinstance(a, torch.Tensor) else a for a in args)))
            return _real(*args)

        monkeypatch.setattr(ops, name, spy)
    run()
    monkeypatch.undo()
    return calls


def _train_and_infer(module, x, **kw):
    x = x.clone().requires_grad_()
    out, state = module(x, **kw)
    state = state if isinstance(state, tuple) else (state,)
    (out.sum() + sum(s.sum() for s in state)).backward()
    module.eval()
    with torch.no_grad():
        module(x, **kw)
    module.train()


def _configs(full: bool):
    lengths = torch.tensor([5, 2, 4])
    if not full:
        # one call of each op: layer norm with many inputs (W x_t in the op) and a projection
        # is not a preset; fgr carries a0; lengths and both directions throughout
        yield lstmkit.LSTM(6, 4, variant="layer_norm", bidirectional=True), 6, {"lengths": lengths}
        yield lstmkit.LSTM(3, 4, variant="fgr", proj_size=2, bidirectional=True), 3, {"lengths": lengths}
        yield lstmkit.GRU(3, 4, bidirectional=True), 3, {"lengths": lengths}
        yield lstmkit.RNN(3, 4, nonlinearity="relu", bidirectional=True), 3, {"lengths": lengths}
        return
    for preset in lstmkit.PRESETS:
        for I in (3, 6):
            for kw in ({}, {"lengths": lengths}):
                yield lstmkit.LSTM(I, 4, variant=preset, bidirectional=True), I, kw
        yield lstmkit.LSTM(3, 4, variant=preset, proj_size=2, recurrent_dropout=0.3), 3, {}
        yield lstmkit.LSTM(3, 4, variant=preset, zoneout=0.3), 3, {"lengths": lengths}
    yield lstmkit.LSTM(3, 4, truncated_gradient=True, variant="hochreiter1997"), 3, {}
    for nl in ("tanh", "relu"):
        yield lstmkit.RNN(3, 4, nonlinearity=nl, bidirectional=True), 3, {"lengths": lengths}
    yield lstmkit.GRU(3, 4, bidirectional=True, bias=False), 3, {"lengths": lengths}
    yield lstmkit.GRU(3, 4), 3, {}


def _samples(monkeypatch, full):
    samples = []
    for module, I, kw in _configs(full):
        module = module.double()
        x = torch.randn(5, 3, I, dtype=torch.float64)
        samples += _record(monkeypatch, lambda: _train_and_infer(module, x, **kw))
    return samples


#: the lengths argument's position in each op's schema
LENGTHS = {n: [a.name for a in getattr(ops, n)._schema.arguments].index("lengths") for n in OPS}
ALL_TESTS = ("test_schema", "test_autograd_registration", "test_faketensor", "test_aot_dispatch_dynamic")


def _check(samples, seen_ops):
    assert seen_ops <= {name for name, _ in samples}, f"ops never called: {seen_ops - {n for n, _ in samples}}"
    for name, args in samples:
        tests = ALL_TESTS
        if args[LENGTHS[name]] is not None and name.endswith("_forward"):
            # with lengths, the saved activations at steps past a sequence's end are not
            # written (the backward never reads them): two runs differ there, which the AOT
            # test (eager vs traced outputs, bit for bit) cannot tell from a wrong op
            tests = ALL_TESTS[:3]
        try:
            torch.library.opcheck(getattr(ops, name), args, test_utils=tests)
        except Exception as e:  # say which call failed
            raise AssertionError(f"opcheck of lstmkit::{name} failed: {e}") from e


def test_opcheck_each_op(monkeypatch):
    samples = _samples(monkeypatch, full=False)
    first = {}
    for name, args in samples:  # one call per op (the first: the richest configuration)
        first.setdefault(name, args)
    _check(list(first.items()), set(OPS))


@pytest.mark.slow
def test_opcheck_every_preset_and_option(monkeypatch):
    _check(_samples(monkeypatch, full=True), set(OPS))


def test_fake_shapes_match_real_outputs(monkeypatch):
    """The fake implementation's shapes and dtypes, call by call, on every preset (cheap: no
    opcheck machinery; the empty placeholders included)."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    samples = []
    lengths = torch.tensor([5, 2, 4])
    for preset in lstmkit.PRESETS:
        for I in (3, 6):
            m = lstmkit.LSTM(I, 4, variant=preset, bidirectional=True, zoneout=0.2).double()
            x = torch.randn(5, 3, I, dtype=torch.float64)
            samples += _record(monkeypatch, lambda: _train_and_infer(m, x, lengths=lengths))
    assert {n for n, _ in samples} >= {"lstm_forward", "lstm_backward"}
    for name, args in samples:
        real = getattr(ops, name)(*args)
        with FakeTensorMode(allow_non_fake_inputs=True) as mode:
            fake_args = tuple(mode.from_tensor(a) if isinstance(a, torch.Tensor) else a for a in args)
            fake = getattr(ops, name)(*fake_args)
        assert len(fake) == len(real), name
        for k, (f, r) in enumerate(zip(fake, real)):
            assert (f is None) == (r is None), (name, k, f, r)
            if r is not None:
                assert tuple(f.shape) == tuple(r.shape) and f.dtype == r.dtype, (name, k, f.shape, r.shape)
