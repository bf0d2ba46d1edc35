"""helpers.memory (what autograd saves, 1-bit masks) and helpers.finetune (peft, the LoRA training loop,
activation checkpointing): the infrastructure of Lab 7."""

import builtins

import pytest
import torch
from torch import nn

from helpers.env import GRADING_CAPS
from helpers.finetune import checkpoint_blocks, load_peft, peft_lora_model, train_causal_lm
from helpers.llm import decoder_layers, tiny_llama
from helpers.memory import pack_bits, saved_activations, unpack_bits
from helpers.metrics import get_num_parameters


@pytest.mark.parametrize("shape", [(1,), (7,), (8,), (3, 5, 11)])
def test_pack_bits_round_trip(shape):
    mask = torch.rand(shape, generator=torch.Generator().manual_seed(0)) > 0.5
    packed = pack_bits(mask)
    n = mask.numel()
    assert packed.dtype == torch.uint8 and packed.shape == ((n + 7) // 8,)
    assert torch.equal(unpack_bits(packed, shape), mask)


def test_pack_bits_layout_and_errors():
    assert pack_bits(torch.tensor([True, False, True] + [False] * 5 + [True])).tolist() == [5, 1]
    with pytest.raises(TypeError, match="torch.bool"):
        pack_bits(torch.ones(3))
    with pytest.raises(ValueError, match="bits"):
        unpack_bits(torch.zeros(2, dtype=torch.uint8), (20,))


def test_saved_activations_counts_each_storage_once_and_no_parameters():
    lin = nn.Linear(4, 3)
    net = nn.Sequential(lin, nn.ReLU(inplace=True), nn.Linear(3, 2))
    x = torch.randn(5, 4)
    out, saved = saved_activations(net, x)
    # lin saves x (its weight trains); the in-place ReLU saves its output, which the last Linear saves again
    assert saved.bytes == 4 * (5 * 4 + 5 * 3)
    assert saved.by_dtype() == {"float32": saved.bytes}
    out.sum().backward()  # the graph is intact
    assert lin.weight.grad is not None
    net.requires_grad_(False)
    assert saved_activations(net, x)[1].bytes == 0  # no graph, nothing saved


def test_saved_activations_of_a_function_skips_parameters():
    w = nn.Parameter(torch.randn(3, 3))
    _, saved = saved_activations(lambda t: t @ w, torch.randn(2, 3))
    assert saved.bytes == 2 * 3 * 4


def test_load_peft_says_how_to_install(monkeypatch):
    real_import = builtins.__import__

    def no_peft(name, *args, **kwargs):
        if name == "peft" or name.startswith("peft."):
            raise ImportError("No module named 'peft'")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(__import__("sys").modules, "peft", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_peft)
    from helpers.install_check import MINIMUM

    with pytest.raises(ImportError, match=rf"pip install 'peft>={MINIMUM['peft']}'.*restart the kernel"):
        load_peft()


def test_peft_lora_model_is_a_copy_with_adapters():
    model = tiny_llama()
    peft_model = peft_lora_model(model, ("q_proj", "v_proj"), r=4, alpha=8)
    assert get_num_parameters(model, trainable_only=True) == 0  # the original is untouched
    assert get_num_parameters(peft_model, trainable_only=True) == 2 * 4 * ((64 + 64) + (64 + 32))
    ids = torch.randint(0, 256, (1, 8))
    assert torch.allclose(peft_model(ids).logits, model(ids).logits, atol=1e-6)  # B = 0


def test_checkpoint_blocks_saves_less_and_undoes():
    model = tiny_llama().requires_grad_(True).train()
    ids = torch.randint(0, 256, (2, 16))
    out, plain = saved_activations(model, ids)
    out.logits.sum().backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    checkpoint_blocks(model)
    out, checkpointed = saved_activations(model, ids)
    out.logits.sum().backward()
    assert checkpointed.bytes < plain.bytes / 2
    assert all(torch.allclose(g, p.grad, atol=1e-5) for g, p in zip(grads, model.parameters()))
    checkpoint_blocks(model, on=False)
    assert all(not type(b).__name__.startswith("_Checkpointed") for b in decoder_layers(model))
    assert saved_activations(model, ids)[1].bytes == plain.bytes


def test_train_causal_lm_trains_only_what_trains_and_is_capped(monkeypatch):
    model = tiny_llama()
    model.lm_head.weight.requires_grad_(True)  # tied to the embedding
    windows = torch.randint(0, 256, (6, 12), generator=torch.Generator().manual_seed(0))
    norm = model.model.norm.weight.clone()
    losses = train_causal_lm(model, windows, steps=5, lr=1e-2, batch_size=2)
    assert len(losses) == 5 and losses[-1] < losses[0]
    assert torch.equal(model.model.norm.weight, norm)  # frozen
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert len(train_causal_lm(model, windows, steps=50)) == GRADING_CAPS["train_steps"]
    with pytest.raises(ValueError, match="nothing to train"):
        train_causal_lm(model.requires_grad_(False), windows, steps=1)
