"""What one training forward keeps for backward: bytes of the tensors autograd saves, by module.

Builds a family's full-width networks as ``bench_train.py`` does (the papers' widths, fp32, training
mode), runs one forward of each part with ``torch.autograd.graph.saved_tensors_hooks`` and sums the
unique storages saved for backward that are not parameters or buffers (a storage saved by several
nodes counts once; an activation that a later layer also saves counts for the first module that
saved it). The parts are the ones the G step runs with gradient: ``G`` (the generator's forward),
``D`` (the discriminator on the fake, as in the G step) and ``VGG`` (the perceptual loss's network
on the fake).

    python benchmarks/saved_tensors.py --family tsit --size 256 256
    python benchmarks/saved_tensors.py --family spade --size 256 256 --depth 1 --json

The figures are deterministic (no timing): the same on any machine for the same code.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_train import FAMILIES  # noqa: E402


class SavedTensorAccount:
    """Unique storages saved for backward, attributed to the innermost module (up to ``depth``) that
    was running when autograd saved them."""

    def __init__(self, root: nn.Module, depth: int) -> None:
        self.skip = {t.untyped_storage().data_ptr() for t in [*root.parameters(), *root.buffers()]}
        self.seen: dict[int, tuple[str, int]] = {}
        self.stack: list[str] = ["(top)"]
        self.handles = []
        for name, module in root.named_modules():
            if name and name.count(".") < depth:
                self.handles.append(module.register_forward_pre_hook(self._enter(name)))
                self.handles.append(module.register_forward_hook(self._leave))

    def _enter(self, name: str):
        def hook(module: nn.Module, args: object) -> None:
            self.stack.append(name)

        return hook

    def _leave(self, module: nn.Module, args: object, output: object) -> None:
        self.stack.pop()

    def pack(self, tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        key = storage.data_ptr()
        if key not in self.skip and key not in self.seen and storage.nbytes() > 0:
            self.seen[key] = (self.stack[-1], storage.nbytes())
        return tensor

    def by_module(self) -> dict[str, int]:
        totals: dict[str, int] = defaultdict(int)
        for name, nbytes in self.seen.values():
            totals[name] += nbytes
        return dict(totals)

    def close(self) -> None:
        for handle in self.handles:
            handle.remove()


def account(module: nn.Module, forward, depth: int) -> dict[str, int]:
    acc = SavedTensorAccount(module, depth)
    try:
        with torch.autograd.graph.saved_tensors_hooks(acc.pack, lambda t: t):
            out = forward()
    finally:
        acc.close()
    del out
    return acc.by_module()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--family", default="tsit", choices=sorted(FAMILIES))
    parser.add_argument("--size", type=int, nargs=2, default=(256, 256), metavar=("HEIGHT", "WIDTH"))
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--depth", type=int, default=2, help="attribute to modules this many names deep (default 2)")
    parser.add_argument("--json", action="store_true", help="print one JSON line instead of a table")
    args = parser.parse_args()

    from paintscape.config import load_config
    from paintscape.labels import one_hot
    from paintscape.losses.perceptual import VGG19Features
    from paintscape.train.networks import build_discriminator, build_generator_from_config

    repo = Path(__file__).resolve().parent.parent
    family = FAMILIES[args.family]
    size = tuple(args.size)
    config = load_config(repo / family.config, family.overrides(size, args.batch, equal=True))
    torch.manual_seed(0)
    generator, _ = build_generator_from_config(config)
    discriminator = build_discriminator(config)
    generator.train()
    discriminator.train()
    gen = torch.Generator().manual_seed(0)
    label = one_hot(torch.randint(0, 29, (args.batch, *size), generator=gen))
    real = torch.rand(args.batch, 3, *size, generator=gen) * 2 - 1
    style = real if generator.uses_style else None

    parts: dict[str, dict[str, int]] = {}
    fake_holder: list[torch.Tensor] = []

    def g_forward():
        fake_holder.append(generator(label, style=style))
        return fake_holder[-1]

    parts["G"] = account(generator, g_forward, args.depth)
    fake = fake_holder.pop().detach().requires_grad_(True)  # D and VGG saves are counted on their own
    discriminator.requires_grad_(False)
    if config.loss.weights.get("adv", 0) > 0 or config.loss.weights.get("feat", 0) > 0:
        parts["D"] = account(discriminator, lambda: discriminator(label, fake), args.depth)
    if config.loss.weights.get("vgg", 0) > 0:
        vgg = VGG19Features(weights="random", input_normalization=config.loss.vgg_normalization)
        parts["VGG"] = account(vgg, lambda: vgg(fake), 1)

    totals = {part: sum(values.values()) for part, values in parts.items()}
    if args.json:
        print(
            json.dumps(
                {
                    "family": args.family,
                    "size": list(size),
                    "batch": args.batch,
                    "saved_mb": {part: round(total / 1e6, 1) for part, total in totals.items()},
                    "by_module_mb": {
                        part: {k: round(v / 1e6, 1) for k, v in values.items()} for part, values in parts.items()
                    },
                }
            )
        )
        return
    for part, values in parts.items():
        print(f"{part}: {totals[part] / 1e6:.1f} MB saved for backward")
        for name, nbytes in sorted(values.items(), key=lambda kv: -kv[1]):
            print(f"  {name:<32} {nbytes / 1e6:8.1f} MB")
    print(f"total: {sum(totals.values()) / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
