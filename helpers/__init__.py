"""Infrastructure for the Efficient Deep Learning labs.

Modules: ``env`` (profile, device, seeding, cache), ``install_check`` (the setup cells' environment
report), ``assets`` (verified files),
``data`` (datasets, loaders), ``models`` (VGG family, checkpoints), ``train`` (loops),
``metrics`` (size, sparsity, MACs, latency), ``plots``, ``checks`` ([PASS]/[FAIL] self-checks),
``pruning`` (name validation, sensitivity scan), ``quantization`` (k-means in torch, BatchNorm
folding, calibration hooks), ``llm`` (the LLM loader, text windows, perplexity), ``awq`` (scale
folding and the block-by-block AWQ driver), ``native`` (compile C with the system compiler and call
it on tensors; CPU features, memory bandwidth), ``engine`` (a small Llama inference engine with a KV
cache and pluggable linear layers), ``results`` (record headline numbers), ``distributed`` (Lab 6's
communicators: ranks as threads for graded tests, the same interface over gloo processes, a launcher).

Nothing here implements what the labs grade: students import all of it.
"""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

try:  # the one source is pyproject.toml's [project] version, which pip records when it installs helpers
    __version__ = _version("efficient-dl-labs-helpers")
except PackageNotFoundError:  # imported from a checkout that pip never installed
    __version__ = "unknown"
