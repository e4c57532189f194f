"""Correct, written differently: batches moved by copying into a tensor made on the device,
``torch.empty_like(t, device=device).copy_(t)`` (the same values, dtype and shape on ``device``); accuracy
via ``torch.eq(...).float().sum()``, history via ``map``. From red-team round 6 (fairness): the grader's
stand-in batches gave their data only to ``.to``."""
from __future__ import annotations

import torch


def _ship(t, device):
    return torch.empty_like(t, device=device).copy_(t)


def train_epoch(model, loader, loss_fn, optimizer, device=None):
    model.train()
    total, count = 0.0, 0
    for X, y in loader:
        if device is not None:
            X, y = _ship(X, device), _ship(y, device)
        optimizer.zero_grad()
        loss = loss_fn(model(X), y)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(y)
        count += len(y)
    return total / count


def evaluate(model, loader, loss_fn, device=None):
    model.eval()
    total, correct, count = 0.0, 0.0, 0
    for X, y in loader:
        if device is not None:
            X, y = _ship(X, device), _ship(y, device)
        with torch.no_grad():
            out = model(X)
            total += loss_fn(out, y).item() * len(y)
        correct += torch.eq(out.argmax(1), y).float().sum().item()
        count += len(y)
    return total / count, correct / count


def fit(model, train_loader, loss_fn, optimizer, epochs, val_loader=None, device=None):
    if device is not None:
        model.to(device)

    def one(i):
        for m in model.modules():
            if hasattr(m, "reset_mask"):
                m.reset_mask()
        h = {"epoch": i, "train_loss": train_epoch(model, train_loader, loss_fn, optimizer, device)}
        if val_loader is not None:
            h["val_loss"], h["val_acc"] = evaluate(model, val_loader, loss_fn, device)
        return h

    return list(map(one, range(epochs)))
