"""Correct, written differently: batches are moved with ``torch.as_tensor(X, device=device)``, which for a
tensor copies "as if data.to(device)". The grader's stand-in batches (meta tensors whose data appear
only when moved) must treat it as the move it is. From a fairness round."""
import torch
from torch import nn


def train_epoch(model, loader, loss_fn, optimizer, device=None):
    model.train()
    total, count = 0.0, 0
    for X, y in loader:
        if device is not None:
            X = torch.as_tensor(X, device=device)
            y = torch.as_tensor(y, device=device)
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
                X = torch.as_tensor(X, device=device)
                y = torch.as_tensor(y, device=device)
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
            vl, va = evaluate(model, val_loader, loss_fn, device)
            rec["val_loss"], rec["val_acc"] = vl, va
        history.append(rec)
    return history
