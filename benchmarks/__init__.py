"""segcompare's performance suite: `python -m benchmarks` (or `segcompare benchmark`) -> benchmarks/results.md.

One script per area (bench_inference, bench_app, bench_metrics, bench_train, bench_data), each runnable on
its own; `__main__` runs them all and judges the goals of issue 9 on ratios measured in one run.
"""
