"""Plain-data wire format between the grader and its workers.

A message is a JSON header plus raw byte blobs for tensors. Decoding never
executes anything the sender wrote (no pickle): tensors are rebuilt from
dtype, shape and bytes with the receiver's own torch, and every size is
checked before anything is allocated.
"""
from __future__ import annotations

import json
import math
import socket
import struct
import time
from typing import Any, Callable, Union

import torch

MAX_HEADER = 16 * 2**20
MAX_BLOBS = 512 * 2**20
MAX_NUMEL = 64 * 2**20
MAX_DEPTH = 32

DTYPES: dict[str, torch.dtype] = {
    name: getattr(torch, name)
    for name in ("bool", "uint8", "int8", "int16", "int32", "int64",
                 "float16", "bfloat16", "float32", "float64")
}


class ProtocolError(Exception):
    """The peer sent something that is not a valid message."""


class Opaque:
    """Stands in for a value that is not plain data; equal to nothing."""

    def __init__(self, type_name: str, text: str) -> None:
        self.type_name, self.text = type_name, text

    def __eq__(self, other: object) -> bool:
        return False

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<{self.type_name} {self.text}>"


def _encode(value: Any, blobs: list[bytes], depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise ValueError("value nested too deeply")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return {"int": str(int(value))}
    if isinstance(value, float):
        return {"float": repr(float(value))}
    if isinstance(value, torch.Tensor):
        t = torch.Tensor.detach(value)
        meta = {"dtype": str(t.dtype).replace("torch.", ""), "shape": list(t.shape),
                "device": str(t.device), "blob": None}
        if t.device.type != "meta" and meta["dtype"] in DTYPES:
            cpu = t.to("cpu").contiguous()
            if cpu.dtype == torch.bfloat16:
                raw = cpu.view(torch.int16).numpy().tobytes()
            else:
                raw = cpu.numpy().tobytes()
            meta["blob"] = len(blobs)
            blobs.append(raw)
        return {"tensor": meta}
    if isinstance(value, (torch.device, torch.dtype)):
        return str(value)
    if isinstance(value, torch.Size):
        return {"tuple": [_encode(int(v), blobs, depth + 1) for v in value]}
    if isinstance(value, tuple):
        return {"tuple": [_encode(v, blobs, depth + 1) for v in value]}
    if isinstance(value, list):
        return {"list": [_encode(v, blobs, depth + 1) for v in value]}
    if isinstance(value, dict):
        return {"dict": [[_encode(k, blobs, depth + 1), _encode(v, blobs, depth + 1)]
                         for k, v in value.items()]}
    try:
        import numpy as np
        if isinstance(value, np.generic):
            return _encode(value.item(), blobs, depth)
        if isinstance(value, np.ndarray):
            return _encode(torch.from_numpy(value), blobs, depth)
    except ImportError:  # pragma: no cover
        pass
    try:
        text = object.__repr__(value)
    except Exception:  # noqa: BLE001
        text = "?"
    return {"opaque": [type(value).__qualname__, text[:200]]}


def encode(message: dict[str, Any]) -> bytes:
    """Serialise a message whose values may contain tensors."""
    blobs: list[bytes] = []
    body = {k: _encode(v, blobs, 0) for k, v in message.items()}
    body["_blobs"] = [len(b) for b in blobs]
    header = json.dumps(body).encode()
    return struct.pack(">Q", len(header)) + header + b"".join(blobs)


def _decode(node: Any, blobs: list[memoryview], depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise ProtocolError("value nested too deeply")
    if node is None or isinstance(node, (bool, str)):
        return node
    if not isinstance(node, dict) or len(node) != 1:
        raise ProtocolError(f"malformed value {str(node)[:60]}")
    (tag, body), = node.items()
    if tag == "int":
        if not isinstance(body, str) or len(body) > 400:
            raise ProtocolError("malformed int")
        return int(body)
    if tag == "float":
        if not isinstance(body, str) or len(body) > 40:
            raise ProtocolError("malformed float")
        return float(body)
    if tag in ("list", "tuple"):
        if not isinstance(body, list):
            raise ProtocolError("malformed sequence")
        items = [_decode(v, blobs, depth + 1) for v in body]
        return items if tag == "list" else tuple(items)
    if tag == "dict":
        if not isinstance(body, list) or not all(isinstance(p, list) and len(p) == 2 for p in body):
            raise ProtocolError("malformed dict")
        out = {}
        for k, v in body:
            key = _decode(k, blobs, depth + 1)
            if not isinstance(key, (str, int, bool, type(None), float)):
                raise ProtocolError("unhashable dict key")
            out[key] = _decode(v, blobs, depth + 1)
        return out
    if tag == "opaque":
        if not (isinstance(body, list) and len(body) == 2 and all(isinstance(s, str) for s in body)):
            raise ProtocolError("malformed opaque value")
        return Opaque(body[0][:100], body[1][:200])
    if tag == "tensor":
        return _decode_tensor(body, blobs)
    raise ProtocolError(f"unknown tag {tag[:20]!r}")


def _decode_tensor(meta: Any, blobs: list[memoryview]) -> torch.Tensor:
    if not isinstance(meta, dict):
        raise ProtocolError("malformed tensor")
    dtype = DTYPES.get(meta.get("dtype"))  # type: ignore[arg-type]
    shape = meta.get("shape")
    device = meta.get("device")
    if not isinstance(shape, list) or not all(isinstance(s, int) and 0 <= s for s in shape) or len(shape) > 16:
        raise ProtocolError("malformed tensor shape")
    numel = math.prod(shape)
    if numel > MAX_NUMEL:
        raise ProtocolError(f"tensor too large ({numel} elements)")
    if not isinstance(device, str) or len(device) > 32:
        raise ProtocolError("malformed tensor device")
    blob = meta.get("blob")
    if blob is None:
        if dtype is None:
            # A dtype the codec does not carry (complex, float8, ...): nothing to compare it with.
            name = str(meta.get("dtype"))[:30]
            return Opaque("Tensor", f"tensor of dtype {name}, shape {tuple(shape)} (a dtype the grader does not read)")
        # A meta tensor comes back as a shape-only stand-in (checking.py never counts it as values).
        return torch.empty(shape, dtype=dtype, device="meta")
    if dtype is None or not isinstance(blob, int) or not 0 <= blob < len(blobs):
        raise ProtocolError("malformed tensor data")
    raw = blobs[blob]
    itemsize = torch.empty((), dtype=dtype).element_size()
    if len(raw) != numel * itemsize:
        raise ProtocolError("tensor byte count does not match its shape")
    if numel == 0:
        return torch.empty(shape, dtype=dtype)
    store = torch.int16 if dtype == torch.bfloat16 else dtype
    # One copy, owned by the tensor (no clone on top: a large reply would cost its size three times).
    flat = torch.frombuffer(bytearray(raw), dtype=store)
    return flat.view(dtype).reshape(shape)


def decode(payload: bytes) -> dict[str, Any]:
    """Rebuild a message; raises ProtocolError on anything malformed."""
    if len(payload) < 8:
        raise ProtocolError("truncated message")
    (hlen,) = struct.unpack(">Q", payload[:8])
    if hlen > MAX_HEADER or 8 + hlen > len(payload):
        raise ProtocolError("bad header length")
    try:
        body = json.loads(payload[8:8 + hlen])
    except (ValueError, RecursionError) as err:
        raise ProtocolError(f"header is not JSON: {err}") from None
    if not isinstance(body, dict):
        raise ProtocolError("header is not an object")
    sizes = body.pop("_blobs", None)
    if not isinstance(sizes, list) or not all(isinstance(s, int) and s >= 0 for s in sizes):
        raise ProtocolError("malformed blob table")
    if 8 + hlen + sum(sizes) != len(payload):
        raise ProtocolError("blob sizes do not add up")
    view = memoryview(payload)
    blobs, pos = [], 8 + hlen
    for s in sizes:
        blobs.append(view[pos:pos + s])
        pos += s
    return {str(k): _decode(v, blobs, 0) for k, v in body.items()}


# --- framing over a stream socket -------------------------------------------------

def send(sock: socket.socket, message: dict[str, Any]) -> None:
    data = encode(message)
    sock.sendall(struct.pack(">Q", len(data)) + data)


Deadline = Union[float, Callable[[], float], None]


def recv_exact(sock: socket.socket, n: int, deadline: Deadline = None) -> bytes:
    """``n`` bytes; with ``deadline`` (a ``time.monotonic()`` value), all of them by then: a
    socket timeout alone restarts with every byte, so a peer dripping one byte at a time
    would never run out of it. A callable deadline is asked again when it is reached (it may
    have moved: see grader.cpu_wait)."""
    chunks, got = [], 0
    while got < n:
        if deadline is not None:
            left = (deadline() if callable(deadline) else deadline) - time.monotonic()
            if left <= 0:
                raise socket.timeout("the answer did not arrive in time")
            sock.settimeout(left)
        try:
            chunk = sock.recv(min(n - got, 1 << 20))
        except socket.timeout:
            if callable(deadline):
                continue
            raise
        if not chunk:
            raise EOFError("peer closed the connection")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def recv(sock: socket.socket, deadline: Deadline = None) -> dict[str, Any]:
    (n,) = struct.unpack(">Q", recv_exact(sock, 8, deadline))
    if n > MAX_HEADER + MAX_BLOBS + 8:
        raise ProtocolError(f"message too large ({n} bytes)")
    return decode(recv_exact(sock, n, deadline))
