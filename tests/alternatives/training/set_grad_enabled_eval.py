"""evaluate under torch.set_grad_enabled(False); loops written with iter()/next(); y.size(0)."""
from __future__ import annotations

import torch


def _batches(loader):
    it = iter(loader)
    while True:
        try:
            yield next(it)
        except StopIteration:
            return


def _move(t, device):
    return t if device is None else t.to(device)


def train_epoch(model, loader, loss_fn, optimizer, device=None) -> float:
    model.train()
    loss_sum, seen = 0.0, 0
    for X, y in _batches(loader):
        X, y = _move(X, device), _move(y, device)
        optimizer.zero_grad()
        loss = loss_fn(model(X), y)
        loss.backward()
        optimizer.step()
        loss_sum += loss.item() * y.size(0)
        seen += y.size(0)
    return loss_sum / seen


def evaluate(model, loader, loss_fn, device=None) -> tuple[float, float]:
    model.eval()
    loss_sum, hits, seen = 0.0, 0, 0
    with torch.set_grad_enabled(False):
        for X, y in _batches(loader):
            X, y = _move(X, device), _move(y, device)
            scores = model(X)
            loss_sum += loss_fn(scores, y).item() * y.size(0)
            hits += torch.eq(scores.argmax(dim=1), y).count_nonzero().item()
            seen += y.size(0)
    return (loss_sum / seen, hits / seen)


def fit(model, train_loader, loss_fn, optimizer, epochs, val_loader=None, device=None) -> list[dict]:
    if device is not None:
        model.to(device)
    out = []
    for i in range(epochs):
        for sub in model.modules():
            reset = getattr(sub, "reset_mask", None)
            if callable(reset):
                reset()
        record = dict(epoch=i, train_loss=train_epoch(model, train_loader, loss_fn, optimizer, device))
        if val_loader is not None:
            record.update(zip(("val_loss", "val_acc"), evaluate(model, val_loader, loss_fn, device)))
        out.append(record)
    return out
