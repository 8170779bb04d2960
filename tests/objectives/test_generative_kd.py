"""GKD's CVAE and losses (Wang et al. 2024, Eq. 3, 5-7, 11-15) against hand computations."""

import math

from flax import traverse_util
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs.wang2024_ucf101 import get_config
from d3d_jax import optimizers
from d3d_jax.models import build_from_config
from d3d_jax.objectives import ModelOutputs, build_objective, objective_config
from d3d_jax.objectives.feature_cvae import FeatureCVAE, prior_kl, reconstruction_error
from d3d_jax.objectives.generative_kd import (attention_distance, recon_warmup,
                                              summed_softmax_cross_entropy)


def test_full_size_cvae_has_a_1024_latent_per_time_step_and_reconstructs_mixed_5c():
  features = jax.ShapeDtypeStruct((2, 8, 7, 7, 1024), jnp.float32)
  attention = jax.ShapeDtypeStruct((2, 8, 1024), jnp.float32)
  outputs = ModelOutputs(jax.ShapeDtypeStruct((2, 101), jnp.float32),
                         {"Mixed_5c": features, "Attention/channel_time": attention})
  cvae = FeatureCVAE()
  variables = jax.eval_shape(lambda o: cvae.init(jax.random.PRNGKey(0), o), outputs)
  out = jax.eval_shape(lambda v, o: cvae.apply(v, o, rngs={"dropout": jax.random.PRNGKey(1)}),
                       variables, outputs)
  assert out["mean"].shape == out["log_var"].shape == (2, 8, 1024)
  assert out["reconstruction"].shape == (2, 8, 7, 7, 1024)
  generated = jax.eval_shape(
      lambda v, a: cvae.apply(v, a, (7, 7), method="generate",
                              rngs={"dropout": jax.random.PRNGKey(1)}), variables, attention)
  assert generated.shape == (2, 8, 7, 7, 1024)
  p = variables["params"]
  assert p["encoder"]["Conv3d_0a"]["kernel"].shape == (1, 7, 7, 1024, 1024)
  assert p["encoder"]["Dense_1"]["kernel"].shape == (2048, 1024)   # [features, A]
  assert p["encoder"]["Dense_3"]["kernel"].shape == (1024, 2048)   # mean, log_var
  assert p["decoder"]["Dense_1"]["kernel"].shape == (2048, 1024)   # [z, A]
  assert p["decoder"]["ConvTranspose3d"]["kernel"].shape == (1, 7, 7, 1024, 1024)
  assert p["decoder"]["GroupNorm_4"]["scale"].shape == (1024,)


def test_kl_to_the_attention_centred_prior_by_hand():
  # KL(N(m, s^2) || N(a, 1)) = (s^2 + (m - a)^2 - 1 - log s^2) / 2 per element, then mean.
  mean = jnp.array([[1.0, 0.0]])
  log_var = jnp.array([[0.0, math.log(2.0)]])
  attention = jnp.array([[0.5, 0.0]])
  expected = (0.5 * (1 + 0.25 - 1 - 0) + 0.5 * (2 + 0 - 1 - math.log(2.0))) / 2
  np.testing.assert_allclose(prior_kl(mean, log_var, attention), expected, rtol=1e-6)
  # Centred on the attention: the posterior N(A, I) costs nothing, N(0, I) does.
  np.testing.assert_allclose(prior_kl(attention, jnp.zeros_like(attention), attention), 0.0)
  assert prior_kl(jnp.zeros_like(attention), jnp.zeros_like(attention), attention) > 0


def test_reconstruction_error_is_the_element_mean_square():
  np.testing.assert_allclose(reconstruction_error(jnp.array([1.0, 2.0, 3.0, 4.0]),
                                                  jnp.array([1.0, 0.0, 3.0, 5.0])), 5.0 / 4)


