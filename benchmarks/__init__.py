"""Benchmarks (issue 7): run `benchmarks/run_benchmark.sh` or `python -m benchmarks.bench_training`."""
