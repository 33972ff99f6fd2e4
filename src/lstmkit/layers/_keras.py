"""What the Keras 3 converters of :class:`lstmkit.LSTM` and :class:`lstmkit.GRU` share:
reading a (list of) built Keras recurrent layer(s), plain or ``Bidirectional``, into
per-(layer, direction) weights, and building Keras layers back from a module."""

from __future__ import annotations

from typing import Callable

import torch

KERAS_HINT = "Keras 3 is needed: pip install 'keras>=3' (and set KERAS_BACKEND, e.g. torch)"


def import_keras(what: str):
    """``keras``, or an ImportError naming ``what`` and the package to install."""
    try:
        import keras
    except ImportError as e:
        raise ImportError(f"{what}: {KERAS_HINT}") from e
    return keras


def read_keras_stack(layers, cls_name: str, check: Callable[[dict], None]) -> dict:
    """Walk built Keras ``cls_name`` layers (or ``Bidirectional`` wrappers of them, merge
    mode ``"concat"``), one per stacked layer, and return ``{"input_size", "hidden_size",
    "bias", "bidirectional", "dtype", "weights"}`` where ``weights[layer][direction]`` is
    that layer's ``get_weights()`` list. ``check(config)`` raises for a configuration the
    family cannot compute; ``go_backwards`` and activations are checked here.

    Example:
        >>> read_keras_stack([], "LSTM", lambda c: None)
        Traceback (most recent call last):
        ...
        ValueError: layer must be a built keras.layers.LSTM (or Bidirectional of one), or a non-empty list of them
    """
    items = list(layers) if isinstance(layers, (list, tuple)) else [layers]
    if not items:
        raise ValueError(f"layer must be a built keras.layers.{cls_name} (or Bidirectional of one), or a non-empty "
                         f"list of them")
    keras = import_keras(f"{cls_name}.from_keras")
    cls = getattr(keras.layers, cls_name)
    out = {"weights": []}
    for k, item in enumerate(items):
        where = f"layer[{k}]" if len(items) > 1 else "layer"
        if isinstance(item, keras.layers.Bidirectional):
            if item.merge_mode != "concat":
                raise ValueError(f"{where}: Bidirectional merge_mode must be 'concat' (as torch's bidirectional "
                                 f"layers), got {item.merge_mode!r}")
            pair = [(item.forward_layer, False), (item.backward_layer, True)]
        else:
            pair = [(item, False)]
        weights = []
        for sub, backwards in pair:
            if not isinstance(sub, cls):
                raise TypeError(f"{where} must be a keras.layers.{cls_name} or a Bidirectional of one, got "
                                f"{type(sub).__name__}")
            if not sub.built:
                raise ValueError(f"{where} must be built (call it once or layer.build(input_shape)) so it has weights")
            cfg = sub.get_config()
            if bool(cfg["go_backwards"]) != backwards:
                raise ValueError(
                    f"{where}: go_backwards={cfg['go_backwards']} outside a Bidirectional has no lstmkit equivalent "
                    f"(a module reads time forwards; reverse the input, or wrap the layer in "
                    f"keras.layers.Bidirectional)")
            for name, want in (("activation", "tanh"), ("recurrent_activation", "sigmoid")):
                if cfg[name] != want:
                    raise ValueError(f"{where} {name}: lstmkit needs {want!r}, got {cfg[name]!r}")
            check(cfg)
            w = [torch.as_tensor(a) for a in sub.get_weights()]
            n_in, units, bias = int(w[0].shape[0]), int(cfg["units"]), bool(cfg["use_bias"])
            if k == 0 and not weights:
                out.update(input_size=n_in, hidden_size=units, bias=bias, bidirectional=len(pair) == 2,
                           dtype=w[0].dtype)
            if units != out["hidden_size"] or bias != out["bias"] or (len(pair) == 2) != out["bidirectional"]:
                raise ValueError(f"{where}: every stacked layer needs the same units, use_bias and direction(s) "
                                 f"as layer[0] (units={out['hidden_size']}, use_bias={out['bias']}, "
                                 f"bidirectional={out['bidirectional']})")
            want_in = out["input_size"] if k == 0 else out["hidden_size"] * len(pair)
            if n_in != want_in:
                raise ValueError(f"{where} reads {n_in} features, the layer below gives {want_in}")
            weights.append(w)
        out["weights"].append(weights)
    return out


def build_keras_stack(module, cls_name: str, make_kwargs: dict, weights_of: Callable[[int, int], list],
                      return_sequences: bool, return_state: bool):
    """Keras ``cls_name`` layers (``Bidirectional`` when ``module`` is), built and holding
    ``weights_of(layer, direction)``; one layer, or a list with one per stacked layer
    (each but the last returns sequences and no state)."""
    keras = import_keras(f"{type(module).__name__}.to_keras")
    dtype = str(next(module.parameters()).dtype).removeprefix("torch.")
    layers = []
    L, D = module.num_layers, module.num_directions
    for k in range(L):
        last = k == L - 1
        kw = dict(units=module.hidden_size, use_bias=module.bias, return_sequences=return_sequences or not last,
                  return_state=return_state and last, dtype=dtype, **make_kwargs)
        n_in = module.input_size if k == 0 else D * module.hidden_size
        layer = getattr(keras.layers, cls_name)(**kw)
        if D == 2:
            layer = keras.layers.Bidirectional(layer, merge_mode="concat", dtype=dtype)
        layer.build((None, None, n_in))
        subs = [layer.forward_layer, layer.backward_layer] if D == 2 else [layer]
        for d, sub in enumerate(subs):
            sub.set_weights(weights_of(k, d))
        layers.append(layer)
    return layers[0] if L == 1 else layers