def test_cvae_inference_decodes_a_sample_of_the_prior_centred_on_the_attention():
  cvae = FeatureCVAE(hidden=8, groups=2)
  features, attention = jnp.ones((1, 2, 3, 3, 4)), jnp.full((1, 2, 4), 0.5)
  variables = cvae.init(jax.random.PRNGKey(0), ModelOutputs(
      jnp.zeros((1, 3)), {"Mixed_5c": features, "Attention/channel_time": attention}))
  attention = jnp.full((16, 64, 4), 0.5)  # 4096 latent values
  generated, state = cvae.apply(variables, attention, (3, 3), method="generate",
                                rngs={"dropout": jax.random.PRNGKey(3)},
                                mutable=["intermediates"])
  (z,) = state["intermediates"]["z"]
  noise = np.asarray(z - attention)
  assert abs(noise.mean()) < 0.05 and abs(noise.std() - 1.0) < 0.05   # z ~ N(A, I)
  decoded = cvae.apply(variables, z, attention, (3, 3),
                       method=lambda module, *args: module.decoder(*args))
  np.testing.assert_allclose(generated, decoded, rtol=1e-6)
  assert generated.shape == (16, 64, 3, 3, 4) and (np.asarray(generated) >= 0).all()


def test_attention_distance_mse_and_bernoulli_kl_by_hand():
  student, teacher = jnp.array([[0.5, 0.25]]), jnp.array([[0.75, 0.25]])
  np.testing.assert_allclose(attention_distance(student, teacher, "mse"), 0.0625 / 2)
  kl = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)
  np.testing.assert_allclose(attention_distance(student, teacher, "kl"), kl / 2, rtol=1e-5)
  with pytest.raises(ValueError, match="attention_distance"):
    attention_distance(student, teacher, "l1")


def test_summed_softmax_cross_entropy_is_the_codes_ce_on_summed_probabilities():
  logits = jnp.log(jnp.array([[[0.5, 0.5], [0.9, 0.1]]]))  # [B=1, T=2, K=2]
  summed = np.array([1.4, 0.6])
  expected = -(summed[0] - np.log(np.exp(summed).sum()))
  np.testing.assert_allclose(summed_softmax_cross_entropy(logits, jnp.array([0])), expected,
                             rtol=1e-6)


def test_recon_warmup_is_min_cycle_over_n_with_cycles_from_one():
  assert recon_warmup(5, cycle_steps=10, warmup_cycles=0) == 1.0
  np.testing.assert_allclose([recon_warmup(s, 10, 20) for s in (0, 9, 10, 195, 1000)],
                             [1 / 20, 1 / 20, 2 / 20, 1.0, 1.0], rtol=1e-6)


def test_gkd_phases_alternate_the_cvae_and_the_network_with_their_terms():
  c = objective_config("gkd")
  c.cvae_stage_steps, c.network_stage_steps = 3, 5
  generative, attention = build_objective(c).phases()
  assert (generative.name, generative.steps, generative.frozen) == ("generative", 3, ("default",))
  assert set(generative.terms) == {"cvae_reconstruction", "cvae_kl", "kd_gen"}
  assert (attention.name, attention.steps, attention.frozen) == ("attention", 5, ("cvae",))
  assert set(attention.terms) == {"ce", "recon", "kd_att"}
  assert not generative.frozen_norms_update
  assert (c.alpha, c.beta, c.gamma, c.recon_weight) == (0.1, 0.01, 0.1, 1.0)
  stage0 = build_objective(objective_config("gkd_representation"))
  assert [set(p.terms) for p in stage0.phases()] == [
      {"cvae_reconstruction", "cvae_kl"}, {"ce", "recon"}]
  assert stage0.exported_extra_modules == ("cvae",) and not stage0.needs_teacher


