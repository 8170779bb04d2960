"""Generative feature distillation (Wang, Zhao, Shi, Zhao, Yang, AAAI 2024): Eq. 5, 11-15.

The network carries the attention module of Eq. 8-10 (``model.options.head=
'feature_attention'``, `d3d_jax.models.feature_attention`); the CVAE of Eq. 3, 5-7, 13
(`d3d_jax.objectives.feature_cvae`) is an extra module, ``params['extra']['cvae']``,
with its own optimizer group (``config.optimizer.groups.cvae``, pattern
``^extra/cvae/``). Training alternates two phases (Fig. 2), `cvae_stage_steps` then
`network_stage_steps` steps, repeating (the authors' code: one epoch each):

* phase 'generative' (Stage 1, "Generative Distillation", Eq. 14): the network is frozen
  (group 'default'); only the CVAE trains, on
      L_GD = L_CVAE + beta L_KD-gen,   L_CVAE = mean (F - F^)^2 + alpha KL(q || N(A, I))
  (Eq. 5), L_KD-gen = mean (F^_S - F^_T)^2 (Eq. 4), where the teacher's CVAE reads the
  STUDENT's features and attention (Eq. 4: "we set the same input ... in the CVAE
  module of teacher and student"), each CVAE drawing its own noise.
* phase 'attention' (Stage 2, "Attention Distillation", Eq. 15): the CVAE is frozen
  (group 'cvae'); the network and its attention module train on
      L_AD = L_recon + L_clf + gamma L_KD-att,
  L_recon = mean (F - G(A))^2 with G(A) the frozen CVAE's inference from z ~ N(A, I)
  (Eq. 13, L = 1), L_clf the cross-entropy (Eq. 12), L_KD-att = mean (A_T - A_S)^2
  (Eq. 11) against the frozen teacher's attention.

alpha = 0.1, beta = 0.01, gamma = 0.1 (the paper's names; the authors' code calls gamma
``beta`` and hard-codes the paper's beta). Squared norms are element means, the scale of
the code (``nn.MSELoss``, ``loss_cvae``) for which these weights were chosen.

'gkd_representation' is stage 0, "Feature Representation" (Sec. Feature
Representation, Eq. 2; the authors released no code for it): the same two phases with
no teacher, L_GD = L_CVAE and L_AD = L_recon + L_clf. It trains the teacher (I3D with
the attention module, then its CVAE) and exports the CVAE beside the network
(`exported_extra_modules`), which a 'gkd' run loads with its teacher
(`teacher_extra_modules`). On a student it is Table 3's "baseline + L_recon" row.

Details of the authors' code that the paper does not state are options whose default is
the paper's reading (each names the code's behaviour):

* recon_weight / recon_warmup_cycles: the code weighs L_recon by 0.5 min(epoch, 20)/20
  (epoch from 1: 0.025 ... 0.5); the paper by 1. Code: recon_weight=0.5,
  recon_warmup_cycles=20 (a cycle = one generative + one attention phase).
* recon_target_gradient: the code does not detach F in L_recon, so the backbone is also
  pulled toward the reconstruction; default False: F is a fixed target and L_recon
  trains the attention through the frozen decoder (Eq. 13 regresses the decoder's
  output onto the feature).
* classification: 'ce' (Eq. 12, cross-entropy of the time-averaged logits) or
  'summed_softmax' (the code: CE applied to sum_t softmax(z_t) as if it were logits).
* attention_distance: 'mse' (Eq. 11, the code) or 'kl' (per-gate Bernoulli KL(A_T||A_S),
  averaged over gates).
* cvae_stage_updates_batch_stats: the code keeps the frozen network in train mode in
  the CVAE stage, so its BatchNorm statistics move; default False (frozen means frozen).
"""

import jax
import jax.numpy as jnp

