"""train/config.py: one way to check a training configuration's fields and to read one back
(TrainConfig, PGConfig, EvolinoConfig, DEKFConfig share it)."""
from types import SimpleNamespace

import pytest

from lstmkit.train import TrainConfig
from lstmkit.train.config import CHECKS, check_fields
from lstmkit.train.evolution import EvolinoConfig
from lstmkit.train.kalman import DEKFConfig
from lstmkit.train.reinforce import PGConfig

GOOD = {"positive int": [1, 7], "int >= 0": [0, 3], "positive": [1e-9, 2, 0.5], ">= 0": [0, 0.0, 3.5],
        "[0, 1]": [0, 1, 0.25], "positive or None": [None, 0.1, 4]}
BAD = {"positive int": [0, -1, 1.0, True, "2"], "int >= 0": [-1, 0.5, False, None],
       "positive": [0, -1e-9, True, "1", None], ">= 0": [-0.1, True, "0"], "[0, 1]": [1.01, -0.01, "0.5", None],
       "positive or None": [0, -2, "x", True]}


def test_every_kind_has_good_and_bad_examples():
    assert set(GOOD) == set(BAD) == set(CHECKS)


@pytest.mark.parametrize("kind", sorted(CHECKS))
def test_check_accepts_good_and_names_the_field_for_bad(kind):
    for v in GOOD[kind]:
        check_fields(SimpleNamespace(x=v), kind, "x")
    for v in BAD[kind]:
        with pytest.raises(ValueError, match=rf"^x must be .*, got {v!r}$".replace("(", r"\(").replace(")", r"\)")):
            check_fields(SimpleNamespace(ok=GOOD[kind][0], x=v), kind, "ok", "x")


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="^kind must be one of"):
        check_fields(SimpleNamespace(x=1), "even", "x")


@pytest.mark.parametrize("cls, changed", [(TrainConfig, {"lr": 0.3, "optimizer": "sgd"}),
                                          (PGConfig, {"method": "ppo", "gamma": 0.9}),
                                          (EvolinoConfig, {"search": "cmaes", "trials": 2}),
                                          (DEKFConfig, {"p0": 10.0, "output": "identity"})])
def test_every_config_round_trips_and_refuses_unknown_keys(cls, changed):
    cfg = cls(**changed)
    assert cls.from_dict(cfg.to_dict()) == cfg != cls()
    with pytest.raises(ValueError, match=rf"^unknown {cls.__name__} fields \['learning_rate'\]; expected \["):
        cls.from_dict({**cfg.to_dict(), "learning_rate": 1})
    with pytest.raises(TypeError, match="^d must be a dict"):
        cls.from_dict([("lr", 1)])


@pytest.mark.parametrize("cls, field, value, message", [
    (TrainConfig, "batch_size", 0, "batch_size must be a positive int, got 0"),
    (TrainConfig, "eval_every", -1, "eval_every must be an int >= 0, got -1"),
    (TrainConfig, "lr", True, "lr must be a positive number, got True"),
    (TrainConfig, "clip_norm", 0, "clip_norm must be positive or None, got 0"),
    (PGConfig, "gamma", 1.5, r"gamma must be a number in \[0, 1\], got 1.5"),
    (PGConfig, "clip", 0, "clip must be a positive number, got 0"),
    (PGConfig, "eval_every", 1.5, "eval_every must be an int >= 0, got 1.5"),
    (DEKFConfig, "q_end", -1.0, "q_end must be a number >= 0, got -1.0"),
    (DEKFConfig, "r_end", 0, "r_end must be a positive number, got 0"),
])
def test_configs_check_their_fields_the_shared_way(cls, field, value, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        cls(**{field: value})
