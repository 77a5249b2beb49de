"""A corpus of bad inputs, and the CLI cases that feed them to every command.

Each :class:`Case` writes its inputs into an empty folder, names the ``paintscape`` command line to run
there and says what the answer must hold: exit status 1 or 2, no traceback, the file (or key) named,
and no file written beside the inputs. ``tests/test_bad_inputs.py`` runs each case through
``paintscape.cli.main`` (or, with ``subprocess=True``, as ``python -m paintscape``). Adding a case is
one line in :data:`CASES`, e.g.::

    Case("average/evals-without-step", average_on('{"l1": 0.1}\\n'), named=("evals.jsonl", "line 1")),

Every file here is tiny and made in a few milliseconds; the "huge" images are PNGs of zeros whose
header claims 20000x20000 pixels, streamed row by row (never held in memory) into ~0.2 MB.
"""

from __future__ import annotations

import io
import json
import pickle
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
TINY_CONFIG = REPO / "paintscape" / "configs" / "pix2pix_tiny.yaml"

# --- files ---------------------------------------------------------------------------------------


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_of_zeros(width: int, height: int, bit_depth: int = 1, color_type: int = 0) -> bytes:
    """A valid PNG of zeros at any size: 20000x20000 at 1 bit is 0.2 MB, made in ~0.4 s.

    ``color_type`` 0 is grayscale (``bit_depth`` 1, 8 or 16), 2 is RGB (8 or 16)."""
    channels = {0: 1, 2: 3}[color_type]
    row = b"\0" * (1 + (width * channels * bit_depth + 7) // 8)  # filter byte + pixels
    compressor = zlib.compressobj(1)  # fastest; zeros shrink ~230x even so
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", data) + png_chunk(b"IEND", b"")


def header_only_png(width: int, height: int, bit_depth: int = 16) -> bytes:
    """A PNG that claims ``width x height`` and holds no pixel data: decoding it fails as truncated,
    so a "too large" answer shows that the size was checked on the header alone."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IEND", b"")


def encode(array: np.ndarray, fmt: str = "PNG") -> bytes:
    """An array as PNG (uint16 arrays become 16-bit grayscale) or JPEG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt)
    return buffer.getvalue()


def scene(height: int = 48, width: int = 64, classes: tuple[int, ...] = (1, 0, 3)) -> np.ndarray:
    """Horizontal bands of class ids (sky over mountain over sea by default), uint8."""
    label = np.zeros((height, width), dtype=np.uint8)
    for cls, rows in zip(classes, np.array_split(np.arange(height), len(classes))):
        label[rows] = cls
    return label


def photo(height: int = 48, width: int = 64, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8)


def truncated(data: bytes, keep: float = 0.5) -> bytes:
    return data[: max(1, int(len(data) * keep))]


def broken_chunk(png: bytes) -> bytes:
    """A PNG whose IHDR chunk fails its CRC (Pillow raises SyntaxError on it)."""
    data = bytearray(png)
    data[20] ^= 0xFF  # inside IHDR's width field
    return bytes(data)


def label_16bit(value: int) -> bytes:
    label = scene().astype(np.uint16)
    label[:3, :4] = value
    return encode(label)


def palette_label_with(colour: tuple[int, int, int]) -> bytes:
    from paintscape.labels import colorize

    rgb = colorize(scene())
    rgb[2, 2] = colour
    return encode(rgb)


#: Photos that no reader may decode; the name says why.
BAD_PHOTOS: dict[str, Callable[[], bytes]] = {
    "zero-byte": lambda: b"",
    "truncated-jpeg": lambda: truncated(encode(photo(), "JPEG")),
    "not-an-image": lambda: b"hello, I am not a photo\n",
    "broken-png-chunk": lambda: broken_chunk(encode(photo())),
    "huge-20000x20000": lambda: png_of_zeros(20000, 20000),
}

#: Label maps that no reader may accept; the second item is text the error must contain.
BAD_LABELS: dict[str, tuple[Callable[[], bytes], str]] = {
    "zero-byte": (lambda: b"", "empty file"),
    "truncated-png": (lambda: truncated(encode(scene()), 0.7), "truncated"),
    "not-an-image": (lambda: b"\x00\x01 not a label map", "not an image"),
    "broken-png-chunk": (lambda: broken_chunk(encode(scene())), "corrupt PNG"),
    "huge-20000x20000": (lambda: png_of_zeros(20000, 20000), "20000x20000"),
    "16bit-id-300": (lambda: label_16bit(300), "300 (12 px)"),
    "palette-unknown-colour": (lambda: palette_label_with((1, 2, 3)), "(1, 2, 3)"),
    "bilevel-mode-1": (lambda: png_of_zeros(64, 48), "mode 1"),
}

