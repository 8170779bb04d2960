"""The throughput benchmark runs on small records (no timing assertions)."""

from data_pipelines import benchmark
from data_pipelines import input_config


def test_benchmark_reports_rates(synthetic_dir):
  c = input_config.get_input_config()
  c.data_dir = synthetic_dir
  c.update(dict(num_frames=4, min_resize=32, crop_size=24, batch_size=2,
                eval_batch_size=4, num_test_clips=2, num_test_crops=3))
  results = benchmark.run(c, num_batches=3, warmup=1)
  assert set(results) == {'train_clips_per_s', 'train_frames_per_s',
                          'eval_views_per_s'}
  assert all(v > 0 for v in results.values())
