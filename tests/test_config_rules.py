"""Every count, interval and rate of the config has an allowed range, declared beside its field and
enforced with the key named; a new numeric key without a rule fails the first test here."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterator

import pytest

from paintscape.config import Config, ConfigError, DataConfig, OneOf, PhaseConfig, Range, TrainConfig, load_config

# Numeric keys that may take any value (none today); a key here must say why.
UNRULED: set[str] = set()


def _base_types(tp: typing.Any) -> set[type]:
    """int/float/str/... inside Optional, tuple and dict annotations."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType, tuple):
        return set().union(*(_base_types(a) for a in typing.get_args(tp) if a is not Ellipsis))
    if origin is dict:
        return _base_types(typing.get_args(tp)[1])
    return {tp}


def fields(cls: type = Config, path: str = "") -> Iterator[tuple[str, dataclasses.Field, typing.Any]]:
    """(override path, field, type) of every leaf field; phases are addressed as train.phases[0]."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        key = f"{path}.{f.name}" if path else f.name
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            yield from fields(tp, key)
        elif f.name == "phases":
            yield from fields(PhaseConfig, f"{key}[0]")
        else:
            yield key, f, tp


NUMERIC = [(key, f, tp) for key, f, tp in fields() if _base_types(tp) & {int, float}]
RANGED = [(key, f.metadata["rule"], tp) for key, f, tp in NUMERIC if isinstance(f.metadata.get("rule"), Range)]


def test_every_numeric_field_declares_its_range() -> None:
    missing = [key for key, f, _ in NUMERIC if "rule" not in f.metadata and key not in UNRULED]
    assert not missing, f"give these keys a rule (setting(default, at_least(...))): {missing}"
    assert len(NUMERIC) >= 20  # the walk found the fields (phases included)


def _value(tp: typing.Any, number: float) -> str:
    """``number`` written as an override value for a field of type ``tp`` (every element of a tuple)."""
    as_int = int in _base_types(tp) and float not in _base_types(tp)
    text = str(int(number)) if as_int else ".nan" if number != number else repr(float(number))  # .nan: YAML's NaN
    if typing.get_origin(tp) is tuple or tuple in {typing.get_origin(a) for a in typing.get_args(tp)}:
        return f"[{text}, {text}]"
    return text


def _outside(rule: Range) -> float:
    if rule.low is not None:
        return rule.low if rule.low_open else rule.low - 1
    return rule.high if rule.high_open else rule.high + 1


def _override(key: str, tp: typing.Any, number: float) -> str:
    if typing.get_origin(tp) is dict or dict in {typing.get_origin(a) for a in typing.get_args(tp)}:
        return f"{key}.adv={_value(float, number)}"  # a mapping of loss weights: one entry
    return f"{key}={_value(tp, number)}"


@pytest.mark.parametrize(("key", "rule", "tp"), RANGED, ids=[key for key, _, _ in RANGED])
def test_values_outside_the_range_are_refused_naming_the_key(key: str, rule: Range, tp: typing.Any) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(None, [_override(key, tp, _outside(rule))])
    message = str(caught.value)
    assert f"{key}" in message and f"must be {rule.describe()}" in message, message
    if rule.high is not None:  # above the top too
        high = rule.high if rule.high_open else rule.high + 1
        with pytest.raises(ConfigError, match="must be"):
            load_config(None, [_override(key, tp, high)])
    if float in _base_types(tp):  # NaN passes every comparison: refused on its own
        with pytest.raises(ConfigError, match="must be"):
            load_config(None, [_override(key, tp, float("nan"))])


@pytest.mark.parametrize(("key", "rule", "tp"), RANGED, ids=[key for key, _, _ in RANGED])
def test_the_range_edges_are_accepted(key: str, rule: Range, tp: typing.Any) -> None:
    edges = [
        v for v, is_open in ((rule.low, rule.low_open), (rule.high, rule.high_open)) if v is not None and not is_open
    ]
    if rule.low_open:
        edges.append(rule.low + 1e-3 if float in _base_types(tp) else rule.low + 1)
    extra = ["train.phases[0].epochs=null"] if key.endswith("steps") else []
    for edge in edges:
        override = _override(key, tp, edge)
        if key == "data.load_size":  # cropped to data.size: keep it at least that large
            override, extra = f"{key}=[{int(edge)}, {int(edge)}]", ["data.size=[1, 1]"]
        load_config(None, [override, *extra])


def test_zero_means_off_where_documented() -> None:
    off = {key for key, rule, _ in RANGED if rule.off}
    assert {"train.image_every", "eval.every", "train.ema_half_life_images", "train.keep_last"} <= off
    for key in off:
        load_config(None, [f"{key}=0" if "weights" not in key else f"{key}.vgg=0"])
    rule = next(rule for key, rule, _ in RANGED if key == "train.image_every")
    assert rule.describe() == ">= 0 (0 = no sample grids)"


def test_the_issue_values() -> None:
    for override, text in [
        ("train.phases[0].batch_size=0", "train.phases[0].batch_size: must be >= 1, got 0"),
        ("train.checkpoint_every=0", "train.checkpoint_every: must be >= 1, got 0"),
        ("train.log_every=0", "train.log_every: must be >= 1, got 0"),
        ("train.phases[0].lr=-0.1", "train.phases[0].lr: must be > 0, got -0.1"),
        ("train.betas=[0.5, 1.0]", "train.betas[1]: must be in [0, 1), got 1.0"),
        ("train.lr_decay_start=1.5", "train.lr_decay_start: must be in [0, 1], got 1.5"),
        ("train.precision=fp8", "train.precision: must be one of fp32, bf16, fp16, got 'fp8'"),
    ]:
        with pytest.raises(ConfigError) as caught:
            load_config(None, [override])
        assert str(caught.value) == f"defaults: {text}"


def test_rules_between_fields() -> None:
    with pytest.raises(ConfigError, match=r"train\.phases\[1\]\.epochs: give exactly one of epochs or steps"):
        load_config(None, ["train.phases[1]={batch_size: 1, lr: 0.1, epochs: 1, steps: 2}"])
    with pytest.raises(ConfigError, match=r"train\.phases: must list at least one phase"):
        load_config(None, ["train.phases=[]"])
    with pytest.raises(ConfigError, match=r"data\.load_size: must be at least size \[64, 96\]"):
        load_config(None, ["data.size=[64, 96]", "data.load_size=[60, 100]"])


def test_rules_hold_for_python_construction_too() -> None:
    with pytest.raises(ConfigError, match=r"^log_every: must be >= 1, got 0$"):
        TrainConfig(log_every=0)
    with pytest.raises(ConfigError, match=r"^size\[1\]: must be >= 1, got -4$"):
        DataConfig(size=(4, -4))
    assert dataclasses.replace(TrainConfig(), log_every=5).log_every == 5


def test_choices() -> None:
    rule = dict((key, f.metadata.get("rule")) for key, f, _ in fields())["train.precision"]
    assert isinstance(rule, OneOf) and rule.choices == ("fp32", "bf16", "fp16")