#: Photo/label pairs that are each readable but do not belong together: (photo, label, message).
BAD_PAIRS: dict[str, tuple[Callable[[], bytes], Callable[[], bytes], str]] = {
    "size-mismatch": (lambda: encode(photo(30, 30), "JPEG"), lambda: encode(scene(24, 32)), "size mismatch"),
    "label-1x1-photo-128x96": (
        lambda: encode(photo(96, 128), "JPEG"),
        lambda: encode(scene(1, 1, (1,))),
        "size mismatch",
    ),
    "photo-smaller-than-label": (
        lambda: encode(photo(48, 64), "JPEG"),
        lambda: encode(scene(96, 128)),
        "photo is 64x48, smaller than its label",
    ),
}


class _Pickled:
    """Pickled as a call of ``print``: what a malicious checkpoint does (never run: weights_only refuses it)."""

    def __reduce__(self):
        return (print, ("this line must never be printed",))


def _torch_file(obj) -> bytes:
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _safetensors_file() -> bytes:
    import torch
    from safetensors.torch import save

    return save({"weight": torch.zeros(64, 64)})


#: Reference weight files convert-reference must refuse: (file name, contents, text the error must contain).
BAD_WEIGHTS: dict[str, tuple[str, Callable[[], bytes], str]] = {
    "pickle-with-code": ("net_G.pth", lambda: _torch_file({"x": _Pickled()}), "refused"),
    "plain-pickle": ("net_G.pth", lambda: pickle.dumps({"weight": [1, 2, 3]}), "not a PyTorch checkpoint"),
    "truncated-pth": ("net_G.pth", lambda: truncated(_torch_file({"weight": _zeros()})), "truncated or corrupt"),
    "zero-byte-pth": ("net_G.pth", lambda: b"", "empty file"),
    "text-pth": ("net_G.pth", lambda: b"not a checkpoint at all\n", "not a PyTorch checkpoint"),
    "tensor-not-state-dict": ("net_G.pth", lambda: _torch_file(_zeros()), "expected a state dict"),
    "state-dict-with-a-number": ("net_G.pth", lambda: _torch_file({"weight": _zeros(), "epoch": 3}), "but 'epoch' holds a int"),
    "truncated-safetensors": (
        "net_G.safetensors",
        lambda: truncated(_safetensors_file()),
        "not a readable .safetensors",
    ),
    "zero-byte-safetensors": ("net_G.safetensors", lambda: b"", "empty file"),
}


def _zeros():
    import torch

    return torch.zeros(64, 64)


#: Config overrides ``train`` must refuse, each naming its key (the key is the text to find).
BAD_OVERRIDES: list[str] = [
    "train.phases[0].batch_size=0",
    "train.checkpoint_every=0",
    "train.log_every=0",
    "train.phases[0].lr=-0.1",
    "train.keep_last=-1",
    "train.grad_accumulation=0",
    "data.workers=-2",
    "eval.max_images=0",
    "eval.every=-5",
    "train.image_every=-1",
    "train.ema_half_life_images=-10",
    "train.lr_decay_start=1.5",
    "train.betas=[0.5,1.0]",
    "data.size=[0,64]",
]

# --- cases ---------------------------------------------------------------------------------------


@dataclass
class Shared:
    """Made once per test session: a tiny generator file (pix2pix, 32x64, random weights)."""

    generator: Path


#: A case's setup: write inputs into ``folder``; return the arguments after ``paintscape``.
Setup = Callable[[Path, Shared], list[str]]


@dataclass
class Case:
    id: str
    setup: Setup
    named: tuple[str, ...]  # texts the output must contain: the bad file's name, the key, the fact
    status: tuple[int, ...] = (1, 2)
    env: dict[str, str] = field(default_factory=dict)
    forbidden: tuple[str, ...] = ()  # text that must never appear (besides "Traceback")
    writes: tuple[str, ...] = ()  # files the command may create (fnmatch patterns, relative to the folder); others: none
    check: Callable[[Path, str], None] | None = None  # further checks on (folder, output)
    subprocess: bool = False  # run as ``python -m paintscape`` in a child process (default: cli.main in the test's)
    slow: bool = False  # marked slow (still run in CI)


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _good_pair(root: Path, index: int) -> None:
    _write(root / "imgs" / f"good{index}.jpg", encode(photo(seed=index), "JPEG"))
    _write(root / "labels" / f"good{index}.png", encode(scene(classes=(1, 0, 3 + index))))


