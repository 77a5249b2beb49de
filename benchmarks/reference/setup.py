"""Prepare the reference implementations for ``time_reference.py``: copies of the checkouts you pass,
with the edits that let them train offline on a CPU. None of their code is in this repository.

    python benchmarks/reference/setup.py --out ../reference-trees \\
        --spade PATH/SPADE --tsit PATH/TSIT --pix2pix PATH/pytorch-CycleGAN-and-pix2pix \\
        --sync-bn PATH/Synchronized-BatchNorm-PyTorch

Writes ``OUT/spade``, ``OUT/tsit`` and ``OUT/pix2pix`` (any of the three may be left out; ``--sync-bn``
is needed with ``--spade`` or ``--tsit``). Each is a fresh copy of the checkout (without ``.git``), so
running the script again gives the same trees. The edits, each checked to apply exactly once:

* SPADE and TSIT: vacancy/Synchronized-BatchNorm-PyTorch's ``sync_batchnorm`` copied to
  ``models/networks/sync_batchnorm`` (where both import it from);
* SPADE and TSIT: the perceptual loss's VGG19 randomly initialised (``vgg19(weights=None)``, same
  FLOPs; nothing is downloaded) and built without ``.cuda()``;
* SPADE and TSIT: ``util/util.py`` imports ``pickle`` instead of ``dill`` (used only to pickle options);
* TSIT: Adam's ``betas=(0, 0.9)`` written as floats (PyTorch >= 2.2 refuses an int and a float);
* pix2pix: none.

The versions the figures in docs/benchmarks.md were measured with: NVlabs/SPADE ``fecacc92``,
EndlessSora/TSIT ``69c0f42``, junyanz/pytorch-CycleGAN-and-pix2pix ``00d5574`` (mirrored by
zenml-io/pytorch-CycleGAN-and-pix2pix), vacancy/Synchronized-BatchNorm-PyTorch ``7553990``. Each
tree gets a ``PREPARED.json`` naming its source and commit.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

#: name -> (the checkout's marker file, the upstream repository, the commit the docs used)
TREES = {
    "spade": ("models/networks/architecture.py", "NVlabs/SPADE", "fecacc920c1367a038995c45a39c15f6521ca64f"),
    "tsit": ("models/networks/stream.py", "EndlessSora/TSIT", "69c0f421a8912aa714dc1aab1f3becf3b4b7178a"),
    "pix2pix": ("models/pix2pix_model.py", "junyanz/pytorch-CycleGAN-and-pix2pix", "00d5574"),
}
SYNC_BN = ("sync_batchnorm/batchnorm.py", "vacancy/Synchronized-BatchNorm-PyTorch", "7553990")

_VGG = ("vgg19(pretrained=True)", "vgg19(weights=None)")
_VGG_CUDA = ("self.vgg = VGG19().cuda()", "self.vgg = VGG19()")
_DILL = ("import dill as pickle", "import pickle")
#: name -> [(file, old text, new text)]
EDITS: dict[str, list[tuple[str, str, str]]] = {
    "spade": [
        ("models/networks/architecture.py", *_VGG),
        ("models/networks/loss.py", *_VGG_CUDA),
        ("util/util.py", *_DILL),
    ],
    "tsit": [
        ("models/networks/architecture.py", *_VGG),
        ("models/networks/loss.py", *_VGG_CUDA),
        ("util/util.py", *_DILL),
        ("models/pix2pix_model.py", "beta1, beta2 = 0, 0.9", "beta1, beta2 = 0.0, 0.9"),
    ],
    "pix2pix": [],
}
_IGNORE = shutil.ignore_patterns(".git", "checkpoints", "datasets", "docs", "imgs", "results", "__pycache__")


class SetupError(Exception):
    """A path or a file is not what the script expects; the message is one line."""


def _commit(path: Path) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip() or None


def _check_checkout(option: str, path: Path, marker: str, repo: str) -> None:
    if not path.is_dir():
        raise SetupError(f"{option} {path}: no such directory")
    if not (path / marker).is_file():
        raise SetupError(f"{option} {path}: not a checkout of {repo} (it has no {marker})")


def _edit(tree: Path, file: str, old: str, new: str) -> None:
    path = tree / file
    text = path.read_text()
    count = text.count(old)
    if count != 1:
        raise SetupError(f"{path}: expected the line {old!r} once, found it {count} times (a different version?)")
    path.write_text(text.replace(old, new))


def prepare(name: str, source: Path, out: Path, sync_bn: Path | None) -> Path:
    marker, repo, expected = TREES[name]
    tree = out / name
    if tree.exists():
        shutil.rmtree(tree)
    shutil.copytree(source, tree, ignore=_IGNORE)
    if name in ("spade", "tsit"):
        assert sync_bn is not None
        shutil.copytree(sync_bn / "sync_batchnorm", tree / "models" / "networks" / "sync_batchnorm", ignore=_IGNORE)
    for file, old, new in EDITS[name]:
        _edit(tree, file, old, new)
    commit = _commit(source)
    record = {
        "repository": repo,
        "source": str(source),
        "commit": commit,
        "commit_used_in_docs": expected,
        "edits": [{"file": f, "old": o, "new": n} for f, o, n in EDITS[name]],
    }
    if name in ("spade", "tsit"):
        record["sync_batchnorm"] = {"source": str(sync_bn), "commit": _commit(sync_bn)}
    (tree / "PREPARED.json").write_text(json.dumps(record, indent=1) + "\n")
    if commit is not None and not commit.startswith(expected):
        print(f"note: {source} is at {commit[:12]}, the docs' figures used {repo} {expected[:12]}", file=sys.stderr)
    return tree


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="folder for the prepared trees (outside this repo)")
    parser.add_argument("--spade", type=Path, help="checkout of NVlabs/SPADE")
    parser.add_argument("--tsit", type=Path, help="checkout of EndlessSora/TSIT")
    parser.add_argument("--pix2pix", type=Path, help="checkout of junyanz/pytorch-CycleGAN-and-pix2pix")
    parser.add_argument("--sync-bn", type=Path, help="checkout of vacancy/Synchronized-BatchNorm-PyTorch")
    args = parser.parse_args(argv)
    sources = {name: getattr(args, name) for name in TREES if getattr(args, name) is not None}
    try:
        if not sources:
            raise SetupError("nothing to prepare: pass at least one of --spade, --tsit, --pix2pix")
        for name, path in sources.items():
            _check_checkout(f"--{name}", path, TREES[name][0], TREES[name][1])
        if {"spade", "tsit"} & sources.keys():
            if args.sync_bn is None:
                raise SetupError(
                    "--spade and --tsit need --sync-bn (a checkout of vacancy/Synchronized-BatchNorm-PyTorch)"
                )
            _check_checkout("--sync-bn", args.sync_bn, SYNC_BN[0], SYNC_BN[1])
        args.out.mkdir(parents=True, exist_ok=True)
        for name, path in sources.items():
            tree = prepare(name, path.resolve(), args.out.resolve(), args.sync_bn.resolve() if args.sync_bn else None)
            print(f"{name}: {tree}")
    except (SetupError, OSError) as exc:
        print(f"setup.py: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
