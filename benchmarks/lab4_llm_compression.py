"""Lab 4 (LLM compression): perplexity of SmolLM2-135M-Instruct on Persuasion at W3 / W4 (groups of 64)
for RTN, salient / random 1 % in fp16, salient x2, AWQ scales and AWQ scales + clipping, measured by
running the reference notebook. Targets are the issue's (full profile, 2-core CPU). "gap closed" is the
share of the RTN - baseline perplexity gap a method closes (0: no better than RTN, 1: the baseline).

    python benchmarks/lab4_llm_compression.py --profile full --json benchmarks/results/lab4_llm_compression.json
"""

from common import parse_args, report, run_lab

TARGETS = {  # (bits, metric) -> (text, predicate)
    (3, "salient_fp16_gap_closed"): (">= 0.45", lambda v: v >= 0.45),
    (3, "random_fp16_gap_closed"): ("<= 0.05", lambda v: v <= 0.05),
    (3, "awq_gap_closed"): (">= 0.30", lambda v: v >= 0.30),
    (3, "awq_clip_gap_closed"): (">= 0.50", lambda v: v >= 0.50),
    (4, "awq_clip_gap_closed"): (">= 0.30", lambda v: v >= 0.30),
}
ROWS = [("baseline_ppl", ".2f", "", None), ("folded_unquantized_ppl", ".2f", "= baseline", None),
        ("eval_tokens", "d", "", None), ("calib_tokens", "d", "", None)]
for _bits in (3, 4):
    ROWS += [(f"w{_bits}g64.size_mib", ".1f", "", None), (f"w{_bits}g64.rtn_ppl", ".2f", "", None)]
    for _method in ("salient_fp16", "random_fp16", "scale2", "awq", "awq_clip"):
        ROWS.append((f"w{_bits}g64.{_method}_ppl", ".2f", "", None))
        _text, _ok = TARGETS.get((_bits, f"{_method}_gap_closed"), ("", None))
        ROWS.append((f"w{_bits}g64.{_method}_gap_closed", ".3f", _text, _ok))


def main():
    args = parse_args(__doc__)
    results = run_lab("lab4_llm_compression", args.profile, args.timeout, args.update_solution)
    folded_ok = abs(results["folded_unquantized_ppl"] - results["baseline_ppl"]) < 0.01
    print(f"folded scales, before quantization, keep the baseline perplexity: {'yes' if folded_ok else 'NO'}")
    report(results, ROWS, args, max_minutes=30, other_targets_met=folded_ok)


if __name__ == "__main__":
    main()
