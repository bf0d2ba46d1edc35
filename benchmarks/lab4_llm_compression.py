"""Lab 4 (LLM compression): perplexity of SmolLM2-135M-Instruct on Persuasion at W3 / W4 (groups of 64)
for RTN, salient / random 1 % in fp16, salient x2, AWQ scales and AWQ scales + clipping, measured by
running the reference notebook. Targets are the issue's (full profile, 2-core CPU). "gap closed" is the
share of the RTN - baseline perplexity gap a method closes (0: no better than RTN, 1: the baseline).

    python benchmarks/lab4_llm_compression.py --profile full --json benchmarks/results/lab4_llm_compression.json
"""

from common import Goal, benchmark_lab

GOALS = {
    "folded_unquantized_ppl": Goal("==", "baseline_ppl", tolerance=0.01),  # folded scales, before quantizing
    "w3g64.salient_fp16_gap_closed": Goal(">=", 0.45),
    "w3g64.random_fp16_gap_closed": Goal("<=", 0.05),
    "w3g64.awq_gap_closed": Goal(">=", 0.30),
    "w3g64.awq_clip_gap_closed": Goal(">=", 0.50),
    "w4g64.awq_clip_gap_closed": Goal(">=", 0.30),
}


if __name__ == "__main__":
    benchmark_lab(__file__, GOALS, max_minutes=30)
