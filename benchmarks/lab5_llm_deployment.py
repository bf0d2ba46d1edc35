"""Lab 5 (LLM deployment): the W4 GEMV kernels (reference ... all combined, and W4A8) against the measured
memory bandwidth, and SmolLM2-135M-Instruct decoding on the W4A16 and W4A8 kernels against fp32
transformers (and llama.cpp on the same GGUF file, when llama-cpp-python is installed), measured by
running the reference notebook. Targets are the issue's (full profile, 2-core CPU).

    python benchmarks/lab5_llm_deployment.py --profile full --json benchmarks/results/lab5_llm_deployment.json
"""

from common import Goal, benchmark_lab

GOALS = {
    "gemv.speedup_all_vs_reference": Goal(">=", 4, "x"),
    "gemv.bandwidth_fraction": Goal(">=", 0.5),
    "e2e.speedup_vs_fp32": Goal(">=", 2, "x"),
    "gemv.w4a8_bandwidth_fraction": Goal(">=", 0.8),  # integer dot products: the W4A8 kernel near the bandwidth
    "gemv.speedup_w4a8_vs_all_large": Goal(">", 1, "x"),  # ... and faster than W4A16, at both shapes
    "gemv.speedup_w4a8_vs_all_llm": Goal(">", 1, "x"),
    "e2e.w4a8_speedup_vs_fp32": Goal(">=", 3, "x"),
    "awq.engine_awq_ppl": Goal("<", "awq.engine_rtn_ppl"),  # Lab 4's AWQ model on the int4 engine
    "awq.engine_vs_pytorch_diff_ppm": Goal("<=", 1000),  # the engine's perplexity = PyTorch's, same weights
    # only when llama-cpp-python is installed (a benchmark environment: it builds llama.cpp, ~18 min on 2 cores)
    "e2e.int4_vs_llama_cpp": Goal(">=", 1.0, optional=True),
    "e2e.w4a8_vs_llama_cpp": Goal(">=", 1.0, optional=True),
}


if __name__ == "__main__":
    benchmark_lab(__file__, GOALS, max_minutes=30)
