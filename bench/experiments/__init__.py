"""One-off experiments (issue 12's pilots), kept to reproduce docs/benchmarks.md's numbers; see README.md."""
