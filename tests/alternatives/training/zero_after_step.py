"""Correct, differently written: zeroes after the step (set_to_none=False), accumulates tensors,
uses inference_mode, keyword/non_blocking moves, and resets masks through model.apply."""
from __future__ import annotations

import torch
from torch import nn


def train_epoch(model, loader, loss_fn, optimizer, device=None):
    model.train()
    total = None
    seen = 0
    for X, y in loader:
        if device is not None:
            X = X.to(device=device, non_blocking=True)
            y = y.to(device=device, non_blocking=True)
        loss = loss_fn(model(X), y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=False)  # ready for the next batch
        part = loss.detach() * X.shape[0]
        total = part if total is None else total + part
        seen += X.shape[0]
    return float(total / seen)


def evaluate(model, loader, loss_fn, device=None):
    model.train(False)
    losses, hits, seen = [], [], 0
    with torch.inference_mode():
        for X, y in loader:
            if device is not None:
                X, y = X.to(device, non_blocking=True), y.to(device, non_blocking=True)
            scores = model(X)
            losses.append(loss_fn(scores, y) * y.shape[0])
            hits.append((torch.max(scores, 1).indices == y).to(torch.float64).sum())
            seen += y.shape[0]
    return (torch.stack(losses).sum() / seen).item(), (torch.stack(hits).sum() / seen).item()


def fit(model, train_loader, loss_fn, optimizer, epochs, val_loader=None, device=None):
    if device is not None:
        model = model.to(device=torch.device(device))
    history = []
    for i in range(epochs):
        model.apply(lambda m: m.reset_mask() if callable(getattr(m, "reset_mask", None)) else None)
        entry = dict(epoch=i, train_loss=train_epoch(model, train_loader, loss_fn, optimizer, device=device))
        if val_loader is not None:
            vl, va = evaluate(model, val_loader, loss_fn, device=device)
            entry.update(val_loss=vl, val_acc=va)
        history.append(entry)
    return history
