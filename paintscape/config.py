"""Typed, frozen experiment configuration: YAML files plus dotted command-line overrides.

``load_config("paintscape/configs/spade.yaml", ["train.phases[0].epochs=40", "data.root=data/x"])`` returns a
:class:`Config`. Unknown keys and values of the wrong type raise :class:`ConfigError` naming the key,
the file and what is allowed. ``config_to_dict`` gives back plain data to save next to every run.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from paintscape.suggest import did_you_mean


class _Yaml12Loader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2's floats: ``2e-4`` and ``1e3`` are numbers, not strings."""


_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)?(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def load_yaml(text: str) -> Any:
    """Safe YAML (no code runs) with ``2e-4`` read as a float, as people write learning rates."""
    return yaml.load(text, Loader=_Yaml12Loader)  # noqa: S506 (a SafeLoader subclass)


def yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's complaint in one line (its own text spans several, with a caret drawing): what and where."""
    mark = getattr(exc, "problem_mark", None)
    if getattr(exc, "problem", None) and mark is not None:
        return f"{exc.problem} at line {mark.line + 1}, column {mark.column + 1}"
    return " ".join(str(exc).split())


_SIZE_TEXT = re.compile(r"^\s*(\d+)\s*[xX×]\s*(\d+)\s*$")


def parse_size_text(text: str) -> tuple[int, int] | None:
    """``"512x384"`` (width x height, as the track states sizes) -> ``(384, 512)``; else None."""
    match = _SIZE_TEXT.match(text)
    return (int(match.group(2)), int(match.group(1))) if match else None


class ConfigError(ValueError):
    """A configuration file or override is wrong; the message names the key and the fix."""


class FieldError(ConfigError):
    """A value outside its allowed range; ``key`` is the field (``betas[1]``), relative to its dataclass."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.detail = message


# --- allowed values, declared beside each field -----------------------------------------------
#
#   log_every: int = setting(10, at_least(1))
#   image_every: int = setting(200, at_least(0, off="no sample grids"))
#
# Every dataclass below derives from Checked, which applies the rules on construction (YAML, overrides
# and Python alike); a rule on a tuple or mapping applies to each element; None (an unset optional
# value) is never checked. Rules that involve two fields go in the dataclass's ``check()``.


@dataclass(frozen=True)
class Range:
    """Numbers from ``low`` to ``high`` (either may be open; ``high`` may be absent); ``off`` says what 0 means."""

    low: float
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    off: str | None = None

    def allows(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if value <= self.low if self.low_open else value < self.low:
            return False
        return self.high is None or (value < self.high if self.high_open else value <= self.high)

    def describe(self) -> str:
        if self.high is not None:
            text = f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"
        else:
            text = f"{'>' if self.low_open else '>='} {self.low:g}"
        return text + (f" (0 = {self.off})" if self.off else "")

    def check(self, value: Any, key: str) -> None:
        if not self.allows(value):
            raise FieldError(key, f"must be {self.describe()}, got {value!r}")


@dataclass(frozen=True)
class OneOf:
    """One of a fixed set of values."""

    choices: tuple[Any, ...]

    def check(self, value: Any, key: str) -> None:
        if value not in self.choices:
            raise FieldError(key, f"must be one of {', '.join(map(str, self.choices))}, got {value!r}")


def at_least(low: float, off: str | None = None) -> Range:
    return Range(low=low, off=off)


def above(low: float) -> Range:
    return Range(low=low, low_open=True)


def between(low: float, high: float, high_open: bool = False) -> Range:
    return Range(low=low, high=high, high_open=high_open)


def one_of(*choices: Any) -> OneOf:
    return OneOf(tuple(choices))


def setting(default: Any = dataclasses.MISSING, rule: Range | OneOf | None = None, factory: Any = dataclasses.MISSING) -> Any:
    """A dataclass field with its allowed values: ``setting(10, at_least(1))``; no default: required."""
    return field(default=default, default_factory=factory, metadata={"rule": rule} if rule else {})


def _check_value(rule: Range | OneOf, value: Any, key: str) -> None:
    if value is None:
        return
    if isinstance(value, tuple | list):
        for i, item in enumerate(value):
            _check_value(rule, item, f"{key}[{i}]")
    elif isinstance(value, dict):
        for name, item in value.items():
            _check_value(rule, item, f"{key}.{name}")
    else:
        rule.check(value, key)


class Checked:
    """Base of the config dataclasses: field rules (and ``check()``) run on construction."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            rule = f.metadata.get("rule")
            if rule is not None:
                _check_value(rule, getattr(self, f.name), f.name)
        self.check()

    def check(self) -> None:
        """Rules between fields; raise :class:`FieldError` naming the field."""


@dataclass(frozen=True)
class NetworkConfig(Checked):
    name: str  # registry name, e.g. "spade"
    args: dict[str, Any] = field(default_factory=dict)  # constructor keyword arguments


@dataclass(frozen=True)
class ModelConfig(Checked):
    generator: NetworkConfig = NetworkConfig("spade")
    # null for objectives that train no discriminator (loss.objective: diffusion)
    discriminator: NetworkConfig | None = NetworkConfig("multiscale")


@dataclass(frozen=True)
class DataConfig(Checked):
    root: str = "data/synthetic"
    size: tuple[int, int] = setting((384, 512), at_least(1))  # (height, width) the generator works at
    load_size: tuple[int, int] | None = setting(None, at_least(1))  # resize to this before a random crop to `size`
    flip: bool = True
    workers: int = setting(2, at_least(0, off="load in the training process"))
    holdout: str | None = None  # subset file of names kept out of training (validation)

    def check(self) -> None:
        if self.load_size is not None and (self.load_size[0] < self.size[0] or self.load_size[1] < self.size[1]):
            raise FieldError("load_size", f"must be at least size {list(self.size)} (it is cropped to size), got {list(self.load_size)}")


@dataclass(frozen=True)
class LossConfig(Checked):
    objective: str = "gan"  # training objective (paintscape.registry.OBJECTIVES): what one step computes
    adversarial: str = "hinge"  # hinge | ls | bce
    # weights of the named generator terms; a zero weight skips the term's computation
    weights: dict[str, float] = setting(rule=at_least(0, off="term skipped"), factory=lambda: {"adv": 1.0, "feat": 10.0, "vgg": 10.0, "kl": 0.05, "l1": 0.0})
    vgg_distance: str = setting("l1", one_of("l1", "cosine"))  # the landscape report used cosine
    vgg_weights: str | None = None  # local VGG19 file; None -> torchvision's cache; "random" for tests only
    vgg_normalization: str = setting("imagenet", one_of("imagenet", "none"))  # imagenet: what VGG19 was trained on; none: [-1, 1] as SPADE feeds it
    label_dropout: float = setting(0.1, between(0, 1))  # diffusion: probability of the all-zero label map (classifier-free guidance)


@dataclass(frozen=True)
class PhaseConfig(Checked):
    batch_size: int = setting(rule=at_least(1))
    lr: float = setting(rule=above(0))
    epochs: int | None = setting(None, at_least(1))
    steps: int | None = setting(None, at_least(1))
    subset: str | None = None  # file with one image name per line (Selection I / II)
    loss_weights: dict[str, float] | None = setting(None, at_least(0, off="term skipped"))  # overrides LossConfig.weights in this phase
    name: str | None = None

    def check(self) -> None:
        if (self.epochs is None) == (self.steps is None):
            raise FieldError("epochs", "give exactly one of epochs or steps for each phase")


@dataclass(frozen=True)
class TrainConfig(Checked):
    phases: tuple[PhaseConfig, ...] = (PhaseConfig(batch_size=1, lr=2e-4, epochs=1),)
    betas: tuple[float, float] = setting((0.0, 0.9), between(0, 1, high_open=True))  # Adam's
    ttur: bool = True  # D lr x2, G lr /2 with betas (0, 0.9), as SPADE's --no_TTUR off
    lr_decay_start: float = setting(0.5, between(0, 1))  # fraction of the run after which lr decays linearly to 0; 1: no decay
    ema_half_life_images: float = setting(10_000.0, at_least(0, off="no EMA generator"))
    ema_rampup: float = setting(0.05, at_least(0, off="no ramp-up"))  # half-life <= rampup x images seen (StyleGAN2-ADA)
    # batches of training label maps that recompute the EMA generator's batch-norm statistics before it
    # is sampled, evaluated or written (OASIS's refresh; paintscape/train/batchnorm_refresh.py)
    ema_bn_refresh_batches: int = setting(0, at_least(0, off="the trained generator's statistics"))
    precision: str = setting("fp32", one_of("fp32", "bf16", "fp16"))
    channels_last: bool = False
    grad_accumulation: int = setting(1, at_least(1))
    compile: bool = False
    seed: int = setting(0, at_least(0))
    log_every: int = setting(10, at_least(1))  # steps
    image_every: int = setting(200, at_least(0, off="no sample grids"))  # steps
    checkpoint_every: int = setting(500, at_least(1))  # steps (a checkpoint is also written at each phase end)
    keep_last: int = setting(3, at_least(0, off="keep every checkpoint"))
    max_grad_norm: float | None = setting(None, above(0))  # None: no clipping
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    # optimiser memory (paintscape/train/optimizers.py): G's Adam step inside backward, gradients
    # freed at once (same update); Adam moments in fp32 | bf16; optimiser state split across ranks
    optimizer_in_backward: bool = False
    adam_moment_dtype: str = "fp32"
    shard_optimizer: bool = False

    def check(self) -> None:
        if not self.phases:
            raise FieldError("phases", "must list at least one phase")


@dataclass(frozen=True)
class EvalConfig(Checked):
    every: int = setting(0, at_least(0, off="no evaluation hook"))  # steps
    max_images: int = setting(64, at_least(1))  # the first this many names of data.holdout are rendered and judged
    select_by: str = "l1"  # a metric of paintscape.registry.METRICS: l1 | class_color_error | fid | kid | mask_accuracy | mean_iou | score
    on_training_images: bool = False  # without data.holdout, judge training images (else an error)
    inception_weights: str | None = None
    segmenter: str | None = None


@dataclass(frozen=True)
class DistillConfig(Checked):
    """``loss.objective: distill`` (``paintscape distill``): the teacher the student learns from."""

    teacher: str | None = None  # the teacher's run directory (its generator file and discriminator)
    # the teacher's discriminator starts the student's (else a fresh one of model.discriminator)
    teacher_discriminator: bool = True


@dataclass(frozen=True)
class Config(Checked):
    model: ModelConfig = ModelConfig()
    data: DataConfig = DataConfig()
    loss: LossConfig = LossConfig()
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()
    distill: DistillConfig = DistillConfig()


# --- conversion -------------------------------------------------------------------------------


def _convert(value: Any, tp: Any, key: str) -> Any:
    """Check/convert ``value`` to annotation ``tp``; ``key`` is the dotted path for messages."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        # Every optional field is `X | None`: X's own complaint names the problem (a missing key inside, ...).
        (inner,) = (a for a in args if a is not type(None))
        return _convert(value, inner, key)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping of {tp.__name__} fields, got {value!r}")
        return _build(tp, value, key)
    if origin is tuple:
        if isinstance(value, str) and args == (int, int) and parse_size_text(value):
            return parse_size_text(value)  # a size written as WIDTHxHEIGHT -> (height, width)
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(v, args[0], f"{key}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{key}: expected {len(args)} values, got {len(value)}: {value!r}")
        return tuple(_convert(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return {str(k): _convert(v, args[1], f"{key}.{k}") for k, v in value.items()}
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{key}: unsupported type {tp}")


def _build(cls: type, data: dict[str, Any], prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        where = f"{prefix}." if prefix else ""
        hint = did_you_mean(unknown[0], names)
        raise ConfigError(f"unknown key {where}{unknown[0]}{hint}; allowed keys here: {', '.join(names)}")
    kwargs = {}
    for name in names:
        if name in data:
            kwargs[name] = _convert(data[name], hints[name], f"{prefix}.{name}" if prefix else name)
    try:
        return cls(**kwargs)
    except FieldError as exc:  # a value outside its range: name it by its full key
        raise ConfigError(f"{prefix}.{exc.key}: {exc.detail}" if prefix else str(exc)) from None
    except TypeError as exc:  # a required field is missing
        missing = [f.name for f in dataclasses.fields(cls) if f.name not in kwargs and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
        raise ConfigError(f"{prefix or 'config'}: missing required key(s) {', '.join(missing)}") from exc


def config_from_dict(data: dict[str, Any]) -> Config:
    return _build(Config, data or {}, "")


def config_to_dict(config: Any) -> Any:
    """Plain YAML/JSON-able data (tuples become lists)."""
    if dataclasses.is_dataclass(config):
        return {f.name: config_to_dict(getattr(config, f.name)) for f in dataclasses.fields(config)}
    if isinstance(config, tuple | list):
        return [config_to_dict(v) for v in config]
    if isinstance(config, dict):
        return {k: config_to_dict(v) for k, v in config.items()}
    return config


_PATH_PART = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)((?:\[\d+\])*)$")


def apply_override(data: dict[str, Any], override: str) -> None:
    """Apply ``a.b[0].c=value`` (value parsed as YAML) to nested plain data in place."""
    if "=" not in override:
        raise ConfigError(f"override {override!r} must look like key.path=value, e.g. train.seed=1")
    path, raw = override.split("=", 1)
    try:
        value = load_yaml(raw) if raw != "" else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"override {override!r}: value is not valid YAML ({yaml_problem(exc)})") from None
    steps: list[str | int] = []
    for part in path.strip().split("."):
        match = _PATH_PART.match(part)
        if not match:
            raise ConfigError(f"override {override!r}: cannot read key part {part!r}")
        steps.append(match.group(1))
        steps.extend(int(i) for i in re.findall(r"\[(\d+)\]", match.group(2)))
    node: Any = data
    for i, step in enumerate(steps[:-1]):
        nxt = steps[i + 1]
        if isinstance(step, int):
            if not isinstance(node, list) or step >= len(node):
                raise ConfigError(f"override {override!r}: index [{step}] is out of range")
            node = node[step]
        else:
            if not isinstance(node, dict):
                raise ConfigError(f"override {override!r}: {step!r} is not inside a mapping")
            if step not in node and isinstance(nxt, int) and node:
                # Lists only come from the defaults or the file, so a new key indexed like one is a typo.
                where = ".".join(str(s) for s in steps[:i] if isinstance(s, str))
                raise ConfigError(
                    f"override {override!r}: unknown key {where + '.' if where else ''}{step}{did_you_mean(step, node)}; "
                    f"allowed keys here: {', '.join(map(str, node))}"
                )
            if step not in node or node[step] is None:
                node[step] = [] if isinstance(nxt, int) else {}
            node = node[step]
    last = steps[-1]
    if isinstance(last, int):
        if not isinstance(node, list) or last > len(node):
            raise ConfigError(f"override {override!r}: index [{last}] is out of range")
        if last == len(node):
            node.append(value)
        else:
            node[last] = value
    else:
        if not isinstance(node, dict):
            raise ConfigError(f"override {override!r}: {last!r} is not inside a mapping")
        node[last] = value


def read_yaml_mapping(path: str | Path, what: str = "config") -> dict[str, Any]:
    """The top-level mapping of a YAML file; errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} file {path} does not exist")
    try:
        data = load_yaml(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {yaml_problem(exc)}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a YAML text file (not UTF-8)") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of {what} keys")
    return data


