"""Fine-tuning the LLM (Lab 7): the `peft` library, loaded with a clear message when it is missing, and the
training loop of the LoRA runs (a causal-LM loss on token windows, AdamW on the trainable parameters).

What Lab 7 grades -- the LoRA layer, NF4 and double quantization, the QLoRA layer -- is written in the
notebook; this module holds only what the lab uses around it.
"""

from __future__ import annotations

import importlib
import math
import warnings

import torch
from torch import nn

from .env import grading_cap, show_progress
from .install_check import requirement
from .llm import decoder_layers, next_token_loss

# what Lab 7 needs beyond the LLM's requirements (for install_check.environment_report(packages=...))
FINETUNE_REQUIREMENTS = (requirement("peft", "Lab 7 checks your LoRA against it"),)


def load_peft():
    """The ``peft`` module, or an ImportError that says how to install it."""
    try:
        return importlib.import_module("peft")
    except ImportError as exc:
        _, _, fix = FINETUNE_REQUIREMENTS[0]
        raise ImportError(f"peft is missing ({exc}): {fix}, then restart the kernel") from None


def peft_lora_model(model: nn.Module, targets, r: int, alpha: float):
    """``peft``'s LoRA on a copy of ``model``: every ``nn.Linear`` named in ``targets`` gets an adapter of rank ``r``
    and scaling ``alpha / r`` (no dropout), as ``peft.get_peft_model`` makes it (its deprecation warnings silenced)."""
    import copy

    peft = load_peft()
    config = peft.LoraConfig(r=r, lora_alpha=alpha, target_modules=list(targets), lora_dropout=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return peft.get_peft_model(copy.deepcopy(model), config)


class _Checkpointed(nn.Module):
    """A decoder block whose forward is recomputed in backward (torch.utils.checkpoint, non-reentrant)."""

    def __init__(self, block: nn.Module):
        super().__init__()
        self.block = block

    def forward(self, *args, **kwargs):
        from torch.utils.checkpoint import checkpoint

        return checkpoint(self.block, *args, use_reentrant=False, **kwargs)


def checkpoint_blocks(model: nn.Module, on: bool = True) -> nn.Module:
    """Activation checkpointing of every decoder block of ``model`` (in place; ``on=False`` undoes it): a block keeps
    only its input for backward and recomputes the rest."""

    layers = decoder_layers(model)
    for i, block in enumerate(layers):
        if on and not isinstance(block, _Checkpointed):
            layers[i] = _Checkpointed(block)
        elif not on and isinstance(block, _Checkpointed):
            layers[i] = block.block
    return model


def train_causal_lm(model: nn.Module, windows: torch.Tensor, steps: int, lr: float = 1e-3, batch_size: int = 4,
                    seed: int = 0, desc: str = "fine-tuning") -> list[float]:
    """``steps`` steps of AdamW (no weight decay) on the trainable parameters of ``model``, each on ``batch_size``
    token windows drawn at random from ``windows`` ``(n, seq_len)``, with the causal-LM loss (next-token
    cross-entropy) and a cosine learning-rate schedule. Returns the loss of every step. Under nbgrader at most
    ``GRADING_CAPS["train_steps"]`` steps (:func:`helpers.env.grading_cap`)."""
    from tqdm.auto import tqdm

    steps = grading_cap("train_steps", steps)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("nothing to train: no parameter of the model has requires_grad")
    if windows.dim() != 2:
        raise ValueError(f"windows must be (n_windows, seq_len) token ids, got shape {tuple(windows.shape)}")
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * s / max(steps, 1))))
    generator = torch.Generator().manual_seed(seed)
    device = params[0].device
    was_training = model.training
    model.train()
    losses = []
    for _ in tqdm(range(steps), desc=desc, disable=not show_progress(), leave=False):
        batch = windows[torch.randint(len(windows), (batch_size,), generator=generator)].to(device)
        loss = next_token_loss(model, batch)
        optimizer.zero_grad()  # (gradients set to None)
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(float(loss.detach()))
    model.train(was_training)
    return losses