def _photo_suffix(data: bytes) -> str:
    return ".png" if data.startswith(b"\x89PNG") else ".jpg"


def check_data_on_corpus(folder: Path, shared: Shared) -> list[str]:
    """One dataset holding one good pair and every bad photo, label and pair of the corpus."""
    root = folder / "data"
    _good_pair(root, 0)
    for name, make in BAD_PHOTOS.items():
        data = make()
        _write(root / "imgs" / f"photo-{name}{_photo_suffix(data)}", data)
        _write(root / "labels" / f"photo-{name}.png", encode(scene()))
    for name, (make, _) in BAD_LABELS.items():
        _write(root / "imgs" / f"label-{name}.jpg", encode(photo(), "JPEG"))
        _write(root / "labels" / f"label-{name}.png", make())
    for name, (make_photo, make_label, _) in BAD_PAIRS.items():
        _write(root / "imgs" / f"pair-{name}.jpg", make_photo())
        _write(root / "labels" / f"pair-{name}.png", make_label())
    return ["check-data", "data"]


def _check_data_expectations() -> tuple[str, ...]:
    photos = tuple(f"photo-{name}" for name in BAD_PHOTOS)
    labels = tuple(f"label-{name}.png: " for name in BAD_LABELS) + tuple(text for _, text in BAD_LABELS.values())
    pairs = tuple(f"pair-{name}.jpg: " for name in BAD_PAIRS) + tuple(text for _, _, text in BAD_PAIRS.values())
    total = len(BAD_PHOTOS) + len(BAD_LABELS) + len(BAD_PAIRS)
    return ("1 good pairs", f"{total} problems", *photos, *labels, *pairs)


def check_data_on(photo_bytes: Callable[[], bytes], label_bytes: Callable[[], bytes]) -> Setup:
    def setup(folder: Path, shared: Shared) -> list[str]:
        _good_pair(folder / "data", 0)
        data = photo_bytes()
        _write(folder / "data" / "imgs" / f"bad{_photo_suffix(data)}", data)
        _write(folder / "data" / "labels" / "bad.png", label_bytes())
        return ["check-data", "data"]

    return setup


def generate_on(
    label: Callable[[], bytes] | None = None,
    style_map: Callable[[], bytes] | None = None,
    style_photo: Callable[[], bytes] | None = None,
) -> Setup:
    """generate with one label map (bad, or a sound one) and optionally a style map and photo."""

    def setup(folder: Path, shared: Shared) -> list[str]:
        _write(folder / "labels" / "scene.png", label() if label else encode(scene(32, 64)))
        args = ["generate", str(shared.generator), "labels", "out"]
        if style_map is not None:
            _write(folder / "styles.json", style_map())
            args += ["--style", "styles.json"]
        if style_photo is not None:
            _write(folder / "ref.png", style_photo())
        return args

    return setup


def curate_on(photo_bytes: Callable[[], bytes], label_bytes: Callable[[], bytes]) -> Setup:
    def setup(folder: Path, shared: Shared) -> list[str]:
        root = folder / "data"
        for i in range(4):
            _good_pair(root, i)
        data = photo_bytes()
        _write(root / "imgs" / f"bad{_photo_suffix(data)}", data)
        _write(root / "labels" / "bad.png", label_bytes())
        return ["curate", "data", "--out", "subsets"]

    return setup


def train_with(*overrides: str, config_text: str | None = None) -> Setup:
    """train the tiny pix2pix config on a sound 4-pair dataset, with bad values."""

    def setup(folder: Path, shared: Shared) -> list[str]:
        for i in range(4):
            _good_pair(folder / "data", i)
        config = str(TINY_CONFIG)
        if config_text is not None:
            config = str(_write(folder / "bad.yaml", config_text.encode()))
        return ["train", config, *overrides, "data.root=data", "--out", "run"]

    return setup


def convert_reference_on(file_name: str, contents: Callable[[], bytes]) -> Setup:
    def setup(folder: Path, shared: Shared) -> list[str]:
        _write(folder / file_name, contents())
        return ["convert-reference", "pix2pix", file_name, "--out", "converted.safetensors"]

    return setup