from d3d_jax.models.feature_attention import ATTENTION_ENDPOINT
from d3d_jax.objectives.base import LossTerm, ModelOutputs, Objective, Phase
from d3d_jax.objectives.classification import classification_config, cross_entropy
from d3d_jax.objectives.feature_cvae import (FeatureCVAE, endpoints_of, prior_kl,
                                             reconstruction_error)

CLASSIFICATIONS = ("ce", "summed_softmax")
ATTENTION_DISTANCES = ("mse", "kl")
CVAE = "cvae"
# Loss terms of each phase.
GENERATIVE_TERMS = ("cvae_reconstruction", "cvae_kl")
ATTENTION_TERMS = ("ce", "recon")


def summed_softmax_cross_entropy(logits_per_time, labels):
  """The authors' classification loss: CE(log_softmax(sum_t softmax(z_t)), y)."""
  summed = jnp.sum(jax.nn.softmax(logits_per_time.astype(jnp.float32), axis=-1), axis=1)
  return cross_entropy(summed, labels)


def attention_distance(student, teacher, distance: str = "mse"):
  """Eq. 11: mean (A_T - A_S)^2 ('mse'), or the mean Bernoulli KL(A_T || A_S) ('kl')."""
  if student.shape != teacher.shape:
    raise ValueError(f"student attention {student.shape} and teacher attention "
                     f"{teacher.shape} differ: both gate their final endpoint, [B, T, C]")
  student = student.astype(jnp.float32)
  teacher = jax.lax.stop_gradient(teacher.astype(jnp.float32))
  if distance == "mse":
    return jnp.mean(jnp.square(teacher - student))
  if distance == "kl":
    eps = 1e-6
    s, t = jnp.clip(student, eps, 1 - eps), jnp.clip(teacher, eps, 1 - eps)
    return jnp.mean(t * (jnp.log(t) - jnp.log(s)) + (1 - t) * (jnp.log1p(-t) - jnp.log1p(-s)))
  raise ValueError(f"objective.attention_distance must be one of {ATTENTION_DISTANCES}, "
                   f"got {distance!r}")


def recon_warmup(step, cycle_steps: int, warmup_cycles: int):
  """The code's min(epoch, N) / N with epoch = the 1-based alternation cycle of `step`
  (1 when N = 0)."""
  if not warmup_cycles or step is None:
    return 1.0
  cycle = step // cycle_steps + 1
  return jnp.minimum(cycle, warmup_cycles) / warmup_cycles


