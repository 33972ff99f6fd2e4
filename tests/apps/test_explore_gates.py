"""``lstmkit.apps.explore`` beyond layer 0: every (layer, direction) of a stacked or
bidirectional model equals the model's own numbers, and the gates of the sLSTM, mLSTM,
T-LSTM and depth-gated LSTM equal NumPy implementations written from the papers'
equations (the unstabilised exponential gates for the xLSTM cells) on tiny cases.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import lstmkit
from lstmkit.apps import explore as ex
from numpy_reference import sigmoid

TEXT = "0.5 -1; 0.3 0.8; -0.9 0.1; 0.2 0.2; 1.0 -0.4; -0.6 0.9"
XS = ex.parse_vectors(TEXT, 2)
X = torch.as_tensor(XS)[:, None]


def _randomise(layer, scale=0.8, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # away from the initialisation, so that every gate matters
        for t in layer.parameters():
            t.copy_(torch.randn(t.shape, generator=g, dtype=t.dtype) * scale)
    return layer


def _subject(layer, show=(0, 0)):
    return ex.Subject("test", "model", layer.eval(), ex._vector_encoder(layer.input_size), "vectors", [TEXT],
                      model=layer, show=show)


def _np(layer, k, d=0):
    return {n: v.detach().double().numpy() for n, v in layer.cell_params(k, d).items()}


# ---- layers and directions ---------------------------------------------------------------------
def test_every_layer_and_direction_of_a_stacked_bilstm_equals_its_gates():
    m = _randomise(lstmkit.LSTM(2, 3, num_layers=2, bidirectional=True, variant="vanilla", dtype=torch.float64))
    s = _subject(m)
    names = {"i": "input_gate", "f": "forget_gate", "g": "block_input", "o": "output_gate", "c": "cell_state",
             "h": "output"}
    for layer in range(2):
        for d, dname in enumerate(("forward", "backward")):
            run = ex.explore(s, TEXT, layer, dname)
            assert (run["layer"], run["direction"], run["num_layers"], run["num_directions"]) == (layer, dname, 2, 2)
            with torch.no_grad():  # the layer's own inspection path (its runners below `layer`)
                want = m.gates(X, layer=layer, direction=d)
            for k, n in names.items():
                np.testing.assert_allclose(np.array(run["gates"][k]), want[n][:, 0].numpy(), atol=1e-12,
                                           err_msg=f"{layer} {dname} {k}")
    with torch.no_grad():
        out, _ = m(X)
    np.testing.assert_allclose(ex.model_output(m, X).numpy(), out.numpy(), atol=1e-12)
    # the top layer's backward h is the second half of the module's output
    run = ex.explore(s, TEXT, 1, "backward")
    np.testing.assert_allclose(np.array(run["gates"]["h"]), out[:, 0, 3:].numpy(), atol=1e-12)
    # the backward direction's gradient is read where it ends: at t = 0
    assert run["gradient_flow"]["end"] == 0 and abs(run["gradient_flow"]["curves"][next(iter(
        run["gradient_flow"]["curves"]))][0] - math.sqrt(3)) < 1e-12


def _numpy_gru(p, xs, H, reverse=False):
    h, out = np.zeros(H), {k: [None] * len(xs) for k in "rznh"}
    for t in (range(len(xs) - 1, -1, -1) if reverse else range(len(xs))):
        gi, gh = p["weight_ih"] @ xs[t] + p["bias_ih"], p["weight_hh"] @ h + p["bias_hh"]
        r, z = sigmoid(gi[:H] + gh[:H]), sigmoid(gi[H:2 * H] + gh[H:2 * H])
        n = np.tanh(gi[2 * H:] + r * gh[2 * H:])
        h = (1 - z) * n + z * h
        for k, v in zip("rznh", (r, z, n, h)):
            out[k][t] = v
    return {k: np.array(v) for k, v in out.items()}


def test_layer_one_backward_of_a_bigru_equals_the_equations():
    m = _randomise(lstmkit.GRU(2, 3, num_layers=2, bidirectional=True, dtype=torch.float64), seed=1)
    # layer 1's input from NumPy: both directions of layer 0, concatenated
    below = np.concatenate([_numpy_gru(_np(m, 0, 0), XS, 3)["h"], _numpy_gru(_np(m, 0, 1), XS, 3, True)["h"]], 1)
    want = _numpy_gru(_np(m, 1, 1), below, 3, reverse=True)
    run = ex.explore(_subject(m), TEXT, 1, 1)
    assert run["gate_order"] == ["r", "z", "n", "h"]
    for k in "rznh":
        np.testing.assert_allclose(np.array(run["gates"][k]), want[k], rtol=1e-10, atol=1e-12, err_msg=k)
    with torch.no_grad():
        out, _ = m.to_torch()(X)  # torch.nn.GRU's own kernel
    np.testing.assert_allclose(want["h"], out[:, 0, 3:].numpy(), atol=1e-10)


def test_a_saved_stacked_model_shows_any_layer_and_refuses_others(tmp_path):
    from lstmkit.models import save_model
    from lstmkit.models.recognizers import CTCRecognizer

    m = CTCRecognizer(input_size=2, num_labels=3, hidden_size=4, num_layers=2)
    s = ex.model_subject(save_model(m, tmp_path / "ctc"))
    session = ex.Session(s)
    run = session.run("", TEXT, layer=1, direction="backward")
    rnn = s.layer
    with torch.no_grad():
        want = rnn.gates(X, layer=1, direction=1)
    np.testing.assert_allclose(np.array(run["gates"]["c"]), want["cell_state"][:, 0].numpy(), atol=1e-12)
    assert "layer 1 backward" in run["title"] and run["memory"] is None
    runs = session.export_runs(TEXT)
    assert {"", "@0:1", "@1:0", "@1:1"} <= set(runs)
    np.testing.assert_allclose(runs["@1:1"]["gates"]["c"], run["gates"]["c"], atol=0)
    with pytest.raises(ValueError, match=r"layer must be an int in 0\.\.1"):
        session.run("", TEXT, layer=2)
    with pytest.raises(ValueError, match="direction must be 'forward' or 'backward'"):
        session.run("", TEXT, direction="sideways")
    with pytest.raises(ValueError, match="not bidirectional"):
        ex.Session(ex.variant_subject("vanilla")).run("", TEXT, direction="backward")


# ---- the other families' gates --------------------------------------------------------------------
def test_slstm_gates_equal_the_exponential_gating_equations():
    m = _randomise(lstmkit.sLSTM(2, 4, num_heads=2, dtype=torch.float64), scale=0.7, seed=2)
    run = ex.explore(_subject(m), TEXT)
    assert run["gate_order"] == ["i", "f", "z", "o", "c", "n", "m", "h"] and set(run["unit_range"]) == {"i", "f", "o"}
    p, H, N, d = _np(m, 0), 4, 2, 2
    # the unstabilised eqs. 8-14 (small weights: exp does not overflow) and the stabiliser (eq. 15)
    h, c, n, mprev = np.zeros(H), np.zeros(H), np.zeros(H), np.full(H, -np.inf)
    for t, x in enumerate(XS):
        rec = np.zeros(4 * H)
        for k in range(N):
            for g in range(4):
                rec[g * H + k * d: g * H + (k + 1) * d] = p["weight_hh"][k, g] @ h[k * d:(k + 1) * d]
        pre = p["weight_ih"] @ x + p["bias"] + rec
        it, ft, zt, ot = pre[:H], pre[H:2 * H], pre[2 * H:3 * H], pre[3 * H:]
        i, f, z, o = np.exp(it), sigmoid(ft), np.tanh(zt), sigmoid(ot)
        c, n = f * c + i * z, f * n + i
        h = o * c / n
        mt = np.maximum(np.log(f) + mprev, it)
        want = {"i": np.exp(it - mt), "f": np.exp(np.log(f) + mprev - mt), "z": z, "o": o, "h": h,
                "c": c * np.exp(-mt), "n": n * np.exp(-mt), "m": mt}
        for k, v in want.items():
            np.testing.assert_allclose(run["gates"][k][t], v, rtol=1e-9, atol=1e-12, err_msg=f"{t} {k}")
        mprev = mt
    assert max(max(r) for r in run["gates"]["i"]) <= 1 and max(max(r) for r in run["gates"]["f"]) <= 1


def test_mlstm_gates_per_head_and_the_memory_norm_equal_the_equations():
    m = _randomise(lstmkit.mLSTM(2, 4, num_heads=2, dtype=torch.float64), scale=0.7, seed=3)
    run = ex.explore(_subject(m), TEXT)
    assert run["gate_rows"] == {"i": 2, "f": 2, "o": 4, "C": 2, "n": 4, "m": 2, "h": 4}
    p, H, NH, d = _np(m, 0), 4, 2, 2
    C, n, mprev = np.zeros((NH, d, d)), np.zeros((NH, d)), np.zeros(NH)
    for t, x in enumerate(XS):
        pre = p["weight_ih"] @ x + p["bias_ih"]
        q, k, v = (pre[j * H:(j + 1) * H].reshape(NH, d) for j in range(3))
        k = k / math.sqrt(d)
        it, ft, ot = pre[3 * H:3 * H + NH], pre[3 * H + NH:3 * H + 2 * NH], pre[3 * H + 2 * NH:]
        i, f, o = np.exp(it), sigmoid(ft), sigmoid(ot)
        C = f[:, None, None] * C + i[:, None, None] * np.einsum("hi,hj->hij", v, k)  # eq. 19
        n = f[:, None] * n + i[:, None] * k  # eq. 20
        htil = np.einsum("hij,hj->hi", C, q) / np.maximum(np.abs((n * q).sum(1)), 1.0)[:, None]  # eq. 21
        mt = np.maximum(np.log(f) + mprev, it)
        scale = np.exp(-mt)
        want = {"i": np.exp(it - mt), "f": np.exp(np.log(f) + mprev - mt), "o": o,
                "C": np.linalg.norm(C, axis=(1, 2)) * scale, "n": (n * scale[:, None]).ravel(), "m": mt,
                "h": o * htil.ravel()}
        for key, val in want.items():  # h: the cell adds eps = 1e-6 to eq. 21's denominator
            np.testing.assert_allclose(run["gates"][key][t], val, rtol=1e-5 if key == "h" else 1e-9, atol=1e-12,
                                       err_msg=f"{t} {key}")
        mprev = mt


def test_tlstm_gates_show_the_time_decay_of_the_short_term_memory():
    m = _randomise(lstmkit.TLSTM(2, 3, dtype=torch.float64), seed=4)
    run = ex.explore(_subject(m), TEXT)
    assert run["gate_order"] == ["i", "f", "g", "o", "cs", "gdt", "cadj", "c", "h"] and run["gate_rows"]["gdt"] == 1
    p, H = _np(m, 0), 3
    decay = 1 / math.log(math.e + 1.0)  # g(dt) = 1 / log(e + dt), dt = 1 at every step
    h, c = np.zeros(H), np.zeros(H)
    for t, x in enumerate(XS):
        cs = np.tanh(p["weight_decomp"] @ c + p["bias_decomp"])
        cadj = c - cs + decay * cs
        pre = p["weight_ih"] @ x + p["bias_ih"] + p["weight_hh"] @ h + p["bias_hh"]
        i, f, g, o = sigmoid(pre[:H]), sigmoid(pre[H:2 * H]), np.tanh(pre[2 * H:3 * H]), sigmoid(pre[3 * H:])
        c = f * cadj + i * g
        h = o * np.tanh(c)
        want = {"i": i, "f": f, "g": g, "o": o, "cs": cs, "gdt": [decay], "cadj": cadj, "c": c, "h": h}
        for k, v in want.items():
            np.testing.assert_allclose(run["gates"][k][t], v, rtol=1e-10, atol=1e-12, err_msg=f"{t} {k}")
    with torch.no_grad():
        out, _ = m(X, dt=torch.ones(len(XS), 1, dtype=torch.float64))
    np.testing.assert_allclose(np.array(run["gates"]["h"]), out[:, 0].numpy(), atol=1e-10)


def _numpy_lstm(p, xs, H, reverse=False, lower=None):
    """torch.nn.LSTM's equations, with a depth gate reading ``lower`` (the lower cell per step)."""
    h, c = np.zeros(H), np.zeros(H)
    out = {k: [None] * len(xs) for k in "ifgodch"}
    for t in (range(len(xs) - 1, -1, -1) if reverse else range(len(xs))):
        x = xs[t]
        pre = p["weight_ih"] @ x + p["bias_ih"] + p["weight_hh"] @ h + p["bias_hh"]
        i, f, g, o = sigmoid(pre[:H]), sigmoid(pre[H:2 * H]), np.tanh(pre[2 * H:3 * H]), sigmoid(pre[3 * H:])
        dgate = None
        if lower is not None:
            dgate = sigmoid(p["weight_dx"] @ x + p["weight_dc"] * c + p["weight_dl"] * lower[t] + p["bias_d"])
        c = f * c + i * g + (dgate * lower[t] if lower is not None else 0)
        h = o * np.tanh(c)
        for k, v in zip("ifgodch", (i, f, g, o, dgate, c, h)):
            out[k][t] = v
    return {k: np.array(v) if v[0] is not None else None for k, v in out.items()}


