"""Correct, written differently: batches moved with ``torch.asarray(X, device=device)`` (the
array-API spelling of ``as_tensor``; for a tensor on another device it copies it there).
From fairness round 4 (2026-12-01)."""
import torch


def _move(t, device):
    return torch.asarray(t, device=device)


def train_epoch(model, loader, loss_fn, optimizer, device=None):
    model.train()
    total, count = 0.0, 0
    for X, y in loader:
        if device is not None:
            X, y = _move(X, device), _move(y, device)
        optimizer.zero_grad()
        loss = loss_fn(model(X), y)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(y)
        count += len(y)
    return total / count


def evaluate(model, loader, loss_fn, device=None):
    model.eval()
    total, correct, count = 0.0, 0, 0
    with torch.no_grad():
        for X, y in loader:
            if device is not None:
                X, y = _move(X, device), _move(y, device)
            out = model(X)
            total += loss_fn(out, y).item() * len(y)
            correct += (out.argmax(dim=1) == y).sum().item()
            count += len(y)
    return total / count, correct / count


def fit(model, train_loader, loss_fn, optimizer, epochs, val_loader=None, device=None):
    if device is not None:
        model.to(device)
    history = []
    for epoch in range(epochs):
        for m in model.modules():
            if hasattr(m, "reset_mask"):
                m.reset_mask()
        rec = {"epoch": epoch, "train_loss": train_epoch(model, train_loader, loss_fn, optimizer, device)}
        if val_loader is not None:
            rec["val_loss"], rec["val_acc"] = evaluate(model, val_loader, loss_fn, device)
        history.append(rec)
    return history