class GenerativeRepresentation(Objective):
  """``gkd_representation``: stage 0, the alternating phases without a teacher."""

  exported_extra_modules = (CVAE,)
  needs_step = True  # the recon warm-up

  @classmethod
  def default_config(cls):
    c = classification_config()
    # The features the attention gates and the CVAE reconstructs, and the gate A.
    c.feature_endpoint = "Mixed_5c"
    c.attention_endpoint = ATTENTION_ENDPOINT
    # alpha of Eq. 5 (0.1, paper and code).
    c.alpha = 0.1
    # Steps of each phase; they alternate, generative first (the code: an epoch each).
    c.cvae_stage_steps = 100
    c.network_stage_steps = 100
    # The CVAE's hidden width (1024 in the code) and GroupNorm groups (32).
    c.cvae_hidden = 1024
    c.cvae_groups = 32
    # Weight of L_recon in Eq. 15 (paper: 1; code: 0.5) and its warm-up over this many
    # alternation cycles (paper: 0; code: 20, weight x min(cycle, 20) / 20).
    c.recon_weight = 1.0
    c.recon_warmup_cycles = 0
    # Let L_recon's gradient reach the backbone through its target F (code: True).
    c.recon_target_gradient = False
    # 'ce' (Eq. 12) or 'summed_softmax' (the code's CE on sum_t softmax(z_t)).
    c.classification = "ce"
    # Let the frozen network's BatchNorm statistics update in the CVAE phase (code: True).
    c.cvae_stage_updates_batch_stats = False
    return c

  def extra_modules(self):
    c = self.config
    return {CVAE: FeatureCVAE(c.feature_endpoint, c.attention_endpoint, c.cvae_hidden,
                              c.cvae_groups)}

  def _terms(self):
    return GENERATIVE_TERMS, ATTENTION_TERMS

  def phases(self):
    c = self.config
    generative, attention = self._terms()
    return (Phase("generative", c.cvae_stage_steps, frozen=("default",), terms=generative,
                  frozen_norms_update=c.cvae_stage_updates_batch_stats),
            Phase("attention", c.network_stage_steps, frozen=(CVAE,), terms=attention))

  def loss_terms(self, student: ModelOutputs, teacher, batch, extra=None, step=None):
    return self._stage_terms(student, batch, extra, step)[0]

  def _stage_terms(self, student, batch, extra, step):
    """(terms, features, attention, the student CVAE's training pass)."""
    c = self.config
    if c.classification not in CLASSIFICATIONS:
      raise ValueError(f"objective.classification must be one of {CLASSIFICATIONS}, "
                       f"got {c.classification!r}")
    features, attention = endpoints_of(student, c.feature_endpoint, c.attention_endpoint)
    # Phase 'generative': the network is frozen (the trainer stops its gradient).
    cvae = extra(CVAE, features, attention, method="reconstruct")
    terms = {
        "cvae_reconstruction": LossTerm(reconstruction_error(features, cvae["reconstruction"])),
        "cvae_kl": LossTerm(prior_kl(cvae["mean"], cvae["log_var"], attention), c.alpha),
    }
    # Phase 'attention': the CVAE is frozen.
    generated = extra(CVAE, attention, features.shape[2:4], method="generate")
    target = features if c.recon_target_gradient else jax.lax.stop_gradient(features)
    recon = reconstruction_error(target, generated) * recon_warmup(
        step, c.cvae_stage_steps + c.network_stage_steps, c.recon_warmup_cycles)
    if c.classification == "ce":
      ce = cross_entropy(student.logits, batch["label"], c.label_smoothing)
    else:
      ce = summed_softmax_cross_entropy(student.endpoints["Logits_per_time"], batch["label"])
    terms["ce"] = LossTerm(ce, c.ce_weight)
    terms["recon"] = LossTerm(recon, c.recon_weight)
    return terms, features, attention, cvae


class GenerativeDistillation(GenerativeRepresentation):
  """``gkd``: stages 1 / 2 (Eq. 14-15), distilling a stage-0 teacher into the student."""

  needs_teacher = True
  exported_extra_modules = ()
  teacher_extra_modules = (CVAE,)

  @classmethod
  def default_config(cls):
    c = super().default_config()
    # beta of Eq. 14 (0.01; hard-coded in the code) and gamma of Eq. 15 (0.1; the code's
    # config key 'beta').
    c.beta = 0.01
    c.gamma = 0.1
    # Eq. 11: 'mse' (paper and code) or 'kl' (per-gate Bernoulli KL).
    c.attention_distance = "mse"
    return c

  def _terms(self):
    return GENERATIVE_TERMS + ("kd_gen",), ATTENTION_TERMS + ("kd_att",)

  def loss_terms(self, student: ModelOutputs, teacher: ModelOutputs, batch, extra=None,
                 step=None):
    c = self.config
    terms, features, attention, cvae = self._stage_terms(student, batch, extra, step)
    theirs = extra(CVAE, features, attention, method="reconstruct", teacher=True)
    terms["kd_gen"] = LossTerm(reconstruction_error(
        cvae["reconstruction"], jax.lax.stop_gradient(theirs["reconstruction"])), c.beta)
    if c.attention_endpoint not in teacher.endpoints:
      raise ValueError(f"the teacher has no {c.attention_endpoint!r} endpoint: it must be "
                       f"built with head='feature_attention' (teacher.model.options.head)")
    terms["kd_att"] = LossTerm(
        attention_distance(attention, teacher.endpoints[c.attention_endpoint],
                           c.attention_distance), c.gamma)
    return terms
