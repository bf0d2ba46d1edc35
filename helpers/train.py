"""Train, evaluate and fine-tune loops (progress bars from ``tqdm.auto``).

``callbacks`` are zero-argument functions run after every optimizer step; pruning uses one to
re-apply its masks so that pruned weights stay zero while the rest are fine-tuned.
"""

from __future__ import annotations

from typing import Callable, Iterable

import torch
from torch import nn
from tqdm.auto import tqdm

from .env import grading_cap, show_progress


def _device_of(model: nn.Module) -> torch.device:
    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")


def train(model: nn.Module, dataloader, criterion, optimizer, scheduler=None,
          callbacks: Iterable[Callable[[], None]] = (), desc: str = "train") -> float:
    """One epoch; returns the mean training loss. ``scheduler`` is stepped per batch."""
    model.train()
    device = _device_of(model)
    total, count = 0.0, 0
    for inputs, targets in tqdm(dataloader, desc=desc, leave=False, disable=not show_progress()):
        inputs, targets = inputs.to(device), targets.to(device)
        loss = criterion(model(inputs), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        for callback in callbacks:
            callback()
        total += loss.item() * len(targets)
        count += len(targets)
    return total / max(count, 1)


@torch.inference_mode()
def evaluate(model: nn.Module, dataloader, desc: str = "eval") -> float:
    """Top-1 accuracy in percent."""
    model.eval()
    device = _device_of(model)
    correct, count = 0, 0
    for inputs, targets in tqdm(dataloader, desc=desc, leave=False, disable=not show_progress()):
        outputs = model(inputs.to(device))
        correct += (outputs.argmax(dim=1) == targets.to(device)).sum().item()
        count += len(targets)
    if count == 0:
        raise ValueError("evaluate() got an empty dataloader")
    return 100.0 * correct / count


def fine_tune(model: nn.Module, train_loader, test_loader, epochs: int, lr: float = 0.01,
              weight_decay: float = 1e-4, callbacks: Iterable[Callable[[], None]] = (),
              max_steps: int | None = None, verbose: bool = True) -> dict:
    """SGD (momentum 0.9) with a cosine learning-rate schedule for ``epochs`` epochs, each capped at
    ``max_steps`` batches when given (the fast profile). Evaluates after every epoch and returns
    ``{"accuracy": final test accuracy, "history": [per-epoch loss and accuracy]}``; the model keeps
    its final weights (no picking the best epoch on the test set). Under nbgrader an epoch is at most
    ``GRADING_CAPS["train_steps"]`` batches (:func:`helpers.env.grading_cap`).
    """
    max_steps = grading_cap("train_steps", max_steps)
    callbacks = list(callbacks)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=weight_decay)
    loader = train_loader if max_steps is None else _Limited(train_loader, max_steps)
    steps = epochs * len(loader)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(steps, 1))
    criterion = nn.CrossEntropyLoss()
    history = []
    for epoch in range(epochs):
        loss = train(model, loader, criterion, optimizer, scheduler, callbacks, desc=f"epoch {epoch + 1}")
        accuracy = evaluate(model, test_loader)
        history.append({"epoch": epoch + 1, "loss": loss, "accuracy": accuracy})
        if verbose:
            print(f"    epoch {epoch + 1}/{epochs}: train loss {loss:.4f}, test accuracy {accuracy:.2f}%")
    return {"accuracy": history[-1]["accuracy"] if history else evaluate(model, test_loader),
            "history": history}


class _Limited:
    """Iterate over at most ``max_steps`` batches of a dataloader."""

    def __init__(self, loader, max_steps: int):
        self.loader, self.max_steps = loader, max_steps

    def __len__(self):
        return min(len(self.loader), self.max_steps)

    def __iter__(self):
        for step, batch in enumerate(self.loader):
            if step >= self.max_steps:
                return
            yield batch