def average_on(evals: str | bytes, *extra: str) -> Setup:
    """average on a run whose one checkpoint was evaluated, with ``evals`` as its evals.jsonl."""

    def setup(folder: Path, shared: Shared) -> list[str]:
        _write(folder / "run" / "checkpoints" / "step_00000001.safetensors", shared.generator.read_bytes())
        _write(folder / "run" / "evals.jsonl", evals.encode() if isinstance(evals, str) else evals)
        return ["average", "run", *extra]

    return setup


def run_with_latest(latest: str, spec: str | None = None) -> Callable[[str], Setup]:
    """A run directory whose latest.json is ``latest`` (its generator file's spec replaced by ``spec``),
    for the commands that take a run: ``generate``, ``export``, ``paint``."""

    def for_command(command: str) -> Setup:
        def setup(folder: Path, shared: Shared) -> list[str]:
            generator = shared.generator.read_bytes()
            if spec is not None:
                from safetensors.torch import load, save

                generator = save(load(generator), metadata={"paintscape_spec": spec})
            _write(folder / "run" / "checkpoints" / "step_00000001.safetensors", generator)
            _write(folder / "run" / "latest.json", latest.encode())
            _write(folder / "labels" / "scene.png", encode(scene(32, 64)))
            tail = {"generate": ["labels", "out"], "export": ["out.onnx"], "paint": ["--port", "0"]}[command]
            return [command, "run", *tail]

        return setup

    return for_command


_LATEST = '{"step": 1, "state": "checkpoints/step_00000001.pt", "generator": "checkpoints/step_00000001.safetensors"}'
_SPEC = '{"name": "pix2pix", "args": {"base_channels": %s, "image_size": [32, 64]}, "image_size": [32, 64]%s}'
#: Run directories that generate, export and paint must refuse: (setup per command, texts to find).
BAD_RUNS: dict[str, tuple[Callable[[str], Setup], tuple[str, ...]]] = {
    "latest-without-generator": (run_with_latest('{"step": 1, "state": "x.pt"}'), ("latest.json", "'generator'")),
    "latest-generator-a-number": (run_with_latest('{"step": 1, "generator": 5}'), ("latest.json", "'generator'", "5")),
    "latest-a-list": (run_with_latest("[1, 2]"), ("latest.json", "got list")),
    "latest-not-json": (run_with_latest('{"step": 1,'), ("latest.json", "corrupt")),
    "spec-argument-wrong-type": (run_with_latest(_LATEST, _SPEC % ('"eight"', "")), ("step_00000001.safetensors",)),
    "spec-palette-wrong-type": (run_with_latest(_LATEST, _SPEC % ("8", ', "palette": 5')), ("step_00000001.safetensors",)),
    "spec-unknown-argument": (
        run_with_latest(_LATEST, _SPEC % ('8, "wings": 2', "")),
        ("step_00000001.safetensors", "wings"),
    ),
    "spec-unknown-family": (
        run_with_latest(_LATEST, '{"name": "dragon", "args": {}, "image_size": [32, 64]}'),
        ("step_00000001.safetensors", "dragon"),
    ),
}


def generate_second_label_bad(folder: Path, shared: Shared) -> list[str]:
    """Two label maps, the second (in render order) truncated: nothing may be rendered before the refusal."""
    _write(folder / "labels" / "a_good.png", encode(scene(32, 64)))
    _write(folder / "labels" / "b_bad.png", truncated(encode(scene(32, 64)), 0.7))
    return ["generate", str(shared.generator), "labels", "out", "--batch-size", "1"]


def convert_paintscape_file(kind: str) -> Setup:
    """convert-reference on files paintscape itself wrote: a generator file, a training checkpoint."""

    def setup(folder: Path, shared: Shared) -> list[str]:
        if kind == "generator":
            _write(folder / "g.safetensors", shared.generator.read_bytes())
            return ["convert-reference", "pix2pix", "g.safetensors", "--out", "converted.safetensors"]
        _write(folder / "step_00000001.pt", _torch_file({"networks": {"generator": {"w": _zeros()}}, "spec": "{}", "step": 1}))
        return ["convert-reference", "pix2pix", "step_00000001.pt", "--out", "converted.safetensors"]

    return setup


def resume_from(state: Callable[[], bytes] | None, latest: str = _LATEST) -> Setup:
    """train --resume on a run whose latest checkpoint is ``state`` (None: the file is missing)."""

    def setup(folder: Path, shared: Shared) -> list[str]:
        args = [*train_with()(folder, shared), "--resume"]
        _write(folder / "run" / "latest.json", latest.encode())
        if state is not None:
            _write(folder / "run" / "checkpoints" / "step_00000001.pt", state())
        return args

    return setup


