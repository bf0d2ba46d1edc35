"""Lab 2 (quantization): k-means quantization with QAT at 8 / 4 / 2 bits and the integer-only int8
model, measured by running the reference notebook. Targets are the issue's (full profile, 2-core CPU).

    python benchmarks/lab2_quantization.py --profile full --json benchmarks/results/lab2_quantization.json
"""

from common import parse_args, report, run_lab

ROWS = [
    ("fp32_accuracy", ".2f", "", None),
    ("fp32_size_mib", ".3f", "", None),
]
for _bits, _before, _after in ((8, 0.3, None), (4, None, 0.5), (2, None, 2.0)):
    _key = f"kmeans.bits{_bits}"
    ROWS += [
        (f"{_key}.size_mib", ".3f", "", None),
        (f"{_key}.accuracy_before_qat", ".2f", "", None),
        (f"{_key}.drop_before_qat", ".2f", f"<= {_before} pt" if _before else "",
         (lambda v, t=_before: v <= t) if _before else None),
        (f"{_key}.qat_epochs", "d", "", None),
        (f"{_key}.accuracy_after_qat", ".2f", "", None),
        (f"{_key}.drop_after_qat", ".2f", f"<= {_after} pt" if _after else "",
         (lambda v, t=_after: v <= t) if _after else None),
    ]
ROWS += [
    ("per_channel.bits4.size_mib", ".3f", "", None),
    ("per_channel.bits4.accuracy", ".2f", "", None),
    ("int8.size_mib", ".3f", "", None),
    ("int8.accuracy", ".2f", "", None),
    ("int8.drop", ".2f", "<= 0.3 pt", lambda v: v <= 0.3),
    ("int8.prediction_mismatch_vs_fake_quant", ".5f", "<= 0.001", lambda v: v <= 0.001),
]


def main():
    args = parse_args(__doc__)
    results = run_lab("lab2_quantization", args.profile, args.timeout, args.update_solution)
    report(results, ROWS, args, max_minutes=30)


if __name__ == "__main__":
    main()
