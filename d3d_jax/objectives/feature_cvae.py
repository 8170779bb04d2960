"""The CVAE of generative feature distillation (Wang et al., AAAI 2024, Eq. 3, 5-7, 13).

A conditional VAE that reconstructs a clip's features F ([B, T, H, W, C], ``Mixed_5c``)
from the attention A ([B, T, C], `d3d_jax.models.feature_attention`), one latent of C
(1024) values per time step. It is used only in training (an extra module of the GKD
objectives, parameters in ``params['extra']['cvae']``); the teacher's CVAE, trained in
stage 0 ('gkd_representation'), travels in the teacher's export.

Layers, as the authors' code (``CEncoder`` / ``CDecoder``; C = 1024, T = 8, 7 x 7):

  encoder (Eq. 6):  F -> Conv3d [1,7,7] VALID C->C -> GroupNorm(32) -> ReLU   [B,T,C]
                    concat A -> Dense(hidden) ReLU -> Dense(hidden) ReLU -> Dense(2C)
                    -> mean, log_var                                        [B,T,C] each
  reparameterisation:  z = mean + eps * exp(log_var / 2), eps ~ N(0, I)
  decoder (Eq. 7):  concat(z, A) -> Dense(hidden) ReLU -> Dense(hidden) ReLU -> Dense(C)
                    -> ConvTranspose3d [1,7,7] C->C -> GroupNorm(32) -> ReLU  F^ [B,T,H,W,C]

with hidden = 1024. The prior p(z | A) is N(A, I) (Eq. 3): the latent is the size of
the attention so that the prior can be centred on it. Inference (Eq. 13, L = 1 sample,
used for L_recon in the student stage) draws z ~ N(A, I) and decodes it.

L_CVAE (Eq. 5, `cvae_loss`) = mean (F - F^)^2 + alpha KL(q(z | F, A) || N(A, I)), with
alpha = 0.1 and both terms averaged over elements, as the code's ``loss_cvae``:
  KL = -1/2 mean(1 + log_var - (mean - A)^2 - exp(log_var)).

The noise comes from the 'dropout' RNG stream, the one the trainer gives extra modules.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp


def _check_groups(channels: int, groups: int) -> None:
  if channels % groups:
    raise ValueError(f"objective.cvae_groups={groups} must divide the features' channels "
                     f"({channels})")


class _Encoder(nn.Module):
  hidden: int
  groups: int

  @nn.compact
  def __call__(self, features, attention):
    b, t, h, w, c = features.shape
    _check_groups(c, self.groups)
    x = nn.Conv(c, (1, h, w), padding="VALID", name="Conv3d_0a")(features.astype(jnp.float32))
    x = nn.relu(nn.GroupNorm(self.groups, name="GroupNorm_0a")(x.reshape(b, t, c)))
    x = jnp.concatenate([x, attention.astype(jnp.float32)], axis=-1)
    x = nn.relu(nn.Dense(self.hidden, name="Dense_1")(x))
    x = nn.relu(nn.Dense(self.hidden, name="Dense_2")(x))
    x = nn.Dense(2 * c, name="Dense_3")(x)
    return x[..., :c], x[..., c:]


class _Decoder(nn.Module):
  hidden: int
  groups: int

  @nn.compact
  def __call__(self, z, attention, spatial: tuple[int, int]):
    b, t, c = z.shape
    _check_groups(c, self.groups)
    x = jnp.concatenate([z, attention.astype(jnp.float32)], axis=-1)
    x = nn.relu(nn.Dense(self.hidden, name="Dense_1")(x))
    x = nn.relu(nn.Dense(self.hidden, name="Dense_2")(x))
    x = nn.Dense(c, name="Dense_3")(x).reshape(b, t, 1, 1, c)
    x = nn.ConvTranspose(c, (1,) + tuple(spatial), padding="VALID", name="ConvTranspose3d")(x)
    return nn.relu(nn.GroupNorm(self.groups, name="GroupNorm_4")(x))


class FeatureCVAE(nn.Module):
  """The CVAE on one network's (features, attention) endpoints.

  ``__call__(outputs)`` runs the training pass on the `ModelOutputs` endpoints named
  `feature_endpoint` / `attention_endpoint`; `reconstruct` and `generate` take the
  arrays directly (the teacher's CVAE reads the student's).
  """

  feature_endpoint: str = "Mixed_5c"
  attention_endpoint: str = "Attention/channel_time"
  hidden: int = 1024
  groups: int = 32

  def setup(self):
    self.encoder = _Encoder(self.hidden, self.groups)
    self.decoder = _Decoder(self.hidden, self.groups)

  def __call__(self, outputs):
    return self.reconstruct(*endpoints_of(outputs, self.feature_endpoint,
                                          self.attention_endpoint))

  def reconstruct(self, features, attention):
    """The training pass (Eq. 6-7): {'reconstruction', 'mean', 'log_var'}."""
    check_shapes(features, attention)
    mean, log_var = self.encoder(features, attention)
    eps = jax.random.normal(self.make_rng("dropout"), mean.shape, mean.dtype)
    z = mean + eps * jnp.exp(0.5 * log_var)
    return {"reconstruction": self.decoder(z, attention, features.shape[2:4]),
            "mean": mean, "log_var": log_var}

  def generate(self, attention, spatial: tuple[int, int]):
    """Inference (Eq. 3, 13): decode z ~ N(A, I) on an H x W = `spatial` grid."""
    attention = attention.astype(jnp.float32)
    noise_key = jax.random.fold_in(self.make_rng("dropout"), 1)  # not reconstruct's eps
    z = attention + jax.random.normal(noise_key, attention.shape)
    self.sow("intermediates", "z", z)
    return self.decoder(z, attention, tuple(spatial))


def endpoints_of(outputs, feature_endpoint: str, attention_endpoint: str):
  """(features, attention) of a `ModelOutputs`, or an error naming what is missing."""
  for name in (feature_endpoint, attention_endpoint):
    if name not in outputs.endpoints:
      raise ValueError(
          f"the CVAE reads endpoint {name!r}, which the network lacks (build it with "
          f"model.options.head='feature_attention'; endpoints: {sorted(outputs.endpoints)})")
  return outputs.endpoints[feature_endpoint], outputs.endpoints[attention_endpoint]


def check_shapes(features, attention) -> None:
  b, t, _, _, c = features.shape
  if attention.shape != (b, t, c):
    raise ValueError(f"the attention must be [B, T, C] = {(b, t, c)} of features "
                     f"{features.shape}, got {attention.shape}: the attention must gate "
                     f"the features the CVAE reconstructs (objective.feature_endpoint)")


def prior_kl(mean, log_var, prior_mean):
  """KL(N(mean, exp(log_var)) || N(prior_mean, I)), averaged over elements (Eq. 5)."""
  mean, log_var = mean.astype(jnp.float32), log_var.astype(jnp.float32)
  return -0.5 * jnp.mean(1.0 + log_var - jnp.square(mean - prior_mean.astype(jnp.float32))
                         - jnp.exp(log_var))


def reconstruction_error(features, reconstruction):
  """mean (F - F^)^2 over every element: Eq. 13 with L = 1 (and the recon term of Eq. 5)."""
  return jnp.mean(jnp.square(features.astype(jnp.float32)
                             - reconstruction.astype(jnp.float32)))
