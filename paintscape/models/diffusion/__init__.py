"""The diffusion backend: a ControlNet on label maps over a latent-diffusion base (the optional extra
``paintscape[diffusion]``).

* :mod:`~paintscape.models.diffusion.controlnet` — the ``controlnet`` generator family (registered;
  importing it does not import diffusers, building it does);
* :mod:`~paintscape.models.diffusion.components` — diffusers parts: a small base built from scratch,
  a local diffusers-format base folder, the ControlNet, the noise schedule and the samplers;
* :mod:`~paintscape.models.diffusion.priors` — SCP-Diff's spatial, categorical and joint noise priors
  (pure torch);
* :mod:`~paintscape.models.diffusion.extra` — the one-line message when diffusers is not installed.

The training loss is :func:`paintscape.losses.diffusion.diffusion_terms`.
"""
