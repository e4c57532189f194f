"""Correct, differently written: running totals kept in float32 tensors (so the returned numbers
carry float32 rounding), evaluate decorated with @torch.no_grad(), counts taken with y.size(0),
and fit resetting masks with a try/except instead of getattr."""
from __future__ import annotations

import torch


def train_epoch(model, loader, loss_fn, optimizer, device=None):
    model.train()
    total, count = torch.zeros(()), torch.zeros(())
    for X, y in loader:
        if device is not None:
            X, y = X.to(device), y.to(device)
        optimizer.zero_grad()
        loss = loss_fn(model(X), y)
        loss.backward()
        optimizer.step()
        total += loss.detach().cpu().float() * y.size(0)
        count += y.size(0)
    return (total / count).item()


@torch.no_grad()
def evaluate(model, loader, loss_fn, device=None):
    model.eval()
    total, correct, count = torch.zeros(()), torch.zeros(()), torch.zeros(())
    for X, y in loader:
        if device is not None:
            X, y = X.to(device), y.to(device)
        out = model(X)
        total += loss_fn(out, y).cpu().float() * y.size(0)
        correct += (out.argmax(1) == y).sum().cpu().float()
        count += y.size(0)
    return (total / count).item(), (correct / count).item()


def fit(model, train_loader, loss_fn, optimizer, epochs, val_loader=None, device=None):
    if device is not None:
        model.to(device)
    history = []
    for epoch in range(epochs):
        for m in model.modules():
            try:
                m.reset_mask()
            except AttributeError:
                pass
        row = {"epoch": epoch}
        row["train_loss"] = train_epoch(model, train_loader, loss_fn, optimizer, device)
        if val_loader is not None:
            row["val_loss"], row["val_acc"] = evaluate(model, val_loader, loss_fn, device)
        history.append(row)
    return history