def _last_good_checkpoint_kept(folder: Path, output: str) -> None:
    """The run stopped at the step its first tensor went non-finite; ``latest`` is the checkpoint of
    the step before, and every tensor it holds (networks, EMA, generator file) is finite."""
    import re

    import torch

    from paintscape.checkpoint import load_training_state, read_generator_file

    stopped = int(re.search(r"error: step (\d+): ", output).group(1))
    record = json.loads((folder / "run" / "latest.json").read_text())
    assert record["step"] == stopped - 1, (record, output[-500:])
    state = load_training_state(folder / "run" / record["state"])
    tensors = [*state["ema"].values(), *read_generator_file(folder / "run" / record["generator"])[0].values()]
    tensors += [t for network in state["networks"].values() for t in network.values()]
    assert tensors and all(torch.isfinite(t).all() for t in tensors if t.is_floating_point())


def _left_out(reason: str) -> Callable[[Path, str], None]:
    """curate accepts the dataset, leaves the pair ``bad`` out of both selections, and says why."""

    def check(folder: Path, output: str) -> None:
        for selection in ("selection1.txt", "selection2.txt"):
            names = (folder / "subsets" / selection).read_text().split()
            assert "bad" not in names, (selection, names)
        findings = json.loads((folder / "subsets" / "findings.json").read_text())
        assert reason in json.dumps(findings), json.dumps(findings)[:2000]

    return check


_CURATE_OUTPUTS = tuple(
    f"subsets/{n}" for n in ("selection1.txt", "selection2.txt", "findings.json", "removed.html", "contact_sheet.png")
)


def _good_jpeg() -> bytes:
    return encode(photo(), "JPEG")


def _good_label() -> bytes:
    return encode(scene())


_NEVER = ("weights_only=False", "must never be printed")
_STYLE = b'{"scene.png": "ref.png"}'

