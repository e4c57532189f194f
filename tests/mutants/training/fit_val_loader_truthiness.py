# kills: test_any_iterable_of_batches
# fit tests 'if val_loader:', which raises TypeError on a DataLoader over an IterableDataset (no len) (red-team round 7).
"""Reference solution: the training loop (d2l 3.6 ``train_epoch_ch3``/``train_ch3``;
PyTorch tutorial "Optimizing Model Parameters")."""
from __future__ import annotations

from typing import Callable, Iterable

import torch
from torch import nn

Loader = Iterable[tuple[torch.Tensor, torch.Tensor]]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Device = str | torch.device | None


def train_epoch(model: nn.Module, loader: Loader, loss_fn: LossFn,
                optimizer: torch.optim.Optimizer, device: Device = None) -> float:
    model.train()  # the mode is sticky: evaluate() may have left it in eval mode
    total, count = 0.0, 0
    for X, y in loader:
        if device is not None:
            X, y = X.to(device), y.to(device)
        optimizer.zero_grad()  # gradients accumulate across backward() calls
        loss = loss_fn(model(X), y)
        loss.backward()
        optimizer.step()
        n = len(y)
        # .item() gives a Python float and lets the batch's graph be freed;
        # weighting by n makes a short last batch count for what it holds.
        total += loss.item() * n
        count += n
    return total / count


def evaluate(model: nn.Module, loader: Loader, loss_fn: LossFn,
             device: Device = None) -> tuple[float, float]:
    model.eval()  # dropout off, batch norm on running statistics
    total, correct, count = 0.0, 0, 0
    with torch.no_grad():  # no graph: nothing here is ever back-propagated
        for X, y in loader:
            if device is not None:
                X, y = X.to(device), y.to(device)
            out = model(X)
            n = len(y)
            total += loss_fn(out, y).item() * n
            correct += int((out.argmax(dim=1) == y).sum())  # dim 1: the classes
            count += n
    return total / count, correct / count


def fit(model: nn.Module, train_loader: Loader, loss_fn: LossFn,
        optimizer: torch.optim.Optimizer, epochs: int, val_loader: Loader | None = None,
        device: Device = None) -> list[dict]:
    if device is not None:
        model.to(device)  # keeps the Parameter objects, so the optimizer still holds them
    history: list[dict] = []
    for epoch in range(epochs):
        # modules() walks the whole tree (the model itself included), so a
        # nested EpochDropout gets its fresh mask for this epoch too.
        for module in model.modules():
            reset = getattr(module, "reset_mask", None)
            if callable(reset):
                reset()
        record = {"epoch": epoch,
                  "train_loss": train_epoch(model, train_loader, loss_fn, optimizer, device)}
        if val_loader:
            record["val_loss"], record["val_acc"] = evaluate(model, val_loader, loss_fn, device)
        history.append(record)
    return history
