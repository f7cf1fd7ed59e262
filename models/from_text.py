"""Build a network from text (RC-8): a layer list, or the repr that ``print(model)`` writes.

Two small, safe parsers: nothing read is ever evaluated as Python. A layer list is tokenised with
regular expressions against a fixed vocabulary; a repr is read line by line, the module name checked
against a whitelist of torch classes and its arguments parsed as literals (numbers, booleans, None,
quoted strings, tuples) before they reach the constructor. Unknown input raises ``ValueError`` naming
the bad token or line and what is allowed.

Layer list (comma-separated, case-insensitive), input shape given separately as (C, H, W) or (F,)::

    conv3x3-32, bn, relu, maxpool2, conv3x3-64, relu, gap, linear-10

Convolutions pad to keep the size ("same", odd kernels), pools use stride = kernel; ``bn`` is
BatchNorm2d on images and BatchNorm1d on features; ``gap`` is global average pooling plus flatten.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Sequence

from torch import nn

LAYER_GRAMMAR = ("conv<k>x<k>-<out> (odd k), linear-<out>, bn, relu, tanh, sigmoid, gelu, maxpool<k>, "
                 "avgpool<k>, gap, flatten, dropout-<p>")

_TOKENS: list[tuple[str, re.Pattern[str]]] = [
    (name, re.compile(pattern)) for name, pattern in [
        ("conv", r"conv(\d+)x(\d+)-(\d+)"), ("linear", r"linear-(\d+)"), ("bn", r"bn"),
        ("act", r"(relu|tanh|sigmoid|gelu)"), ("pool", r"(max|avg)pool(\d+)"), ("gap", r"gap"),
        ("flatten", r"flatten"), ("dropout", r"dropout-(0(?:\.\d+)?|1(?:\.0*)?)")]]
_ACTS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU}

Shape = tuple[int, ...]


def _layer_error(token: str, position: int, why: str) -> ValueError:
    return ValueError(f"layer {position} {token!r}: {why}")


def _image(token: str, position: int, shape: Shape) -> Shape:
    if len(shape) != 3:
        raise _layer_error(token, position, f"needs an image input (C, H, W) but gets features {shape}; "
                                            "put it before gap/flatten")
    return shape


def _one_layer(token: str, position: int, shape: Shape) -> tuple[list[nn.Module], Shape]:
    """The modules for one token and the shape after them."""
    for kind, pattern in _TOKENS:
        m = pattern.fullmatch(token)
        if m is None:
            continue
        if kind == "conv":
            k, k2, out = (int(g) for g in m.groups())
            c, h, w = _image(token, position, shape)
            if k != k2 or k % 2 == 0 or out < 1:
                raise _layer_error(token, position, "needs a square odd kernel and >= 1 output channels")
            return [nn.Conv2d(c, out, k, padding=k // 2)], (out, h, w)
        if kind == "linear":
            out = int(m.group(1))
            if len(shape) != 1 or out < 1:
                raise _layer_error(token, position, f"needs flat features and >= 1 outputs, gets shape {shape}; "
                                                    "add gap or flatten before it")
            return [nn.Linear(shape[0], out)], (out,)
        if kind == "bn":
            return [nn.BatchNorm2d(shape[0]) if len(shape) == 3 else nn.BatchNorm1d(shape[0])], shape
        if kind == "act":
            return [_ACTS[m.group(1)]()], shape
        if kind == "pool":
            k = int(m.group(2))
            c, h, w = _image(token, position, shape)
            if not 1 <= k <= min(h, w):
                raise _layer_error(token, position, f"kernel {k} must be between 1 and the input size {h}x{w}")
            pool = nn.MaxPool2d(k) if m.group(1) == "max" else nn.AvgPool2d(k)
            return [pool], (c, h // k, w // k)
        if kind == "gap":
            c = _image(token, position, shape)[0]
            return [nn.AdaptiveAvgPool2d(1), nn.Flatten()], (c,)
        if kind == "flatten":
            n = 1
            for d in shape:
                n *= d
            return [nn.Flatten()], (n,)
        return [nn.Dropout(float(m.group(1)))], shape
    raise _layer_error(token, position, f"unknown layer; allowed: {LAYER_GRAMMAR}")


def from_layers(text: str, in_shape: Sequence[int]) -> nn.Sequential:
    """An nn.Sequential from a comma-separated layer list, for inputs of shape ``in_shape`` (no batch dim)."""
    shape = tuple(in_shape)
    if len(shape) not in (1, 3) or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in shape):
        raise ValueError(f"in_shape={in_shape!r} is not allowed: give (C, H, W) or (F,) with integers >= 1")
    tokens = [t.strip().lower() for t in text.split(",")]
    if not text.strip() or any(not t for t in tokens):
        raise ValueError(f"empty layer in {text!r}: write layers separated by single commas; allowed: {LAYER_GRAMMAR}")
    modules: list[nn.Module] = []
    for position, token in enumerate(tokens):
        new, shape = _one_layer(token, position, shape)
        modules.extend(new)
    return nn.Sequential(*modules)


# -- print(model) -------------------------------------------------------------------------------
REPR_MODULES: dict[str, type[nn.Module]] = {cls.__name__: cls for cls in (
    nn.Conv2d, nn.Linear, nn.BatchNorm1d, nn.BatchNorm2d, nn.ReLU, nn.Tanh, nn.Sigmoid, nn.GELU, nn.MaxPool2d,
    nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.Flatten, nn.Dropout, nn.Identity)}
_LINE = re.compile(r"\s*\((\d+)\):\s*([A-Za-z_]\w*)\((.*)\)\s*")
_LEX = re.compile(r"\s*(?:(?P<num>-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)|(?P<name>[A-Za-z_]\w*)|(?P<str>'[^'\\]*')"
                  r"|(?P<punct>[(),=]))")
_CONSTANTS = {"True": True, "False": False, "None": None}


def _lex(text: str, where: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    while pos < len(text.rstrip()):
        m = _LEX.match(text, pos)
        if m is None or m.end() == pos:
            raise ValueError(f"{where}: cannot read {text[pos:].strip()!r}; arguments may be numbers, True, False, "
                             "None, 'strings' or tuples of those")
        kind = m.lastgroup or ""
        tokens.append((kind, m.group(kind)))
        pos = m.end()
    return tokens


def _value(tokens: list[tuple[str, str]], i: int, where: str) -> tuple[object, int]:
    kind, text = tokens[i]
    if kind == "num":
        return (float(text) if any(c in text for c in ".eE") else int(text)), i + 1
    if kind == "str":
        return text[1:-1], i + 1
    if kind == "name" and text in _CONSTANTS:
        return _CONSTANTS[text], i + 1
    if text == "(":
        items, i = [], i + 1
        while tokens[i][1] != ")":
            item, i = _value(tokens, i, where)
            items.append(item)
            if tokens[i][1] == ",":
                i += 1
        return tuple(items), i + 1
    raise ValueError(f"{where}: {text!r} is not a literal; allowed: numbers, True, False, None, 'strings', tuples")


def _arguments(text: str, where: str) -> tuple[list[object], dict[str, object]]:
    tokens = _lex(text, where) + [("end", "")]
    args: list[object] = []
    kwargs: dict[str, object] = {}
    i = 0
    try:
        while tokens[i][0] != "end":
            if tokens[i][0] == "name" and tokens[i + 1][1] == "=":
                key = tokens[i][1]
                kwargs[key], i = _value(tokens, i + 2, where)
            elif kwargs:
                raise ValueError(f"{where}: a positional argument follows keyword arguments")
            else:
                value, i = _value(tokens, i, where)
                args.append(value)
            if tokens[i][1] == ",":
                i += 1
            elif tokens[i][0] != "end":
                raise ValueError(f"{where}: expected ',' or the end of the arguments, found {tokens[i][1]!r}")
    except IndexError:
        raise ValueError(f"{where}: unbalanced parentheses in {text!r}") from None
    return args, kwargs


def from_repr(text: str) -> nn.Sequential:
    """Rebuild an nn.Sequential (flat, whitelisted modules) from its printed repr."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if len(lines) < 2 or lines[0].strip() != "Sequential(" or lines[-1].strip() != ")":
        raise ValueError("a printed model must start with 'Sequential(' and end with ')' "
                         f"(a flat nn.Sequential); got {text.strip()[:60]!r}")
    modules: list[nn.Module] = []
    for number, line in enumerate(lines[1:-1], start=2):
        m = _LINE.fullmatch(line)
        if m is None:
            raise ValueError(f"line {number} {line.strip()!r}: expected '(<index>): <Module>(<arguments>)'; "
                             "nested modules are not supported")
        index, name, arguments = int(m.group(1)), m.group(2), m.group(3)
        where = f"line {number} ({name})"
        if index != len(modules):
            raise ValueError(f"line {number}: index ({index}) out of order, expected ({len(modules)})")
        if name not in REPR_MODULES:
            raise ValueError(f"{where}: module {name!r} is not allowed; allowed: {', '.join(REPR_MODULES)}")
        cls = REPR_MODULES[name]
        args, kwargs = _arguments(arguments, where)
        try:
            inspect.signature(cls).bind(*args, **kwargs)
            modules.append(cls(*args, **kwargs))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}: arguments {arguments!r} do not fit {name}: {exc}") from None
    return nn.Sequential(*modules)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
