"""Correct, differently written: numbers are read with ``.tolist()`` (a 0-d tensor's is a
Python float) and ``.cpu()`` copies, the way code that logs or plots often does; the
per-sample mean is taken over a list of (loss, count) pairs.

On the grader's stand-in device (meta), ``.tolist()`` raises torch's own NotImplementedError
from the learner's line: a fact the device checks judge, not an unwritten stub.
"""
from __future__ import annotations

from typing import Callable, Iterable

import torch
from torch import nn

Loader = Iterable[tuple[torch.Tensor, torch.Tensor]]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Device = str | torch.device | None


def _weighted_mean(parts: list[tuple[float, int]]) -> float:
    return sum(value * n for value, n in parts) / sum(n for _, n in parts)


def train_epoch(model: nn.Module, loader: Loader, loss_fn: LossFn,
                optimizer: torch.optim.Optimizer, device: Device = None) -> float:
    model.train()
    parts = []
    for X, y in loader:
        if device is not None:
            X, y = X.to(device), y.to(device)
        optimizer.zero_grad()
        loss = loss_fn(model(X), y)
        loss.backward()
        optimizer.step()
        parts.append((loss.detach().tolist(), y.shape[0]))
    return _weighted_mean(parts)


def evaluate(model: nn.Module, loader: Loader, loss_fn: LossFn,
             device: Device = None) -> tuple[float, float]:
    model.eval()
    parts, hits = [], 0
    with torch.no_grad():
        for X, y in loader:
            if device is not None:
                X, y = X.to(device), y.to(device)
            out = model(X)
            parts.append((float(loss_fn(out, y).cpu()), y.shape[0]))
            predicted, labels = out.argmax(dim=1).cpu().tolist(), y.cpu().tolist()
            hits += sum(p == t for p, t in zip(predicted, labels))
    return _weighted_mean(parts), hits / sum(n for _, n in parts)


def fit(model: nn.Module, train_loader: Loader, loss_fn: LossFn,
        optimizer: torch.optim.Optimizer, epochs: int, val_loader: Loader | None = None,
        device: Device = None) -> list[dict]:
    if device is not None:
        model.to(device)
    history = []
    for epoch in range(epochs):
        for module in model.modules():
            if callable(getattr(module, "reset_mask", None)):
                module.reset_mask()
        record = {"epoch": epoch, "train_loss": train_epoch(model, train_loader, loss_fn, optimizer, device)}
        if val_loader is not None:
            record["val_loss"], record["val_acc"] = evaluate(model, val_loader, loss_fn, device)
        history.append(record)
    return history
