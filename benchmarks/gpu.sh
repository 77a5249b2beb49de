#!/usr/bin/env bash
# The GPU measurements of docs/benchmarks.md in one run (at most ~5 minutes on one GPU):
#   1. SPADE training step at 384x512 (batch 8): fp32, then bf16 + channels_last + torch.compile
#   2. generation throughput: SPADE label maps per second at batch 16 (bf16)
#   3. a distilled student (width 0.25) beside its teacher: seconds per render at batch 1
# and writes their markdown rows (with the GPU's name and this commit) to OUT (default
# benchmarks/gpu_rows.md), ready to paste into docs/benchmarks.md.
#
#   benchmarks/gpu.sh [OUT]            # on a machine with CUDA
#   DRY=1 benchmarks/gpu.sh [OUT]      # tiny sizes on the CPU: checks the script end to end (a test runs it)
#
# Without CUDA it runs the dry path (and says so in OUT); the numbers are then not GPU figures.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-benchmarks/gpu_rows.md}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

if [ "${DRY:-0}" != 1 ] && python -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
  MODE=gpu; DEVICE=cuda; SIZE="384 512"; BATCH=8; STEPS=10; WARMUP=3; GEN_BATCH=16; RUNS=10; COMPILE=--compile
  NARROW=""; TEACHER=paintscape/configs/spade.yaml
else
  MODE=dry; DEVICE=cpu; SIZE="64 96"; BATCH=2; STEPS=1; WARMUP=1; GEN_BATCH=2; RUNS=1; COMPILE=
  # narrow networks: the dry path checks the script, and a CPU without native bf16 emulates it (23x slower)
  NARROW="--set model.generator.args.base_channels=8 --set model.generator.args.hidden_channels=16 --set model.discriminator.args.base_channels=8"
  TEACHER=paintscape/configs/spade_tiny.yaml
  echo "gpu.sh: dry run on the CPU at ${SIZE/ /x} (DRY=1 or no CUDA): checks the script, measures nothing for the docs" >&2
fi

step() { echo "gpu.sh: $*" >&2; }

step "training step, fp32"
python benchmarks/bench_train.py --family spade --size $SIZE --batch $BATCH --device $DEVICE \
  --precision fp32 --steps $STEPS --warmup $WARMUP $NARROW > "$WORK/train_fp32.jsonl"
step "training step, bf16 + channels_last${COMPILE:+ + compile}"
python benchmarks/bench_train.py --family spade --size $SIZE --batch $BATCH --device $DEVICE \
  --precision bf16 --channels-last $COMPILE --steps $STEPS --warmup $WARMUP $NARROW > "$WORK/train_fast.jsonl"
step "generation, batch $GEN_BATCH"
python benchmarks/bench_generate.py --family spade --size $SIZE --batch $GEN_BATCH --device $DEVICE \
  --precision bf16 --runs $RUNS --warmup 1 $NARROW > "$WORK/generate.jsonl"
step "student beside teacher"
python benchmarks/bench_distill.py --config $TEACHER --width 0.25 --size $SIZE --device $DEVICE \
  --backends torch-fp32 torch-bf16 --runs $RUNS > "$WORK/distill.txt"

python benchmarks/gpu_rows.py --mode $MODE --work "$WORK" > "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
step "wrote $OUT"
