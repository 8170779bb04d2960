"""The entry points' persistent compilation cache: where it goes and who overrides it."""

import jax
import pytest

from d3d_jax import compilation_cache


@pytest.fixture
def restore_cache_dir():
  before = jax.config.jax_compilation_cache_dir
  yield
  jax.config.update("jax_compilation_cache_dir", before)


def test_a_users_jax_compilation_cache_dir_is_kept(monkeypatch, restore_cache_dir):
  monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", "/somewhere/mine")
  jax.config.update("jax_compilation_cache_dir", "/somewhere/mine")
  assert compilation_cache.enable_persistent_cache("/demo/jax_cache") == "/somewhere/mine"
  assert jax.config.jax_compilation_cache_dir == "/somewhere/mine"


def test_the_default_is_under_xdg_cache_home(monkeypatch, tmp_path, restore_cache_dir):
  monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
  monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
  expected = str(tmp_path / "d3d_jax" / "jax_compilation_cache")
  assert compilation_cache.enable_persistent_cache() == expected
  assert jax.config.jax_compilation_cache_dir == expected


def test_a_programs_own_default_comes_before_the_users_cache(monkeypatch, restore_cache_dir):
  monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
  assert compilation_cache.enable_persistent_cache("/demo/jax_cache") == "/demo/jax_cache"


def test_it_can_be_turned_off(monkeypatch, restore_cache_dir):
  monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
  monkeypatch.setenv("D3D_JAX_COMPILATION_CACHE", "off")
  before = jax.config.jax_compilation_cache_dir
  assert compilation_cache.enable_persistent_cache() is None
  assert jax.config.jax_compilation_cache_dir == before
