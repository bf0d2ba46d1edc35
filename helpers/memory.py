"""Training memory, measured (Lab 7): what autograd keeps for backward, and 1-bit masks.

:func:`saved_activations` runs a forward pass under ``torch.autograd.graph.saved_tensors_hooks`` and
reports every tensor autograd saves for backward -- each storage once (an in-place ReLU's output is also its
conv's output and the next layer's input: one tensor in memory), parameters and buffers not at all (they are
in memory anyway and are counted as weights). Only tensors saved through autograd are seen: an
``autograd.Function`` must keep them with ``ctx.save_for_backward``.

:func:`pack_bits` / :func:`unpack_bits` store a boolean mask at one bit per element (eight per byte).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn


@dataclass
class SavedTensors:
    """What a forward pass saved for backward: ``bytes`` in all, and one ``(shape, dtype, bytes)`` per storage."""
    bytes: int = 0
    tensors: list = field(default_factory=list)

    def by_dtype(self) -> dict:
        out = {}
        for _, dtype, nbytes in self.tensors:
            name = str(dtype).replace("torch.", "")
            out[name] = out.get(name, 0) + nbytes
        return out


def saved_activations(model, *args, **kwargs) -> tuple[object, SavedTensors]:
    """``(output, saved)``: ``model(*args, **kwargs)`` run with autograd on, and what it saved for backward.

    ``model`` is an ``nn.Module`` (its parameters and buffers are not counted) or any function (every saved
    tensor counts, ``nn.Parameter`` objects excepted). Keep ``output`` alive if you want to run backward."""
    held = (*model.parameters(), *model.buffers()) if isinstance(model, nn.Module) else ()
    own = {t.untyped_storage().data_ptr() for t in held}
    seen = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        key = storage.data_ptr()
        if key not in own and not isinstance(t, nn.Parameter) and storage.nbytes() > 0 and key not in seen:
            seen[key] = (tuple(t.shape), t.dtype, storage.nbytes())
        return t

    with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        output = model(*args, **kwargs)
    saved = SavedTensors(sum(n for _, _, n in seen.values()), list(seen.values()))
    return output, saved


def pack_bits(mask: torch.Tensor) -> torch.Tensor:
    """A boolean tensor as a 1-D uint8 tensor of ``ceil(numel / 8)`` bytes (element i is bit i % 8 of byte i // 8)."""
    if mask.dtype != torch.bool:
        raise TypeError(f"pack_bits takes a torch.bool mask, got {mask.dtype}")
    flat = mask.reshape(-1)
    padded = torch.zeros((flat.numel() + 7) // 8 * 8, dtype=torch.uint8, device=mask.device)
    padded[:flat.numel()] = flat
    weights = torch.tensor([1 << i for i in range(8)], dtype=torch.uint8, device=mask.device)
    return (padded.view(-1, 8) * weights).sum(1, dtype=torch.uint8)


def unpack_bits(packed: torch.Tensor, shape) -> torch.Tensor:
    """The boolean tensor of ``shape`` that :func:`pack_bits` packed."""
    if packed.dtype != torch.uint8 or packed.dim() != 1:
        raise TypeError(f"unpack_bits takes the 1-D uint8 tensor of pack_bits, got {packed.dtype} "
                        f"{tuple(packed.shape)}")
    numel = 1
    for s in shape:
        numel *= s
    if packed.numel() != (numel + 7) // 8:
        raise ValueError(f"{packed.numel()} bytes hold {8 * packed.numel()} bits, not the {numel} of shape "
                         f"{tuple(shape)}")
    shifts = torch.arange(8, dtype=torch.uint8, device=packed.device)
    bits = (packed.unsqueeze(1) >> shifts) & 1
    return bits.view(-1)[:numel].view(*shape).bool()