CASES: list[Case] = [
    # check-data reports every bad photo, label and pair of the corpus by name (exit 1)
    Case("check-data/corpus", check_data_on_corpus, named=_check_data_expectations(), subprocess=True),
    Case(
        "check-data/bad-pixel-limit-variable",
        check_data_on(_good_jpeg, _good_label),
        named=("check-data: error: PAINTSCAPE_MAX_PIXELS='lots'",),
        env={"PAINTSCAPE_MAX_PIXELS": "lots"},
    ),
    Case(
        "check-data/pixel-limit-lowered",
        check_data_on(_good_jpeg, _good_label),
        named=("bad.png", "more than the limit of 1,000 pixels"),
        env={"PAINTSCAPE_MAX_PIXELS": "1000"},
    ),
    # generate: bad label maps, style maps and style photos
    *(
        Case(f"generate/label-{n}", generate_on(label=m), named=("scene.png", text))
        for n, (m, text) in BAD_LABELS.items()
    ),
    Case(
        "generate/style-map-not-utf8",
        generate_on(style_map=lambda: '{"scene.png": "r\xe9f.png"}'.encode("latin-1")),
        named=("styles.json", "UTF-8"),
    ),
    Case(
        "generate/style-map-not-json",
        generate_on(style_map=lambda: b"{scene.png: ref.png"),
        named=("styles.json", "JSON"),
    ),
    Case("generate/style-map-a-list", generate_on(style_map=lambda: b'["ref.png"]'), named=("styles.json",)),
    Case("generate/style-map-a-number", generate_on(style_map=lambda: b'{"scene.png": 5}'), named=("styles.json",)),
    Case(
        "generate/style-map-missing-photo",
        generate_on(style_map=lambda: b'{"scene.png": "nowhere.jpg"}'),
        named=("nowhere.jpg",),
    ),
    *(
        Case(
            f"generate/style-photo-{n}",
            generate_on(style_map=lambda: _STYLE, style_photo=BAD_PHOTOS[n]),
            named=("ref.png",),
        )
        for n in ("zero-byte", "truncated-jpeg", "huge-20000x20000")
    ),
    # curate: an unreadable or oversized pair is left out with its reason (the documented acceptance: exit 0)
    Case(
        "curate/photo-huge",
        curate_on(BAD_PHOTOS["huge-20000x20000"], _good_label),
        named=("5 pairs", "unreadable: 1"),
        status=(0,),
        writes=_CURATE_OUTPUTS,
        check=_left_out("20000x20000"),
    ),
    Case(
        "curate/label-huge",
        curate_on(_good_jpeg, BAD_LABELS["huge-20000x20000"][0]),
        named=("5 pairs", "unreadable: 1"),
        status=(0,),
        writes=_CURATE_OUTPUTS,
        check=_left_out("20000x20000"),
    ),
    Case(
        "curate/photo-truncated",
        curate_on(BAD_PHOTOS["truncated-jpeg"], _good_label),
        named=("5 pairs", "unreadable: 1"),
        status=(0,),
        writes=_CURATE_OUTPUTS,
        check=_left_out("truncated"),
    ),
    # curate: a pair check-data rejects is left out of both selections with check-data's reason
    *(
        Case(
            f"curate/pair-{n}",
            curate_on(make_photo, make_label),
            named=("5 pairs", "mismatched: 1"),
            status=(0,),
            writes=_CURATE_OUTPUTS,
            check=_left_out(text),
        )
        for n, (make_photo, make_label, text) in BAD_PAIRS.items()
    ),
    # generate: every label map is read before the first is rendered
    Case("generate/second-label-truncated", generate_second_label_bad, named=("b_bad.png", "truncated")),
    # generate / export / paint on a run directory whose latest.json or generator spec is damaged
    *(
        Case(f"{command}/{n}", make(command), named=named, forbidden=("KeyError", "TypeError"))
        for n, (make, named) in BAD_RUNS.items()
        for command in ("generate", "export", "paint")
    ),
    # average: a damaged evals.jsonl names the file and line; --top must be positive
    Case("average/evals-without-step", average_on('{"l1": 0.1}\n'), named=("evals.jsonl", "line 1", "'step'")),
    Case("average/evals-not-json", average_on('{"step": 1, "l1": 0.1}\n{"step": 2,\n'), named=("evals.jsonl", "line 2")),
    Case("average/evals-not-text", average_on(b"\xff\xfe\x00binary"), named=("evals.jsonl",)),
    Case("average/evals-value-not-number", average_on('{"step": 1, "l1": "low"}\n'), named=("evals.jsonl", "'low'")),
    Case("average/top-negative", average_on('{"step": 1, "l1": 0.1}\n', "--top", "-1"), named=("--top", "-1")),
    Case("average/top-zero", average_on('{"step": 1, "l1": 0.1}\n', "--top", "0"), named=("--top", "got 0")),
    # train --resume from a checkpoint that must not be loaded; the error never advises weights_only=False
    Case(
        "train/resume-pickle-with-code",
        resume_from(lambda: _torch_file({"x": _Pickled()})),
        named=("step_00000001.pt", "refused"),
        forbidden=_NEVER,
        subprocess=True,
    ),
    Case("train/resume-truncated", resume_from(lambda: truncated(_torch_file({"w": _zeros()}))), named=("step_00000001.pt",)),
    Case("train/resume-missing-state", resume_from(None), named=("step_00000001.pt", "not found")),
    Case("train/resume-latest-without-state", resume_from(None, '{"step": 1}'), named=("latest.json", "'state'")),
    # train: a diverging run (BatchNorm running_var -> Inf while every loss stays finite) fails, naming the tensor
    Case(
        "train/diverges-at-lr-1e6",
        train_with("train.phases[0].lr=1000000.0", "train.checkpoint_every=1", "train.image_every=0"),
        named=("running_var", "is not finite"),
        writes=("run/*",),
        check=_last_good_checkpoint_kept,
        slow=True,
    ),
    # train: a bad count, interval or rate names its key before anything is written (all keys: tests/test_config.py)
    *(
        Case(f"train/{o.split('=')[0]}", train_with(o), named=(f"{o.split('=')[0]}: must be",))
        for o in BAD_OVERRIDES[:4]
    ),
    Case(
        "train/config-file-bad-value",
        train_with(config_text="train:\n  log_every: 0\n"),
        named=("bad.yaml: train.log_every: must be",),
    ),
    # convert-reference: unreadable or unsafe weight files; a pickle is refused without running it
    *(
        Case(f"convert-reference/{n}", convert_reference_on(f, m), named=(f, text), forbidden=_NEVER, subprocess="code" in n)
        for n, (f, m, text) in BAD_WEIGHTS.items()
    ),
    Case(
        "convert-reference/paintscape-generator-file",
        convert_paintscape_file("generator"),
        named=("g.safetensors", "already a paintscape generator file"),
        forbidden=("num_downsampling",),
    ),
    Case(
        "convert-reference/paintscape-training-checkpoint",
        convert_paintscape_file("training"),
        named=("step_00000001.pt", "a paintscape training checkpoint", "step_00000001.safetensors"),
    ),
]
