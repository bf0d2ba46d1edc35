"""Lab 2 (quantization): k-means quantization with QAT at 8 / 4 / 2 bits and the integer-only int8
model, measured by running the reference notebook. Targets are the issue's (full profile, 2-core CPU).

    python benchmarks/lab2_quantization.py --profile full --json benchmarks/results/lab2_quantization.json
"""

from common import Goal, benchmark_lab

GOALS = {
    "kmeans.bits8.drop_before_qat": Goal("<=", 0.3, "pt"),
    "kmeans.bits4.drop_after_qat": Goal("<=", 0.5, "pt"),
    "kmeans.bits2.drop_after_qat": Goal("<=", 2.0, "pt"),
    "int8.drop": Goal("<=", 0.3, "pt"),
    "int8.prediction_mismatch_vs_fake_quant": Goal("<=", 0.001),
}


if __name__ == "__main__":
    benchmark_lab(__file__, GOALS, max_minutes=30)
