"""Lab 7 (on-device training and fine-tuning): the VGG's training memory computed and measured, bias-only and
sparse updates with lean layers, distillation of a half-width VGG, and LoRA / QLoRA on SmolLM2 with their
memory and perplexity, measured by running the reference notebook.

    python benchmarks/lab7_on_device_training.py --profile full \
        --json benchmarks/results/lab7_on_device_training.json
"""

from common import parse_args, report, run_lab

ROWS = [
    ("memory.full.total_mib", ".2f", "", None),
    ("memory.bias.total_mib", ".2f", "", None),
    ("memory.bias_lean.total_mib", ".2f", "", None),
    ("memory.bias_lean_reduction", ".1f", ">= 5x", lambda v: v >= 5),  # bias-only vs full fine-tuning, batch 128
    ("tinytl.last.accuracy", ".2f", "", None),
    ("tinytl.bias.accuracy", ".2f", "", None),
    ("tinytl.sparse.accuracy", ".2f", "", None),
    ("tinytl.full.accuracy", ".2f", "", None),
    ("kd.teacher_accuracy", ".2f", "", None),
    ("kd.alone_accuracy", ".2f", "", None),
    ("kd.distilled_accuracy", ".2f", "", None),
    ("kd.gain", ".2f", "> 0 pt", lambda v: v > 0),  # distilled above the same net alone, same epochs
    ("lora.trainable_percent", ".2f", "< 2 %", lambda v: v < 2),
    ("lora.peft_max_abs_diff", ".1e", "<= 1e-4", lambda v: v <= 1e-4),
    ("ppl.baseline", ".2f", "", None),
    ("ppl.lora", ".2f", "", None),
    ("ppl.lora_gain", ".2f", "> 0", lambda v: v > 0),  # LoRA lowers the baseline's perplexity on Persuasion
    ("ppl.nf4", ".2f", "", None),
    ("ppl.qlora", ".2f", "", None),
    ("ppl.qlora_recovered_percent", ".0f", "", None),
    ("llm_memory.full.total_mib", ".1f", "", None),
    ("llm_memory.lora.total_mib", ".1f", "", None),
    ("llm_memory.qlora.total_mib", ".1f", "", None),
    ("llm_memory.qlora.total_checkpointed_mib", ".1f", "", None),
]


def main():
    args = parse_args(__doc__)
    results = run_lab("lab7_on_device_training", args.profile, args.timeout, args.update_solution)
    report(results, ROWS, args, max_minutes=25)


if __name__ == "__main__":
    main()
