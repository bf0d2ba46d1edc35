"""Lab 1 (pruning): dense model, fine-grained and channel pruning, measured by running the
reference notebook. Targets are the issue's (full profile, 2-core CPU).

    python benchmarks/lab1_pruning.py --profile full --json benchmarks/results/lab1_pruning.json
"""

from common import Goal, benchmark_lab

GOALS = {
    "dense.accuracy": Goal(">=", 93.0, "%"),
    "fine_grained.size_ratio": Goal("<=", 0.25),
    "fine_grained.accuracy_drop_after_finetune": Goal("<=", 0.5, "pt"),
    "channel_pruning.macs_reduction": Goal(">=", 1.9, "x"),
    "channel_pruning.latency_speedup": Goal(">=", 1.3, "x"),
    "channel_pruning.accuracy_drop_after_finetune": Goal("<=", 1.0, "pt"),
}


if __name__ == "__main__":
    benchmark_lab(__file__, GOALS)