@pytest.mark.parametrize("bidirectional", [False, True])
def test_depth_gate_equals_the_equations(bidirectional):
    m = _randomise(lstmkit.DepthGatedLSTM(2, 3, num_layers=2, bidirectional=bidirectional, dtype=torch.float64),
                   seed=5)
    D, H = (2 if bidirectional else 1), 3
    low = [_numpy_lstm(_np(m, 0, d), XS, H, reverse=d == 1) for d in range(D)]
    below = np.concatenate([r["h"] for r in low], 1)
    with torch.no_grad():
        out, _ = m(X)
    for d in range(D):
        want = _numpy_lstm(_np(m, 1, d), below, H, reverse=d == 1, lower=low[d]["c"])
        run = ex.explore(_subject(m), TEXT, 1, d)
        assert run["gate_order"] == ["i", "f", "g", "o", "d", "cl", "c", "h"] and "d" in run["unit_range"]
        for k in "ifgodch":
            np.testing.assert_allclose(np.array(run["gates"][k]), want[k], rtol=1e-10, atol=1e-12, err_msg=f"{d} {k}")
        np.testing.assert_allclose(np.array(run["gates"]["cl"]), low[d]["c"], atol=1e-12)
        np.testing.assert_allclose(want["h"], out[:, 0, d * H:(d + 1) * H].numpy(), atol=1e-10)
    # layer 0 of a depth-gated LSTM has no depth gate
    assert "d" not in ex.explore(_subject(m), TEXT, 0, 0)["gate_order"]