def _gkd_terms(**options):
  """The gkd objective's terms (its config plus `options`) on random features, attention
  A_S, and the teacher attention A_T = 1 - A_S; also returns A_S."""
  c = objective_config("gkd")
  c.update(options)
  objective = build_objective(c)
  features = jax.nn.relu(jax.random.normal(jax.random.PRNGKey(0), (2, 2, 3, 3, 4)))
  attention = jax.nn.sigmoid(jax.random.normal(jax.random.PRNGKey(1), (2, 2, 4)))
  student = ModelOutputs(jnp.zeros((2, 3)), {"Mixed_5c": features,
                                             "Attention/channel_time": attention,
                                             "Logits_per_time": jnp.zeros((2, 2, 3))})
  teacher = ModelOutputs(jnp.zeros((2, 3)), {"Attention/channel_time": 1 - attention})
  cvae = FeatureCVAE(hidden=8, groups=2)
  variables = cvae.init(jax.random.PRNGKey(2), student)

  def extra(name, *args, teacher=False, **kwargs):
    assert name == "cvae"
    return cvae.apply(variables, *args, rngs={"dropout": jax.random.PRNGKey(5 + teacher)},
                      **kwargs)
  terms = objective.loss_terms(student, teacher, {"label": jnp.array([0, 1])}, extra,
                               step=jnp.array(0))
  return terms, attention


def test_gkd_loss_weights_are_the_papers_alpha_beta_gamma():
  terms, attention = _gkd_terms()
  weights = {name: term.weight for name, term in terms.items()}
  assert weights == {"cvae_reconstruction": 1.0, "cvae_kl": 0.1, "kd_gen": 0.01, "ce": 1.0,
                     "recon": 1.0, "kd_att": 0.1}
  np.testing.assert_allclose(terms["ce"].value, math.log(3.0), rtol=1e-6)
  np.testing.assert_allclose(terms["kd_att"].value, jnp.mean((1 - 2 * attention) ** 2),
                             rtol=1e-6)


def test_gkd_kd_att_option_kl_is_the_mean_bernoulli_kl_of_teacher_to_student_gates():
  terms, attention = _gkd_terms(attention_distance="kl")
  a_s, a_t = np.asarray(attention, np.float64), 1 - np.asarray(attention, np.float64)
  kl = a_t * np.log(a_t / a_s) + (1 - a_t) * np.log((1 - a_t) / (1 - a_s))
  np.testing.assert_allclose(terms["kd_att"].value, kl.mean(), rtol=1e-5)
  assert terms["kd_att"].weight == 0.1


def test_the_wang2024_gkd_config_puts_its_full_size_cvae_in_its_own_adam_group():
  config = get_config("top_i3d_gkd")
  model = build_from_config(config.model, 101, "float32")
  clip = jnp.zeros((1, 64, 224, 224, 3))
  variables = jax.eval_shape(lambda: nn.unbox(model.init(jax.random.PRNGKey(0), clip)))
  logits, endpoints = jax.eval_shape(model.apply, variables, clip)
  cvae = build_objective(config.objective).extra_modules()["cvae"]
  cvae_params = jax.eval_shape(lambda o: cvae.init(jax.random.PRNGKey(0), o),
                               ModelOutputs(logits, endpoints))["params"]
  labels = optimizers.parameter_labels(
      {"student": variables["params"], "extra": {"cvae": cvae_params}},
      config.optimizer.groups)
  flat = traverse_util.flatten_dict(labels)
  assert {v for k, v in flat.items() if k[0] == "extra"} == {"cvae"}
  assert {v for k, v in flat.items() if k[0] == "student"} == {"default"}
  cvae_group = config.optimizer.groups.cvae
  assert (cvae_group.optimizer.name, cvae_group.optimizer.b1, cvae_group.optimizer.b2,
          cvae_group.schedule.base_lr) == ("adam", 0.8, 0.999, 1e-4)
  assert (config.optimizer.name, config.schedule.name, config.schedule.base_lr,
          config.optimizer.weight_decay) == ("sgd", "constant", 1e-3, 5e-4)
