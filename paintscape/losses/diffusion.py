"""The training loss of the ``controlnet`` family (latent diffusion on label maps).

``diffusion_terms(generator, photos, label)`` returns named terms for the objective to weight:

* ``G/diffusion`` — mean squared error between the UNet's prediction and its target at a random
  training timestep: the noise (``prediction_type`` epsilon, Stable Diffusion 1.5), the velocity
  ``sqrt(abar) noise - sqrt(1 - abar) x0`` (v_prediction, Stable Diffusion 2.1-768) or the clean
  latent (sample), as the generator's noise schedule says. The photo becomes a latent through the
  VAE (a posterior sample, times the VAE's scaling factor: :meth:`ControlNetGenerator.scale_latents`),
  detached: the diffusion loss never shapes the VAE, which would shrink its latents to make noise
  prediction trivial. With probability ``label_dropout`` an image's label map is replaced by the
  all-zero map, the unconditional input of classifier-free guidance.
* ``G/vae_rec`` and ``G/vae_kl`` — only when the generator trains its own base (``train_base``): the
  VAE's L1 reconstruction of the photo and the KL divergence of its posterior from N(0, I), as a
  mean per latent element, which keeps its latents near unit scale (such a VAE's scaling factor is 1).

Random numbers (timesteps, noise, dropout, the posterior sample) come from the global RNG, which the
trainer seeds and checkpoints.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor

from paintscape.losses.kl import kl_divergence
from paintscape.losses.reconstruction import l1_loss

if TYPE_CHECKING:
    from paintscape.models.diffusion.controlnet import ControlNetGenerator

DIFFUSION_TERMS = ("diffusion", "vae_rec", "vae_kl")


def prediction_target(schedule: Any, latents: Tensor, noise: Tensor, timesteps: Tensor) -> Tensor:
    """What the UNet learns to predict from ``schedule.add_noise(latents, noise, timesteps)``, as the
    schedule's ``prediction_type`` says: the noise, the velocity or the clean latents."""
    prediction_type = schedule.config.prediction_type
    if prediction_type == "epsilon":
        return noise
    if prediction_type == "v_prediction":
        return schedule.get_velocity(latents, noise, timesteps)
    if prediction_type == "sample":
        return latents
    raise ValueError(f"unsupported prediction_type {prediction_type!r} (epsilon, v_prediction or sample)")


def diffusion_terms(
    generator: ControlNetGenerator, photos: Tensor, label: Tensor, *, label_dropout: float = 0.1
) -> dict[str, Tensor]:
    """``photos (B, 3, H, W)`` in [-1, 1], one-hot ``label (B, K, H, W)`` -> ``{"G/diffusion": ...}``
    (plus ``G/vae_rec``, ``G/vae_kl`` when the base is trained)."""
    if not 0.0 <= label_dropout <= 1.0:
        raise ValueError(f"label_dropout must lie in [0, 1], got {label_dropout}")
    B = photos.shape[0]
    terms: dict[str, Tensor] = {}
    with torch.set_grad_enabled(torch.is_grad_enabled() and generator.train_base):
        posterior = generator.encode_posterior(photos)
        raw = posterior.sample()
    if generator.train_base:
        reconstruction = generator.vae.decode(raw, return_dict=False)[0].float()
        terms["G/vae_rec"] = l1_loss(reconstruction, photos)
        terms["G/vae_kl"] = kl_divergence(posterior.mean.float(), posterior.logvar.float()) / posterior.mean.numel()

    schedule = generator.noise_schedule
    latents = generator.scale_latents(raw.detach())
    noise = torch.randn_like(latents)
    timesteps = torch.randint(0, schedule.config.num_train_timesteps, (B,), device=latents.device)
    noisy = schedule.add_noise(latents, noise, timesteps)
    target = prediction_target(schedule, latents, noise, timesteps)
    keep = (torch.rand(B, device=label.device) >= label_dropout).to(label.dtype)[:, None, None, None]
    prediction = generator.predict(noisy, timesteps, label * keep)
    terms["G/diffusion"] = F.mse_loss(prediction, target.float())
    return terms
