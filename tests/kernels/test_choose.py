"""kernels/choose.py: paths chosen by measurement (timings injected here), forced paths
obeyed, the cache, and every mix of per-class matrix products equal to the reference."""

import json

import pytest
import torch

import lstmkit
from lstmkit import kernels
from lstmkit.cells import LSTMCellSpec
from lstmkit.kernels import _build, choose, fused
from lstmkit.recurrent import run_recurrence


@pytest.fixture
def ext():
    e = _build.load_extension()
    if e is None or not hasattr(e, "set_own_gemm"):
        pytest.skip(f"fused extension unavailable here: {_build.extension_error()}")
    return e


@pytest.fixture
def calibrating(tmp_path, monkeypatch, ext):
    """Calibration on, an empty cache of its own, this process's choices forgotten before and after."""
    monkeypatch.setenv("LSTMKIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("LSTMKIT_CALIBRATE", "1")
    for var in ("LSTMKIT_OWN_GEMM", "LSTMKIT_PREFER_TORCH", "LSTMKIT_BACKEND"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(choose, "_load", lambda: 0.0)  # a quiet machine (the load decides caching)
    n = torch.get_num_threads()
    torch.set_num_threads(1)  # only one-thread choices are measured
    choose.reset()
    yield tmp_path / "cache" / "calibration.json"
    torch.set_num_threads(n)
    choose.reset()
    for cls in range(len(choose.GEMM_CLASSES)):
        ext.set_own_gemm(cls, -1)


def test_pick_fastest_takes_the_faster_of_two():
    assert choose.pick_fastest({"mkl": 2.0, "own": 1.0}, default="mkl") == "own"
    assert choose.pick_fastest({"mkl": 1.0, "own": 2.0}, default="mkl") == "mkl"
    assert choose.pick_fastest({"mkl": 1.0, "own": 2.0}, default="own") == "mkl"
    # a tie within the margin keeps the old rule's path; margin 0 takes any win
    assert choose.pick_fastest({"mkl": 1.0, "own": 0.99}, default="mkl") == "mkl"
    assert choose.pick_fastest({"mkl": 1.0, "own": 0.99}, default="mkl", margin=0.0) == "own"


@pytest.mark.parametrize("bad, arg", [({}, "timings"), ({"a": 0.0}, "timings"), ({"a": 1.0}, "default")])
def test_pick_fastest_names_the_bad_argument(bad, arg):
    with pytest.raises(ValueError, match=arg):
        choose.pick_fastest(bad, default="b" if arg == "default" else "a")


def test_time_interleaved_alternates_and_takes_medians():
    order, ticks = [], iter(range(1000))
    clock = lambda: float(next(ticks))  # noqa: E731
    # (each call below takes one tick: no clear winner at the warm-up, so it repeats)
    t = choose.time_interleaved({"a": lambda: order.append("a"), "b": lambda: order.append("b")}, reps=3,
                                clock=clock)
    assert order == ["a", "b"] * 4  # one warm-up each, then A, B, A, B, ...
    assert t == {"a": 1.0, "b": 1.0}
    with pytest.raises(ValueError, match="reps"):
        choose.time_interleaved({"a": lambda: None}, reps=0)
    with pytest.raises(ValueError, match="stat"):
        choose.time_interleaved({"a": lambda: None}, stat="mean")
    # the minimum: load only ever adds time
    seq = [0, 1, 0, 0, 1, 1, 3, 3, 3.5, 3.5, 4, 7, 7, 7, 8, 8]  # per call: 1, 2, 0.5, 3, 1 s (and budget checks)
    for stat, want in (("min", 0.5), ("median", 1.0)):
        ticks = iter(seq)
        t = choose.time_interleaved({"a": lambda: None}, reps=5, budget_s=1e9, clock=lambda: float(next(ticks)),
                                    stat=stat)
        assert t == {"a": want}, stat
    # a clear winner at the warm-up (over 4x): the warm-up times, nothing repeated
    ticks, calls = iter([0, 10, 10, 11]), []
    t = choose.time_interleaved({"slow": lambda: calls.append(1), "fast": lambda: calls.append(2)}, reps=5,
                                clock=lambda: float(next(ticks)))
    assert t == {"slow": 10.0, "fast": 1.0} and calls == [1, 2]


def test_shape_class_mirrors_the_kernels(ext):
    for B, H in ((1, 512), (2, 64), (3, 64), (32, 128), (32, 129), (64, 256)):
        # the recurrent product of an LSTM step: M = B rows, N = 4H, K = H
        assert choose.shape_class(B, H) == ext.gemm_class(B, 4 * H, H)


@pytest.mark.parametrize("faster", ["mkl", "own"])
def test_the_measured_product_is_the_faster_one_and_is_cached(calibrating, ext, faster, monkeypatch, capsys):
    if not ext.own_gemm_built():
        pytest.skip("this build carries MKL's product only")
    slow = "own" if faster == "mkl" else "mkl"
    calls = []

    def measure(e, cls, inference=False):
        calls.append((cls, inference))
        return {faster: 1e-3, slow: 2e-3}, (1, 2, 3, 4)

    monkeypatch.setattr(choose, "_measure_gemm", measure)
    monkeypatch.setattr(choose, "_load", lambda: 0.5)
    choose.setup_gemm(ext)
    assert calls == [(c, inf) for c in range(3) for inf in (False, True)]  # each class, training and inference
    for cls in range(3):
        for inf in (False, True):
            assert ext.own_gemm_for(cls, inf) is (faster == "own")
        assert choose.gemm_decisions()[cls].choice == faster
        assert choose.gemm_decisions("inference")[cls].choice == faster
    assert "measuring which kernels are fastest" in capsys.readouterr().err  # announced
    data = json.loads(calibrating.read_text())
    (entries,) = data.values()
    assert entries["gemm/float32/class1"]["choice"] == faster
    assert entries["gemm-inference/float32/class1"]["choice"] == faster
    # a new process (choices forgotten) reads the cache and times nothing
    choose.reset()
    monkeypatch.setattr(choose, "_measure_gemm", lambda *a: pytest.fail("measured although cached"))
    choose.setup_gemm(ext)
    assert choose.gemm_decisions()[2].source == "cached" and ext.own_gemm_for(2) is (faster == "own")
    # LSTMKIT_CALIBRATE=again measures again, and the new result replaces the cached one
    choose.reset()
    monkeypatch.setenv("LSTMKIT_CALIBRATE", "again")
    monkeypatch.setattr(choose, "_measure_gemm", lambda e, c, i=False: ({slow: 1e-3, faster: 2e-3}, (1, 2, 3, 4)))
    choose.setup_gemm(ext)
    assert choose.gemm_decisions()[1].source == "measured" and ext.own_gemm_for(1) is (slow == "own")
    (entries,) = json.loads(calibrating.read_text()).values()
    assert entries["gemm/float32/class1"]["choice"] == slow


@pytest.mark.parametrize("forced", ["0", "1", "2"])
def test_a_forced_product_is_obeyed(calibrating, ext, forced, monkeypatch):
    if forced == "2" and not ext.own_gemm512_built():
        pytest.skip("this build carries no AVX-512 product")
    monkeypatch.setenv("LSTMKIT_OWN_GEMM", forced)
    monkeypatch.setattr(choose, "_measure_gemm", lambda *a: pytest.fail("measured although forced"))
    choose.setup_gemm(ext)
    for cls in range(3):
        for inf in (False, True):
            assert ext.own_gemm_for(cls, inf) is (forced in "12" and ext.own_gemm_built())
            assert ext.own_gemm_wide_for(cls, inf) is (forced == "2")
    assert not calibrating.exists()


def test_no_calibration_keeps_the_old_rule(calibrating, ext, monkeypatch):
    monkeypatch.setenv("LSTMKIT_CALIBRATE", "0")
    monkeypatch.setattr(choose, "_measure_gemm", lambda *a: pytest.fail("measured although LSTMKIT_CALIBRATE=0"))
    choose.setup_gemm(ext)
    assert all(ext.own_gemm_for(cls) is ext.own_gemm() for cls in range(3))
    assert not calibrating.exists()


@pytest.mark.parametrize("faster", ["torch", "fused"])
def test_standard_inference_goes_where_it_measured_faster(calibrating, ext, faster, monkeypatch):
    slow = "fused" if faster == "torch" else "torch"
    monkeypatch.setattr(choose, "_measure_gemm", lambda e, c, i=False: ({"mkl": 1.0, "own": 1.0}, ()))
    monkeypatch.setattr(choose, "_measure_standard", lambda e, c, d: ({faster: 1e-3, slow: 3e-3}, (1, 2, 3, 4)))
    spec = LSTMCellSpec(3, 8)
    for dtype in (torch.float32, torch.float64):
        x = torch.zeros(5, 4, 3, dtype=dtype)
        assert kernels.prefer_torch(spec, x, None, False) is (faster == "torch")
    # never for what torch's kernel does not win: training, single steps, lengths
    assert kernels.prefer_torch(spec, x, None, True) is False
    assert kernels.prefer_torch(spec, x[:1], None, False) is False
    # the module's whole-stack inference follows the choice
    calls = []
    real = kernels.Plan._torch_infer
    monkeypatch.setattr(kernels.Plan, "_torch_infer", lambda self, *a: calls.append(1) or real(self, *a))
    with torch.no_grad():
        lstmkit.LSTM(3, 8).eval()(torch.randn(5, 4, 3))
    assert calls == ([1] if faster == "torch" else [])


@pytest.mark.parametrize("forced", ["0", "1"])
def test_a_forced_standard_path_is_obeyed(calibrating, ext, forced, monkeypatch):
    monkeypatch.setenv("LSTMKIT_PREFER_TORCH", forced)
    monkeypatch.setattr(choose, "_measure_standard", lambda *a: pytest.fail("measured although forced"))
    x = torch.zeros(5, 4, 3)
    assert kernels.prefer_torch(LSTMCellSpec(3, 8), x, None, False) is (forced == "1")


def test_a_real_tiny_calibration_picks_its_fastest_median(calibrating, ext, monkeypatch):
    # the real measurement on tiny shapes: what it picks is the fastest of what it timed
    # (or the rule's path within the margin), and it runs the kernels, not a stub
    tiny = ((1, 4, 3, 8), (4, 4, 3, 8), (4, 3, 3, 130))
    monkeypatch.setattr(choose, "_GEMM_SHAPES", {"training": tiny, "inference": tiny})
    monkeypatch.setattr(choose, "_STANDARD_SHAPES", ((2, 4, 3, 8), (4, 4, 3, 8), (4, 3, 3, 130)))
    choose.setup_gemm(ext)
    assert kernels.prefer_torch(LSTMCellSpec(3, 8), torch.zeros(4, 4, 3), None, False) in (True, False)
    ds = choose.decisions()
    assert len(ds) == 7  # the product in training and in inference for 3 classes, standard inference for 1
    for d in ds:
        t = d["timings"]
        assert d["source"] == "measured" and set(t) in ({"mkl", "own"}, {"mkl", "own", "own512"}, {"torch", "fused"})
        assert "own512" not in t or ext.own_gemm512_built()
        assert d["choice"] == min(t, key=t.get) or t[d["choice"]] <= min(t.values()) * (1 + choose.MARGIN)


@pytest.mark.parametrize("modes", [(0, 0, 0), (1, 1, 1), (1, 0, 1), (0, 1, 0), (2, 2, 2), (0, 2, 1), (2, 1, 2)])
def test_every_mix_of_products_equals_the_reference(calibrating, ext, modes):
    # the products are chosen per shape class: each mix must compute the reference's numbers
    if not ext.own_gemm_built() and 1 in modes:
        pytest.skip("this build carries MKL's product only")
    if not ext.own_gemm512_built() and 2 in modes:
        pytest.skip("this build carries no AVX-512 product (not an AVX-512 CPU)")
    for cls, m in enumerate(modes):
        ext.set_own_gemm(cls, m)
    assert all(ext.own_gemm_wide_for(cls) is (m == 2) for cls, m in enumerate(modes))
    # partial panels (4H = 24, 520 columns), row blocks with a remainder (B = 13, 25 rows)
    _assert_inference_and_training_match_reference(ext, ((1, 8, 3), (5, 6, 9), (5, 130, 9), (13, 6, 40), (25, 33, 17)))


def _assert_inference_and_training_match_reference(ext, shapes, T=10, seed=3):
    """The fused vanilla LSTM under no_grad and in training (output, final c, every gradient)
    against the reference loop, for each (B, H, I) of ``shapes``."""
    torch.manual_seed(seed)
    for B, H, I in shapes:
        spec = LSTMCellSpec(I, H, "vanilla")
        p = {k: (torch.randn(s) * 0.3).requires_grad_() for k, s in spec.param_shapes().items()}
        x = torch.randn(T, B, I)
        state = spec.zero_state(B)
        with torch.no_grad():
            out_i, _ = fused._RUNNERS[LSTMCellSpec](ext, spec, p, x, state, None, False)
        out, fin = fused._RUNNERS[LSTMCellSpec](ext, spec, p, x, state, None, False)
        g = torch.autograd.grad(out.sum() + fin[1].sum(), list(p.values()))
        ref, rfin = run_recurrence(spec, p, x, state)
        rg = torch.autograd.grad(ref.sum() + rfin[1].sum(), list(p.values()))
        assert (out - ref).abs().max() < 1e-5 and (out_i - ref).abs().max() < 1e-5
        for a, b in zip(g, rg):
            assert (a - b).abs().max() < 1e-4 * max(1.0, b.abs().max().item())


def test_errors_name_the_argument(ext):
    with pytest.raises(RuntimeError, match="cls"):
        ext.set_own_gemm(3, 0)
    with pytest.raises(RuntimeError, match="mode"):
        ext.set_own_gemm(0, 3)
    if not ext.own_gemm512_built():
        with pytest.raises(RuntimeError, match="AVX-512"):
            ext.set_own_gemm(0, 2)


def test_calibration_works_under_inference_mode_and_a_failure_falls_back(calibrating, ext, monkeypatch):
    tiny = ((1, 3, 2, 4), (3, 3, 2, 4), (3, 2, 2, 130))
    monkeypatch.setattr(choose, "_GEMM_SHAPES", {"training": tiny, "inference": tiny})
    with torch.inference_mode():
        choose.setup_gemm(ext)  # the training step it times needs a graph
    assert {d.source for d in choose.gemm_decisions().values()} <= {"measured", "rule"}
    assert all(d.source == "measured" for d in choose.gemm_decisions().values()) or not ext.own_gemm_built()
    choose.reset()
    calibrating.unlink(missing_ok=True)  # else the next choice is read from the cache

    def broken(*a):
        raise RuntimeError("boom")

    monkeypatch.setattr(choose, "_measure_gemm", broken)
    monkeypatch.setattr(_build, "_warned", set())
    with pytest.warns(RuntimeWarning, match="calibration"):
        choose.setup_gemm(ext)
    assert all(ext.own_gemm_for(c) is ext.own_gemm() for c in range(3))


def test_a_choice_measured_on_an_oversubscribed_machine_is_not_cached(calibrating, ext, monkeypatch):
    monkeypatch.setattr(choose, "_measure_gemm", lambda e, c, i=False: ({"mkl": 1e-3, "own": 3e-3}, (1, 2, 3, 4)))
    monkeypatch.setattr(choose, "_load", lambda: 4.0 * (__import__("os").cpu_count() or 1))
    choose.setup_gemm(ext)
    assert all(d.source == "measured" and "not cached" in d.reason for d in choose.gemm_decisions().values())
    assert not ext.own_gemm_for(1)
    assert not calibrating.exists()


def test_with_more_threads_the_rule_decides(calibrating, ext, monkeypatch):
    torch.set_num_threads(2)
    monkeypatch.setattr(choose, "_measure_gemm", lambda *a: pytest.fail("measured at 2 threads"))
    choose.setup_gemm(ext)
    assert all(d.source == "rule" and "threads" in d.reason for d in choose.gemm_decisions().values())
    assert all(ext.own_gemm_for(c) is ext.own_gemm() for c in range(3))


def test_training_and_inference_follow_their_own_choices(calibrating, ext, monkeypatch):
    # measured apart: a class may run one product in training and another in inference
    if not ext.own_gemm_built():
        pytest.skip("this build carries MKL's product only")
    win = {False: "mkl", True: "own"}
    monkeypatch.setattr(choose, "_measure_gemm", lambda e, c, inference=False: (
        {win[inference]: 1e-3, win[not inference]: 2e-3}, (1, 2, 3, 4)))
    monkeypatch.setattr(choose, "_load", lambda: 0.5)
    choose.setup_gemm(ext)
    for cls in range(3):
        assert ext.own_gemm_for(cls, False) is False and ext.own_gemm_for(cls, True) is True
        assert choose.gemm_decisions("training")[cls].choice == "mkl"
        assert choose.gemm_decisions("inference")[cls].choice == "own"
    with pytest.raises(ValueError, match="use must be one of"):
        choose.gemm_decisions("eval")


@pytest.mark.parametrize("train_mode,infer_mode", [(1, 2), (2, 1), (0, 2), (2, 0), (0, 1)])
def test_split_uses_compute_the_reference(calibrating, ext, train_mode, infer_mode):
    # a forward under no_grad takes the inference product, a training forward and its backward
    # the training one: both must compute the reference's numbers
    if 1 in (train_mode, infer_mode) and not ext.own_gemm_built():
        pytest.skip("this build carries MKL's product only")
    if 2 in (train_mode, infer_mode) and not ext.own_gemm512_built():
        pytest.skip("this build carries no AVX-512 product (not an AVX-512 CPU)")
    for cls in range(3):
        ext.set_own_gemm(cls, train_mode, 0)
        ext.set_own_gemm(cls, infer_mode, 1)
        assert ext.own_gemm_wide_for(cls, False) is (train_mode == 2)
        assert ext.own_gemm_wide_for(cls, True) is (infer_mode == 2)
    _assert_inference_and_training_match_reference(ext, ((5, 130, 9), (13, 6, 40)), T=12, seed=4)
    with pytest.raises(RuntimeError, match="use"):
        ext.set_own_gemm(0, 0, 2)
