"""The performance benchmark: `make bench` (or `python -m bench.run`). See bench/RESULTS.md."""
