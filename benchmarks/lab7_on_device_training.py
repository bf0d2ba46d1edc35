"""Lab 7 (on-device training and fine-tuning): the VGG's training memory computed and measured, bias-only and
sparse updates with lean layers, distillation of a half-width VGG, and LoRA / QLoRA on SmolLM2 with their
memory and perplexity, measured by running the reference notebook.

    python benchmarks/lab7_on_device_training.py --profile full \
        --json benchmarks/results/lab7_on_device_training.json
"""

from common import Goal, benchmark_lab

GOALS = {
    "memory.bias_lean_reduction": Goal(">=", 5, "x"),  # bias-only vs full fine-tuning, batch 128
    "kd.gain": Goal(">", 0, "pt"),  # distilled above the same net alone, same epochs
    "lora.trainable_percent": Goal("<", 2, "%"),
    "lora.peft_max_abs_diff": Goal("<=", 1e-4),
    "ppl.lora_gain": Goal(">", 0),  # LoRA lowers the baseline's perplexity on Persuasion
}


if __name__ == "__main__":
    benchmark_lab(__file__, GOALS, max_minutes=25)
