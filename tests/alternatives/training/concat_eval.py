"""Correct, differently written: model.zero_grad(), sample counts from len(X), evaluate on the
concatenated outputs (the per-sample mean of a mean-reduced loss), set_grad_enabled(False),
named_modules() for the resets, and a Tensor.to(device, dtype) move."""
from __future__ import annotations

import torch
from torch import nn


def train_epoch(model: nn.Module, loader, loss_fn, optimizer, device=None) -> float:
    model.train(True)
    weighted, samples = [], []
    for batch in loader:
        X, y = batch
        if device:
            X, y = X.to(device, X.dtype), y.to(device, y.dtype)
        model.zero_grad(set_to_none=True)
        loss = loss_fn(model(X), y)
        loss.backward()
        optimizer.step()
        weighted.append(loss.item() * len(X))
        samples.append(len(X))
    return sum(weighted) / sum(samples)


def evaluate(model: nn.Module, loader, loss_fn, device=None) -> tuple[float, float]:
    model.eval()
    outs, ys = [], []
    with torch.set_grad_enabled(False):
        for X, y in loader:
            if device:
                X, y = X.to(device), y.to(device)
            outs.append(model(X))
            ys.append(y)
    out, y = torch.cat(outs), torch.cat(ys)
    loss = loss_fn(out, y).item()  # mean over all samples = per-sample mean
    acc = out.topk(1, dim=1).indices.squeeze(1).eq(y).sum().item() / len(y)
    return float(loss), float(acc)


def fit(model: nn.Module, train_loader, loss_fn, optimizer, epochs: int, val_loader=None, device=None):
    if device:
        model.to(device)
    out = []
    for epoch in range(epochs):
        for _, m in model.named_modules():
            if hasattr(m, "reset_mask"):
                m.reset_mask()
        tl = train_epoch(model, train_loader, loss_fn, optimizer, device)
        rec = {"epoch": epoch, "train_loss": tl}
        if val_loader is not None:
            rec["val_loss"], rec["val_acc"] = evaluate(model, val_loader, loss_fn, device)
        out.append(rec)
    return out
