"""The reference side of docs/benchmarks.md's OASIS training step: boschresearch/OASIS's own
training iterations on the CPU, exactly train.py's loop body: the G update (losses_G), the D update
(losses_D: a new fake under no_grad, real, LabelMix), utils.update_EMA. Imports the reference from
--reference (a copy made by prepare_oasis_cpu.sh); nothing of it is in this repository.

Run in a fresh process per measurement (peak RSS is the process's):
    benchmarks/reference/prepare_oasis_cpu.sh OASIS_CHECKOUT /tmp/oasis_cpu
    python benchmarks/reference/bench_oasis_step.py --reference /tmp/oasis_cpu --size 256 256 --batch 1 --steps 3 --warmup 1
Prints one JSON line in the format of time_reference.py (per-step wall and CPU seconds, medians,
peak RSS, load average), so that benchmarks/summarize.py puts both sides in one table. Compare with
    python benchmarks/bench_train.py --family oasis --size 256 256 --batch 1 --steps 3 --warmup 1
"""

import argparse
import json
import os
import resource
import statistics
import sys
import time
import types

p = argparse.ArgumentParser()
p.add_argument("--size", type=int, nargs=2, default=(256, 256))
p.add_argument("--batch", type=int, default=1)
p.add_argument("--steps", type=int, default=5)
p.add_argument("--warmup", type=int, default=2)
p.add_argument("--semantic-nc", type=int, default=29)
p.add_argument("--vgg", action="store_true")
p.add_argument("--threads", type=int, default=0)
p.add_argument("--reference", required=True, help="the OASIS copy prepare_oasis_cpu.sh made")
args = p.parse_args()
sys.path.insert(0, os.path.abspath(args.reference))
import torch  # noqa: E402

if args.threads:
    torch.set_num_threads(args.threads)
# utils.utils imports matplotlib.pyplot for its loss plots only (not installed here): a stand-in
for name in ("matplotlib", "matplotlib.pyplot"):
    sys.modules.setdefault(name, types.ModuleType(name))
sys.modules["matplotlib"].pyplot = sys.modules["matplotlib.pyplot"]
import models.losses as losses  # noqa: E402
import models.models as models  # noqa: E402
import utils.utils as utils  # noqa: E402

H, W = args.size
opt = argparse.Namespace(
    # config.py defaults (train), ADE20K's set_dataset_default_lm (lambda_labelmix 10, EMA 0.9999)
    name="bench",
    seed=42,
    gpu_ids="-1",
    checkpoints_dir="/tmp",
    no_spectral_norm=False,
    batch_size=args.batch,
    num_res_blocks=6,
    channels_G=64,
    param_free_norm="syncbatch",
    spade_ks=3,
    no_EMA=False,
    EMA_decay=0.9999,
    no_3dnoise=False,
    z_dim=64,
    beta1=0.0,
    beta2=0.999,
    lr_g=0.0001,
    lr_d=0.0004,
    channels_D=64,
    add_vgg_loss=args.vgg,
    lambda_vgg=10.0,
    no_balancing_inloss=False,
    no_labelmix=False,
    lambda_labelmix=10.0,
    continue_train=False,
    phase="train",
    freq_print=10**9,
    freq_fid=10**9,
    freq_save_ckpt=10**9,
    freq_save_latest=10**9,
    # what the dataset sets
    crop_size=W,
    aspect_ratio=W / H,
    label_nc=args.semantic_nc,
    semantic_nc=args.semantic_nc,
    contain_dontcare_label=False,
)
utils.fix_seed(opt.seed)
model = models.OASIS_model(opt)  # train.py then calls put_on_multi_gpus, which on the CPU only sets model.module
wrapper = types.SimpleNamespace(module=model)  # (model.module = model itself would make .train() recurse forever)
losses_computer = losses.losses_computer(opt)
optimizerG = torch.optim.Adam(model.netG.parameters(), lr=opt.lr_g, betas=(opt.beta1, opt.beta2))
optimizerD = torch.optim.Adam(model.netD.parameters(), lr=opt.lr_d, betas=(opt.beta1, opt.beta2))
g = torch.Generator().manual_seed(0)
data = {
    "label": torch.randint(0, args.semantic_nc, (args.batch, 1, H, W), generator=g).float(),
    "image": torch.rand(args.batch, 3, H, W, generator=g) * 2 - 1,
}
wall, cpu = [], []
for cur_iter in range(1, args.warmup + args.steps + 1):
    start, start_cpu = time.perf_counter(), time.process_time()
    image, label = models.preprocess_input(opt, dict(data))
    model.netG.zero_grad()
    loss_G, losses_G_list = model(image, label, "losses_G", losses_computer)
    loss_G.mean().backward()
    optimizerG.step()
    model.netD.zero_grad()
    loss_D, losses_D_list = model(image, label, "losses_D", losses_computer)
    loss_D.mean().backward()
    optimizerD.step()
    utils.update_EMA(wrapper, cur_iter, None, opt)
    wall.append(time.perf_counter() - start)
    cpu.append(time.process_time() - start_cpu)
    print(f"step {cur_iter}: {wall[-1]:.2f} s wall, {cpu[-1]:.2f} s CPU", file=sys.stderr, flush=True)
timed = wall[args.warmup :]
quartiles = statistics.quantiles(timed, n=4) if len(timed) > 1 else [statistics.median(timed)] * 3
print(
    json.dumps(
        {
            "impl": "reference",
            "repository": "boschresearch/OASIS",
            "family": "oasis",
            "size": [H, W],
            "batch": args.batch,
            "device": "cpu",
            "precision": "fp32",
            "ema": True,
            "mode": "train",
            "vgg": args.vgg,
            "threads": torch.get_num_threads(),
            "wall_s": [round(t, 3) for t in wall],
            "cpu_s": [round(t, 3) for t in cpu],
            "warmup": args.warmup,
            "median_s": round(statistics.median(timed), 3),
            "spread_s": [round(min(timed), 3), round(max(timed), 3)],
            "iqr_s": round(quartiles[2] - quartiles[0], 3),
            "median_cpu_s": round(statistics.median(cpu[args.warmup :]), 3),
            "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3),
            "loadavg": [round(x, 2) for x in os.getloadavg()],
        }
    ),
    flush=True,
)