def test_the_untrained_depth_gated_cell_opens_on_its_depth_gate():
    s = ex.variant_subject("depth_gated_lstm", hidden_size=3)
    run = ex.Session(s).run("")
    assert s.show == (1, 0) and run["layer"] == 1 and "d" in run["gates"]
    assert set(run["weights"]) >= {"weight_dx_l1", "weight_dc_l1", "bias_d_l1"}
    # the editor writes the shown layer's weights
    zero = {k: np.zeros(v["shape"]).tolist() for k, v in run["weights"].items()}
    run2 = ex.Session(s).run("", None, zero)
    assert np.allclose(run2["gates"]["d"], 0.5) and not np.allclose(run["gates"]["d"], 0.5)


# ---- the ConvLSTM's feature maps ------------------------------------------------------------------
def _conv_same(x, w):
    """Cross-correlation with "same" padding, as torch's conv2d: x (C_in, H, W), w (C_out, C_in, k, k)."""
    k = w.shape[-1] // 2
    xp = np.pad(x, ((0, 0), (k, k), (k, k)))
    out = np.zeros((w.shape[0], x.shape[1], x.shape[2]))
    for r in range(x.shape[1]):
        for c in range(x.shape[2]):
            out[:, r, c] = np.tensordot(w, xp[:, r:r + w.shape[2], c:c + w.shape[3]], axes=3)
    return out


