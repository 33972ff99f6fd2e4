"""An independent NumPy implementation of the LSTM family, written from the issue's
equations and documented parameter layout (not from lstmkit's code), for the tests.

One sequence at a time, one time step at a time, float64, no masking tricks: a sequence
of length n is just its first n steps.
"""

from __future__ import annotations

import numpy as np


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def layer_norm(x, gain, bias=None, eps=1e-5):
    mu = x.mean()
    var = ((x - mu) ** 2).mean()
    y = (x - mu) / np.sqrt(var + eps) * gain
    return y if bias is None else y + bias


def blocks_of(sw):
    """(i, f, g, o) blocks present, in order, from the switches dict."""
    out = []
    if sw["input_gate"]:
        out.append("i")
    if sw["forget_gate"] and not sw["coupled_input_forget"]:
        out.append("f")
    out.append("g")
    if sw["output_gate"]:
        out.append("o")
    return out


def own_gates(sw):
    """The gates among (i, f, o) that have their own parameters."""
    return [b for b in blocks_of(sw) if b != "g"]


def lstm_sequence(sw, p, xs, h0, c0, H, reverse=False):
    """Run one direction over one sequence xs (n, I). p: short name -> np array.

    Returns outputs (n, H_out) in time order, and the final (h, c, a).
    """
    names = blocks_of(sw)
    gates = own_gates(sw)
    act_in = np.tanh if sw["input_activation"] == "tanh" else (lambda v: v)
    act_out = np.tanh if sw["output_activation"] == "tanh" else (lambda v: v)
    peep = {}
    if sw["peepholes"]:
        for k, g in enumerate(gates):
            peep[g] = p["weight_ch"][k * H : (k + 1) * H]
    h, c = h0.copy(), c0.copy()
    a = np.zeros(len(gates) * H)
    n = xs.shape[0]
    order = range(n - 1, -1, -1) if reverse else range(n)
    outs = np.zeros((n, h0.shape[0]))
    for t in order:
        wx = p["weight_ih"] @ xs[t]
        rh = p["weight_hh"] @ h
        if sw["layer_norm"]:
            wx = layer_norm(wx, p["weight_ln_ih"])
            rh = layer_norm(rh, p["weight_ln_hh"])
        pre = wx + rh
        if "bias_ih" in p:
            pre = pre + p["bias_ih"] + p["bias_hh"]
        blk = {name: pre[k * H : (k + 1) * H].copy() for k, name in enumerate(names)}
        if sw["full_gate_recurrence"]:
            extra = p["weight_gg"] @ a
            for k, g in enumerate(gates):
                blk[g] += extra[k * H : (k + 1) * H]
        one = np.ones(H)
        i = sigmoid(blk["i"] + (peep["i"] * c if "i" in peep else 0)) if "i" in blk else one
        if sw["coupled_input_forget"]:
            f = 1.0 - i
        elif "f" in blk:
            f = sigmoid(blk["f"] + (peep["f"] * c if "f" in peep else 0))
        else:
            f = one
        z = act_in(blk["g"])
        c_new = z * i + c * f
        o = sigmoid(blk["o"] + (peep["o"] * c_new if "o" in peep else 0)) if "o" in blk else one
        y = c_new
        if sw["layer_norm"]:
            y = layer_norm(c_new, p["weight_ln_c"], p.get("bias_ln_c"))
        h_new = act_out(y) * o
        if "weight_hr" in p:
            h_new = p["weight_hr"] @ h_new
        gate_vals = {"i": i, "f": f, "o": o}
        a = np.concatenate([gate_vals[g] for g in gates]) if gates else a
        h, c = h_new, c_new
        outs[t] = h
    return outs, (h, c, a)


def lstm_stack(sw, sd, x, lengths, num_layers, bidirectional, H, H_out):
    """The whole stacked (bi)LSTM over a batch, sequence by sequence.

    sd: state_dict as numpy arrays (full names). x: (T, B, I). Returns output (T, B,
    D*H_out) zero-padded, h_n (L*D, B, H_out), c_n (L*D, B, H).
    """
    T, B, _ = x.shape
    D = 2 if bidirectional else 1
    out = np.zeros((T, B, D * H_out))
    h_n = np.zeros((num_layers * D, B, H_out))
    c_n = np.zeros((num_layers * D, B, H))
    for b in range(B):
        n = int(lengths[b])
        seq = x[:n, b]
        for layer in range(num_layers):
            dir_outs = []
            for d in range(D):
                suffix = f"_l{layer}" + ("_reverse" if d else "")
                p = {k[: -len(suffix)]: v for k, v in sd.items() if k.endswith(suffix)}
                o, (h, c, _) = lstm_sequence(sw, p, seq, np.zeros(H_out), np.zeros(H), H, reverse=d == 1)
                dir_outs.append(o)
                h_n[layer * D + d, b] = h
                c_n[layer * D + d, b] = c
            seq = np.concatenate(dir_outs, axis=1)
        out[:n, b] = seq
    return out, h_n, c_n
