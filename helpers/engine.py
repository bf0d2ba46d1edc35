"""A small inference engine for Llama-architecture models (Lab 5), written to be read.

One sequence at a time, the way a chat runs on a laptop: the prompt is *prefilled* in one pass
(matrix-matrix products), then each new token is *decoded* with matrix-vector products (GEMV) that
read every weight once per token — which is why decoding is memory-bound and why 4-bit weights make
it faster. Every linear layer is built by a pluggable ``linear`` factory, so a lab's own kernels
(e.g. an int4 GEMV in C) can replace ``torch.matmul``; ``fuse=True`` stacks the projections that read the
same input (q/k/v, gate/up) into one matrix each: fewer, larger calls per token.

    config, weights = load_gguf(default_gguf_path())        # or from_transformers(model)
    engine = LlamaEngine(config, weights)
    for token in engine.generate(prompt_ids, max_new_tokens=32): ...

Pieces: RMSNorm, rotary position embeddings (the Hugging Face "rotate half" layout), grouped-query
attention with a KV cache (PyTorch's scaled_dot_product_attention), a SwiGLU MLP, sampling (greedy,
temperature, top-p), the tokenizer's chat template and streaming text output. Greedy output matches
``transformers`` token for token on the same fp32 weights (a test).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import torch
import torch.nn.functional as F

from .env import grading_cap
from .install_check import pip_install

# weight names, per decoder block, and where transformers / GGUF keep them
BLOCK_WEIGHTS = {  # ours: (transformers suffix, GGUF name)
    "attn_norm": ("input_layernorm.weight", "attn_norm.weight"),
    "q": ("self_attn.q_proj.weight", "attn_q.weight"),
    "k": ("self_attn.k_proj.weight", "attn_k.weight"),
    "v": ("self_attn.v_proj.weight", "attn_v.weight"),
    "o": ("self_attn.o_proj.weight", "attn_output.weight"),
    "ffn_norm": ("post_attention_layernorm.weight", "ffn_norm.weight"),
    "gate": ("mlp.gate_proj.weight", "ffn_gate.weight"),
    "up": ("mlp.up_proj.weight", "ffn_up.weight"),
    "down": ("mlp.down_proj.weight", "ffn_down.weight"),
}
LINEARS = ("q", "k", "v", "o", "gate", "up", "down")
# with fuse=True: the projections that read the same input become one matrix (their rows stacked), one call
FUSED = {"qkv": ("q", "k", "v"), "gate_up": ("gate", "up")}


def linear_parts(name: str) -> list[str]:
    """The weights a linear is made of: ``layers.3.qkv`` -> ``layers.3.q``, ``layers.3.k``, ``layers.3.v``
    (stacked in this order); any other name is its own weight."""
    prefix, _, short = name.rpartition(".")
    return [f"{prefix}.{part}" for part in FUSED[short]] if short in FUSED else [name]


@dataclass(frozen=True)
class Config:
    vocab_size: int
    dim: int  # hidden size
    hidden_dim: int  # MLP width
    n_layers: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    max_seq_len: int = 2048


# --- loading ----------------------------------------------------------------------------------

def from_transformers(model, max_seq_len: int = 2048) -> tuple[Config, dict[str, torch.Tensor]]:
    """``(config, weights)`` of a transformers Llama-style causal LM (weights shared, not copied)."""
    c = model.config
    n_heads = c.num_attention_heads
    config = Config(vocab_size=c.vocab_size, dim=c.hidden_size, hidden_dim=c.intermediate_size,
                    n_layers=c.num_hidden_layers, n_heads=n_heads, n_kv_heads=c.num_key_value_heads or n_heads,
                    head_dim=getattr(c, "head_dim", None) or c.hidden_size // n_heads, norm_eps=c.rms_norm_eps,
                    rope_theta=_rope_theta(c), max_seq_len=max_seq_len)
    state = model.state_dict()
    weights = {"embed": state["model.embed_tokens.weight"], "norm": state["model.norm.weight"],
               "lm_head": state.get("lm_head.weight", state["model.embed_tokens.weight"])}
    for i in range(config.n_layers):
        for ours, (hf, _) in BLOCK_WEIGHTS.items():
            weights[f"layers.{i}.{ours}"] = state[f"model.layers.{i}.{hf}"]
    return config, weights


def _rope_theta(hf_config) -> float:
    theta = getattr(hf_config, "rope_theta", None)
    if theta is None:  # newer transformers keep it in rope_parameters
        theta = (getattr(hf_config, "rope_parameters", None) or {}).get("rope_theta", 10000.0)
    return float(theta)


def _unpermute(w: torch.Tensor, n_heads: int) -> torch.Tensor:
    """llama.cpp stores q/k rows with each head's rotary pairs interleaved; undo it so that the
    "rotate half" rotary embedding of Hugging Face applies (the inverse of convert_hf_to_gguf's permute)."""
    half = w.shape[0] // n_heads // 2
    return w.reshape(n_heads, half, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def load_gguf(path: str | Path, max_seq_len: int = 2048) -> tuple[Config, dict[str, torch.Tensor]]:
    """``(config, fp32 weights)`` read from a llama.cpp GGUF file with the ``gguf`` package (dequantized)."""
    try:
        import gguf
        from gguf.quants import dequantize
    except ImportError:
        raise ImportError("reading GGUF files needs the gguf package: " + pip_install("gguf")) from None
    reader = gguf.GGUFReader(str(path))
    meta = {name: field.contents() for name, field in reader.fields.items() if not name.startswith("tokenizer.")}
    arch = meta.get("general.architecture", "llama")
    if arch != "llama":
        raise ValueError(f"{path} holds a {arch!r} model; this engine runs Llama-architecture models")
    n_heads = meta["llama.attention.head_count"]
    tensors = {}
    for t in reader.tensors:
        shape = tuple(int(d) for d in reversed(t.shape.tolist()))  # GGUF lists dimensions fastest first
        tensors[t.name] = torch.from_numpy(dequantize(t.data, t.tensor_type).reshape(shape).astype("float32"))
    dim = meta["llama.embedding_length"]
    n_kv = meta.get("llama.attention.head_count_kv", n_heads)
    config = Config(vocab_size=tensors["token_embd.weight"].shape[0], dim=dim,
                    hidden_dim=meta["llama.feed_forward_length"], n_layers=meta["llama.block_count"],
                    n_heads=n_heads, n_kv_heads=n_kv, head_dim=meta.get("llama.rope.dimension_count", dim // n_heads),
                    norm_eps=meta["llama.attention.layer_norm_rms_epsilon"],
                    rope_theta=meta.get("llama.rope.freq_base", 10000.0), max_seq_len=max_seq_len)
    weights = {"embed": tensors["token_embd.weight"], "norm": tensors["output_norm.weight"],
               "lm_head": tensors.get("output.weight", tensors["token_embd.weight"])}
    for i in range(config.n_layers):
        for ours, (_, name) in BLOCK_WEIGHTS.items():
            w = tensors[f"blk.{i}.{name}"]
            if ours in ("q", "k"):
                w = _unpermute(w, n_heads if ours == "q" else n_kv)
            weights[f"layers.{i}.{ours}"] = w
    return config, weights


# --- the model --------------------------------------------------------------------------------

def torch_linear(weight: torch.Tensor, name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The default linear layer: ``x @ W.T`` in PyTorch. A lab's kernel replaces this factory."""
    return lambda x: x @ weight.T


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """``x / sqrt(mean(x²) + eps) * weight`` over the last dimension, in fp32 (transformers' LlamaRMSNorm)."""
    x32 = x.float()
    return (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype) * weight


def rotary(x: torch.Tensor, cos: torch.Tensor, signed_sin: torch.Tensor) -> torch.Tensor:
    """Rotary position embedding in Hugging Face's "rotate half" layout: ``x * cos + cat(-x2, x1) * sin`` with
    ``x1, x2`` the halves of each head. ``cat(-x2, x1)`` is ``roll(x, half)`` with its first half negated, a
    sign kept in ``signed_sin``: one PyTorch operation instead of three (chunk, neg, cat), each a few µs."""
    return x * cos + x.roll(x.shape[-1] // 2, -1) * signed_sin


class LlamaEngine:
    """Batch-1 Llama inference with a KV cache; ``linear(weight, name)`` builds every projection
    (``layers.{i}.{q,k,v,o,gate,up,down}`` and ``lm_head``) as a function of ``(tokens, in) -> (tokens, out)``.

    With ``fuse=True`` the projections that read the same input are one matrix each, their rows stacked
    (``layers.{i}.qkv`` = q, k, v and ``layers.{i}.gate_up`` = gate, up: :data:`FUSED`), and their outputs are
    split again: the same products (an output depends on its own row only) in 4 calls per block instead of 7."""

    def __init__(self, config: Config, weights: dict[str, torch.Tensor],
                 linear: Callable[[torch.Tensor, str], Callable] = torch_linear, fuse: bool = False):
        self.config, self.weights, self.fuse = config, weights, fuse
        self.linears = {name: linear(self._linear_weight(name), name) for name in self.linear_names()}
        # the rows of each stacked part, to split a fused product again (the same in every block)
        self.part_rows = {group: [weights[f"layers.0.{part}"].shape[0] for part in parts]
                          for group, parts in FUSED.items()}
        c = config
        inv_freq = 1.0 / c.rope_theta ** (torch.arange(0, c.head_dim, 2, dtype=torch.float32) / c.head_dim)
        angles = torch.outer(torch.arange(c.max_seq_len, dtype=torch.float32), inv_freq)
        self.cos = torch.cat([angles, angles], -1).cos()
        self.signed_sin = torch.cat([-angles.sin(), angles.sin()], -1)  # see rotary()
        self.reset()

    def linear_names(self) -> list[str]:
        """The names the ``linear`` factory is called with, in order (211 for SmolLM2, 121 fused)."""
        per_block = ("qkv", "o", "gate_up", "down") if self.fuse else LINEARS
        return [f"layers.{i}.{n}" for i in range(self.config.n_layers) for n in per_block] + ["lm_head"]

    def _linear_weight(self, name: str) -> torch.Tensor:
        parts = [self.weights[part] for part in linear_parts(name)]
        return parts[0] if len(parts) == 1 else torch.cat(parts)  # stacked rows: (n_out of all parts, n_in)

    def _project(self, i: int, group: str, x: torch.Tensor) -> list[torch.Tensor]:
        """The outputs of block ``i``'s projections in ``FUSED[group]`` (q, k, v or gate, up): one product on
        the stacked matrix split into its parts' columns (views) when fused, else one call each."""
        if self.fuse:
            return self.linears[f"layers.{i}.{group}"](x).split(self.part_rows[group], -1)
        return [self.linears[f"layers.{i}.{part}"](x) for part in FUSED[group]]

    def reset(self) -> None:
        """Empty the KV cache (start a new conversation)."""
        c = self.config
        self.k_cache = torch.zeros(c.n_layers, c.n_kv_heads, c.max_seq_len, c.head_dim)
        self.v_cache = torch.zeros_like(self.k_cache)
        self.pos = 0

    def _attention(self, i: int, x: torch.Tensor) -> torch.Tensor:
        c, T, p = self.config, x.shape[0], self.pos
        q, k, v = self._project(i, "qkv", x)
        q = q.view(T, c.n_heads, c.head_dim).transpose(0, 1)  # (heads, T, head_dim)
        k = k.view(T, c.n_kv_heads, c.head_dim).transpose(0, 1)
        v = v.view(T, c.n_kv_heads, c.head_dim).transpose(0, 1)
        cos, signed_sin = self.cos[p: p + T], self.signed_sin[p: p + T]
        q, k = rotary(q, cos, signed_sin), rotary(k, cos, signed_sin)
        self.k_cache[i, :, p: p + T], self.v_cache[i, :, p: p + T] = k, v
        keys, values = self.k_cache[i, :, : p + T], self.v_cache[i, :, : p + T]  # views: nothing is copied
        # grouped-query attention: query heads kv * n_rep ... kv * n_rep + n_rep - 1 share key/value head kv,
        # so the queries are grouped by kv head (a view) instead of the cache being repeated for every head
        n_rep = c.n_heads // c.n_kv_heads
        grouped = q.reshape(c.n_kv_heads, n_rep * T, c.head_dim)
        # softmax(q keys^T / sqrt(head_dim)) values in one PyTorch call; in the prefill token t sees positions
        # <= p + t (the grouped rows are n_rep copies of the T tokens, hence the repeated mask)
        causal = torch.ones(T, p + T, dtype=torch.bool).tril(diagonal=p).repeat(n_rep, 1) if T > 1 else None
        out = F.scaled_dot_product_attention(grouped, keys, values, attn_mask=causal).view(c.n_heads, T, c.head_dim)
        return self.linears[f"layers.{i}.o"](out.transpose(0, 1).reshape(T, c.n_heads * c.head_dim))

    def _mlp(self, i: int, x: torch.Tensor) -> torch.Tensor:
        gate, up = self._project(i, "gate_up", x)
        return self.linears[f"layers.{i}.down"](F.silu(gate) * up)

    @torch.inference_mode()
    def forward(self, tokens: torch.Tensor, all_logits: bool = False) -> torch.Tensor:
        """Feed ``tokens`` (1-D ids) after the cached ones; return the logits of the last one, or of every
        one, ``(len(tokens), vocab)``, with ``all_logits`` (for perplexity)."""
        c, w = self.config, self.weights
        if self.pos + len(tokens) > c.max_seq_len:
            raise ValueError(f"the conversation is longer than max_seq_len={c.max_seq_len} tokens: call reset()")
        x = w["embed"][tokens]
        for i in range(c.n_layers):
            x = x + self._attention(i, rms_norm(x, w[f"layers.{i}.attn_norm"], c.norm_eps))
            x = x + self._mlp(i, rms_norm(x, w[f"layers.{i}.ffn_norm"], c.norm_eps))
        self.pos += len(tokens)
        if all_logits:
            return self.linears["lm_head"](rms_norm(x, w["norm"], c.norm_eps))
        return self.linears["lm_head"](rms_norm(x[-1:], w["norm"], c.norm_eps))[0]

    def generate(self, prompt: list[int] | torch.Tensor, max_new_tokens: int = 64, temperature: float = 0.0,
                 top_p: float = 1.0, stop: tuple[int, ...] = (), seed: int | None = None) -> Iterator[int]:
        """Yield new token ids after ``prompt`` (continuing the cached conversation): greedy when
        ``temperature == 0``, else sampled from the softmax at ``temperature`` restricted to the
        smallest set of tokens whose probability reaches ``top_p``. Stops after a token in ``stop``."""
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        logits = self.forward(torch.as_tensor(prompt, dtype=torch.long))
        for _ in range(max_new_tokens):
            token = sample(logits, temperature, top_p, generator)
            yield token
            if token in stop:
                return
            logits = self.forward(torch.tensor([token]))

    def weight_bytes(self) -> int:
        """Bytes of weights the engine keeps: each linear's own storage (its ``nbytes`` attribute when the
        factory gives one, e.g. packed int4 + scales, else the fp32 weight) plus embedding and norms."""
        total, counted = 0, set()
        own = {part for name in self.linears for part in linear_parts(name)}
        for name, f in self.linears.items():
            if hasattr(f, "nbytes"):
                total += f.nbytes
                continue
            for w in (self.weights[part] for part in linear_parts(name)):
                total += 0 if w.data_ptr() in counted else w.numel() * w.element_size()
                counted.add(w.data_ptr())
        for name, t in self.weights.items():
            if name not in own and t.data_ptr() not in counted:  # embedding (unless tied), norms
                total += t.numel() * t.element_size()
                counted.add(t.data_ptr())
        return total


def engine_perplexity(engine: LlamaEngine, windows: torch.Tensor, desc: str = "engine perplexity") -> float:
    """Perplexity of ``engine`` on ``(n_windows, seq_len)`` token windows, each read from an empty cache:
    the protocol of :func:`helpers.llm.perplexity` (exp of the mean next-token NLL over all windows)."""
    from tqdm.auto import tqdm

    from .env import show_progress

    if windows.dim() != 2:
        raise ValueError(f"windows must be (n_windows, seq_len) token ids, got shape {tuple(windows.shape)}")
    total_nll, count = 0.0, 0
    for window in tqdm(windows, desc=desc, disable=not show_progress(), leave=False):
        engine.reset()
        logits = engine.forward(window, all_logits=True)[:-1].float()
        total_nll += float(torch.nn.functional.cross_entropy(logits, window[1:], reduction="sum"))
        count += window.numel() - 1
    engine.reset()
    return math.exp(total_nll / count)


BREAKDOWN_PARTS = ("linear layers (kernels)", "attention (rotary, KV cache, scores, softmax)",
                   "rest of the forward (norms, SwiGLU, residuals, Python)", "sampling")


def decode_breakdown(engine: LlamaEngine, prompt: list[int], n_tokens: int = 32) -> dict[str, float]:
    """Where a decoded token's time goes: milliseconds per token in each of :data:`BREAKDOWN_PARTS`, and
    ``"total"``, over ``n_tokens`` greedy steps after ``prompt``.

    Timed with ``time.perf_counter`` around every linear layer (the C kernels are ctypes calls, which
    ``torch.profiler`` does not see), every attention call (its own linears taken out) and the sampling;
    the rest of each step is the rest of the forward. The timers add about a microsecond per call (some
    240 calls per token)."""
    spent = dict.fromkeys(BREAKDOWN_PARTS, 0.0)
    inside_attention = [False]
    attention_linears = [0.0]

    def timed_linear(f):
        def call(x):
            start = time.perf_counter()
            y = f(x)
            seconds = time.perf_counter() - start
            spent[BREAKDOWN_PARTS[0]] += seconds
            if inside_attention[0]:
                attention_linears[0] += seconds
            return y
        return call

    def timed_attention(i, x):
        inside_attention[0], before, start = True, attention_linears[0], time.perf_counter()
        try:
            return LlamaEngine._attention(engine, i, x)
        finally:
            inside_attention[0] = False
            spent[BREAKDOWN_PARTS[1]] += time.perf_counter() - start - (attention_linears[0] - before)

    linears = engine.linears
    engine.reset()
    logits = engine.forward(torch.as_tensor(prompt, dtype=torch.long))  # the prompt is not timed
    engine.linears = {name: timed_linear(f) for name, f in linears.items()}
    engine._attention = timed_attention
    try:
        total = 0.0
        for _ in range(n_tokens):
            start = time.perf_counter()
            token = sample(logits)
            sampled = time.perf_counter()
            logits = engine.forward(torch.tensor([token]))
            total += time.perf_counter() - start
            spent[BREAKDOWN_PARTS[3]] += sampled - start
    finally:
        engine.linears = linears
        del engine._attention
    spent[BREAKDOWN_PARTS[2]] = total - sum(spent[p] for p in BREAKDOWN_PARTS if p != BREAKDOWN_PARTS[2])
    return {**{part: 1e3 * seconds / n_tokens for part, seconds in spent.items()}, "total": 1e3 * total / n_tokens}


def sample(logits: torch.Tensor, temperature: float = 0.0, top_p: float = 1.0, generator=None) -> int:
    """One token id from ``logits``: argmax at temperature 0, else nucleus (top-p) sampling."""
    if temperature < 0 or not 0 < top_p <= 1:
        raise ValueError(f"need temperature >= 0 and 0 < top_p <= 1, got {temperature}, {top_p}")
    if temperature == 0:
        return int(torch.argmax(logits))
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    sorted_probs, order = torch.sort(probs, descending=True)
    keep = torch.cumsum(sorted_probs, 0) - sorted_probs < top_p  # the smallest prefix reaching top_p
    sorted_probs = sorted_probs * keep
    choice = torch.multinomial(sorted_probs / sorted_probs.sum(), 1, generator=generator)
    return int(order[choice])


def chat(engine: LlamaEngine, tokenizer, message: str, max_new_tokens: int = 128, stream: bool = True,
         **sampling) -> dict:
    """Answer one user message with the tokenizer's chat template, printing the text as it is
    generated when ``stream``. Returns the answer, token counts and decode speed. Under nbgrader at
    most ``GRADING_CAPS["chat_tokens"]`` new tokens (:func:`helpers.env.grading_cap`): a chat is never
    graded, and a class's submissions each run one."""
    max_new_tokens = grading_cap("chat_tokens", max_new_tokens)
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": message}], add_generation_prompt=True,
                                           tokenize=False)
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    stop = tuple({tokenizer.eos_token_id, *(tokenizer.convert_tokens_to_ids(t) for t in ("<|im_end|>",)
                                            if t in tokenizer.get_vocab())} - {None})
    engine.reset()
    new, shown = [], ""
    start = time.perf_counter()
    first = None
    for token in engine.generate(ids, max_new_tokens, stop=stop, **sampling):
        first = first or time.perf_counter()
        if token in stop:
            break
        new.append(token)
        text = tokenizer.decode(new, skip_special_tokens=True)
        if stream and not text.endswith("\ufffd"):  # wait for the rest of a multi-byte character
            print(text[len(shown):], end="", flush=True)
            shown = text
    end = time.perf_counter()
    if stream:
        print(tokenizer.decode(new, skip_special_tokens=True)[len(shown):], flush=True)
    decode_tokens = max(len(new) - 1, 0)
    return {"answer": tokenizer.decode(new, skip_special_tokens=True).strip(), "prompt_tokens": len(ids),
            "new_tokens": len(new), "prefill_seconds": (first or end) - start,
            "decode_tokens_per_s": decode_tokens / (end - first) if first and end > first and decode_tokens else 0.0}
