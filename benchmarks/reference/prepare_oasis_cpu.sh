#!/bin/sh
# A CPU copy of boschresearch/OASIS (aeb875f) for bench_oasis_step.py, with the two edits it needs offline:
#  1. models/vggloss.py: vgg19(pretrained=True) downloads ImageNet weights -> vgg19(weights=None) (random
#     init, same FLOPs; used only with --vgg);
#  2. models/norms.py uses torch without "import torch" (NameError with --no_spectral_norm): add it.
# Usage: benchmarks/reference/prepare_oasis_cpu.sh OASIS_CHECKOUT OUT_DIR
#   (OASIS_CHECKOUT: git clone https://github.com/boschresearch/OASIS; git -C OASIS checkout aeb875f)
set -e
src=$1
out=$2
[ -f "$src/models/models.py" ] || { echo "$src is not an OASIS checkout (no models/models.py)" >&2; exit 2; }
rm -rf "$out"
mkdir -p "$out"
(cd "$src" && find . -name '*.py' | while read -r f; do mkdir -p "$out/$(dirname "$f")"; cp "$f" "$out/$f"; done)
sed -i 's/torchvision.models.vgg19(pretrained=True)/torchvision.models.vgg19(weights=None)/' "$out/models/vggloss.py"
sed -i '1i import torch' "$out/models/norms.py"
grep -q 'vgg19(weights=None)' "$out/models/vggloss.py" && head -1 "$out/models/norms.py" | grep -q 'import torch'
echo "$out ready"