def test_conv_lstm_feature_maps_and_their_spatial_means_equal_the_equations():
    m = _randomise(lstmkit.ConvLSTM(1, 2, 3, frame_size=(5, 5), dtype=torch.float64), scale=0.6, seed=6)
    s = ex.Subject("conv", "model", m.eval(), ex._frame_encoder(1, (5, 5)), "frames", ["square 1 1 1 0 4"],
                   model=m)
    run = ex.explore(s)
    assert run["switcher"] == [] and run["gate_order"] == ["i", "f", "g", "o", "c", "h"]
    assert "spatial mean" in run["gate_titles"]["f"] and run["diagram"]["family"] == "conv_lstm"
    x = ex.square_frames("square 1 1 1 0 4", 1, (5, 5))
    assert x[2, 0, 0, 3:5, 1:3].sum() == 4 and x[2].sum() == 4  # the square moved down by 2
    p, C = _np(m, 0), 2
    h, c = np.zeros((C, 5, 5)), np.zeros((C, 5, 5))
    wci, wcf, wco = np.split(p["weight_ch"], 3)
    for t in range(4):
        pre = (_conv_same(x[t, 0].numpy(), p["weight_ih"]) + _conv_same(h, p["weight_hh"])
               + (p["bias_ih"] + p["bias_hh"])[:, None, None])
        ip, fp, gp, op = np.split(pre, 4)
        i, f, g = sigmoid(ip + wci * c), sigmoid(fp + wcf * c), np.tanh(gp)
        c = f * c + i * g
        o = sigmoid(op + wco * c)
        h = o * np.tanh(c)
        for k, v in zip("ifgoch", (i, f, g, o, c, h)):
            np.testing.assert_allclose(run["maps"][k][t], v, rtol=1e-10, atol=1e-12, err_msg=f"{t} {k}")
            np.testing.assert_allclose(run["gates"][k][t], v.mean(axis=(1, 2)), rtol=1e-10, atol=1e-12)
    with torch.no_grad():
        out, _ = m(x)
    np.testing.assert_allclose(np.array(run["maps"]["h"]), out[:, 0].numpy(), atol=1e-10)
    np.testing.assert_allclose(np.array(run["x"]), x[:, 0].mean(dim=(2, 3)).numpy())
    assert list(run["gradient_flow"]["curves"]) == ["this cell (ConvLSTM)"]


def test_untrained_conv_lstm_and_bad_squares():
    s = ex.variant_subject("conv_lstm", input_size=1, hidden_size=2)
    run = ex.Session(s).run("", "square 7 7 -1 1 3")
    assert run["kind"] == "frames" and run["T"] == 3 and len(run["maps"]["c"][0][0]) == ex.FRAME[0]
    assert not run["editable"]  # 4-D kernels: no box editor
    with pytest.raises(ValueError, match="square ROW COL"):
        ex.explore(s, "0.5 1")
    with pytest.raises(ValueError, match="inside the 8x8 frame"):
        ex.explore(s, "square 9 0 1 1 3")
    with pytest.raises(ValueError, match="variant must be one of"):
        ex.Session(s).run("gru")
