"""Lab 1 (pruning): dense model, fine-grained and channel pruning, measured by running the
reference notebook. Targets are the issue's (full profile, 2-core CPU).

    python benchmarks/lab1_pruning.py --profile full --json benchmarks/results/lab1_pruning.json
"""

from common import parse_args, report, run_lab

ROWS = [
    ("dense.accuracy", ".2f", ">= 93.0 %", lambda v: v >= 93.0),
    ("dense.size_mib", ".3f", "", None),
    ("dense.macs", ",d", "", None),
    ("fine_grained.size_ratio", ".3f", "<= 0.25", lambda v: v <= 0.25),
    ("fine_grained.accuracy_before_finetune", ".2f", "", None),
    ("fine_grained.accuracy_after_finetune", ".2f", "", None),
    ("fine_grained.accuracy_drop_after_finetune", ".2f", "<= 0.5 pt", lambda v: v <= 0.5),
    ("channel_pruning.macs_reduction", ".2f", ">= 1.9x", lambda v: v >= 1.9),
    ("channel_pruning.latency_speedup", ".2f", ">= 1.3x", lambda v: v >= 1.3),
    ("channel_pruning.latency_batch_size", "d", "", None),
    ("channel_pruning.latency_threads", "d", "", None),
    ("channel_pruning.accuracy_before_finetune", ".2f", "", None),
    ("channel_pruning.accuracy_after_finetune", ".2f", "", None),
    ("channel_pruning.accuracy_drop_after_finetune", ".2f", "<= 1.0 pt", lambda v: v <= 1.0),
    ("nm_2_4.accuracy_before_finetune", ".2f", "", None),
    ("nm_2_4.accuracy_after_finetune", ".2f", "", None),
]


def main():
    args = parse_args(__doc__)
    results = run_lab("lab1_pruning", args.profile, args.timeout, args.update_solution)
    report(results, ROWS, args)


if __name__ == "__main__":
    main()
