"""Lab 3 (neural architecture search): the shipped once-for-all supernet, the accuracy predictor on held-out
subnets, and the searches under MACs + peak-memory constraints, measured by running the reference notebook.
Targets are the issue's (full profile, 2-core CPU); the dense reference is Lab 1's VGG (94.56 %).

    python benchmarks/lab3_nas.py --profile full --json benchmarks/results/lab3_nas.json
"""

from common import Goal, benchmark_lab

LAB1_DENSE_ACCURACY = 94.56
GOALS = {
    "supernet.largest_accuracy": Goal(">=", round(LAB1_DENSE_ACCURACY - 1, 2), note="(Lab 1 - 1 pt)"),
    "predictor.rmse": Goal("<=", 1.0, "pt"),
    "predictor.kendall_tau": Goal(">=", 0.6),
    "search.evolution_minus_random": Goal(">=", 0, note="(mean over seeds)"),
    "search.seeds": Goal(">=", 5),
}
for _tier, _mmacs, _kb, _fast in (("main", 4, 30, 89.5), ("bonus", 1.5, 16, 89.0)):
    GOALS.update({f"search.{_tier}.accuracy": Goal(">=", f"search.{_tier}.target"),
                  f"search.{_tier}.macs": Goal("<=", _mmacs, "MMACs"),
                  f"search.{_tier}.peak_kb": Goal("<=", _kb, "kB"),
                  f"search.{_tier}.fast_accuracy": Goal(">=", _fast, note="(fast)")})  # what grading measures


if __name__ == "__main__":
    benchmark_lab(__file__, GOALS, max_minutes=30)