def load_dataclass(cls: type, data: dict[str, Any], overrides: list[str] | tuple[str, ...] = (), source: str = "defaults", prefix: str = "") -> Any:
    """Defaults of ``cls`` merged with ``data``, then dotted ``overrides``, type-checked into ``cls``."""
    merged = _merge(config_to_dict(cls()), data)
    for override in overrides:
        apply_override(merged, override)
    try:
        return _build(cls, merged, prefix)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def load_config(path: str | Path | None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Read a YAML config (a file or a packaged config's name; the defaults when None) and apply overrides."""
    if path is not None:
        from paintscape.config_files import UnknownConfig, resolve_config

        try:
            path = resolve_config(path)
        except UnknownConfig as exc:
            raise ConfigError(str(exc)) from None
    data = read_yaml_mapping(path) if path is not None else {}
    # Overrides address the full tree, so they apply to the defaults merged with the file.
    return load_dataclass(Config, data, overrides, source=str(path) if path is not None else "defaults")


_REPLACED_WHOLE = ("args", "weights")


def _merge(base: Any, update: Any) -> Any:
    # Mappings merge key by key; free-form `args`/`weights` and lists (phases) are replaced whole,
    # so a pix2pix file's loss weights do not inherit SPADE's defaults.
    if isinstance(base, dict) and isinstance(update, dict):
        out = dict(base)
        for k, v in update.items():
            out[k] = _merge(base[k], v) if k in base and k not in _REPLACED_WHOLE else v
        return out
    return update


def save_config(config: Config, path: str | Path) -> None:
    from paintscape.io_atomic import atomic_write_text

    atomic_write_text(Path(path), yaml.safe_dump(config_to_dict(config), sort_keys=False))


def config_from_yaml_text(text: str) -> Config:
    return config_from_dict(load_yaml(text) or {})
