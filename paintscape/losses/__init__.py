"""Loss terms as pure functions over tensors and discriminator outputs (the objective combines them)."""

from paintscape.losses.adversarial import (
    GAN_MODES,
    adversarial_loss,
    discriminator_adversarial_loss,
    generator_adversarial_loss,
)
from paintscape.losses.diffusion import diffusion_terms
from paintscape.losses.feature_matching import feature_matching_loss
from paintscape.losses.kl import kl_divergence
from paintscape.losses.labelmix import labelmix_loss, labelmix_mask, mix_images
from paintscape.losses.perceptual import VGG19Features, default_vgg19_path, feature_distance, perceptual_loss
from paintscape.losses.reconstruction import l1_loss
from paintscape.losses.segmentation_adversarial import class_balance_weights, segmentation_adversarial_loss

__all__ = [
    "GAN_MODES",
    "VGG19Features",
    "adversarial_loss",
    "class_balance_weights",
    "default_vgg19_path",
    "diffusion_terms",
    "discriminator_adversarial_loss",
    "feature_distance",
    "feature_matching_loss",
    "generator_adversarial_loss",
    "kl_divergence",
    "l1_loss",
    "labelmix_loss",
    "labelmix_mask",
    "mix_images",
    "perceptual_loss",
    "segmentation_adversarial_loss",
]
