"""Frozen config dataclasses to and from plain JSON: one `to_dict`, `from_dict` and `update` for all of them.

A config is a frozen dataclass whose fields are plain values, tuples, (key, value) pair tuples
(fields annotated ``tuple[tuple[str, Any], ...]``, written as JSON objects) or other configs (a
field whose default is a config nests it, as big_vision nests its ``ConfigDict``s).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

from jaxpelsvae.errors import ConfigError

C = TypeVar("C")


def is_config(value: Any) -> bool:
    """Whether `value` is a config instance (a dataclass instance, not a class)."""
    return dataclasses.is_dataclass(value) and not isinstance(value, type)


def require_positive(config, names, *, label: str = "") -> None:
    """ConfigError for the first field of ``names`` of ``config`` below 1 (counts, sizes, lengths):
    "{label}{name} must be >= 1, got {value}"."""
    for name in names:
        value = getattr(config, name)
        if int(value) < 1:
            raise ConfigError(f"{label}{name} must be >= 1, got {value}")


def _is_pairs(field: dataclasses.Field) -> bool:
    # With `from __future__ import annotations` field.type is the annotation's text.
    return str(field.type).replace(" ", "").startswith("tuple[tuple[str,")


def _tuples(value: Any) -> Any:
    """JSON lists as tuples, recursively: a frozen config stays hashable and compares equal after a round trip."""
    if isinstance(value, (list, tuple)):
        return tuple(_tuples(v) for v in value)
    return value


def _plain(value: Any) -> Any:
    if is_config(value):
        return to_dict(value)
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def to_dict(config) -> dict[str, Any]:
    """Plain JSON of a config: nested configs as objects, tuples as lists, pair tuples as objects."""
    out = {}
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        out[field.name] = ({k: _plain(v) for k, v in value} if _is_pairs(field) and isinstance(value, tuple)
                           else _plain(value))
    return out


def _value(config, field: dataclasses.Field, value: Any) -> Any:
    """The new value of `field`: a mapping updates a nested config field by field (and fills a pair
    field, sorted); lists become tuples."""
    current = getattr(config, field.name)
    if is_config(current) and isinstance(value, Mapping):
        return update(current, value)
    if _is_pairs(field) and isinstance(value, Mapping):
        return tuple(sorted((str(k), _tuples(v)) for k, v in value.items()))
    return _tuples(value)


def update(config: C, changes: Mapping[str, Any]) -> C:
    """A copy of `config` with `changes`: {field: value}, {nested: {field: value}} (only the given
    fields of the nested config change) or dotted paths {"nested.field": value}. Unknown names are
    a ConfigError that lists the known ones; the configs' own checks run on the result."""
    if not isinstance(changes, Mapping):
        raise ConfigError(f"{type(config).__name__}: expected an object of settings, got {type(changes).__name__}")
    flat: dict[str, Any] = {k: v for k, v in changes.items() if "." not in str(k)}
    for key, value in changes.items():
        head, dot, rest = str(key).partition(".")
        if not dot:
            continue
        if not isinstance(flat.get(head, {}), Mapping):
            raise ConfigError(f"{type(config).__name__}: {head} is given whole and as {head}.<field>; give one")
        flat[head] = {**flat.get(head, {}), rest: value}
    fields = {f.name: f for f in dataclasses.fields(config) if f.init}
    unknown = sorted(set(flat) - set(fields))
    if unknown:
        raise ConfigError(f"unknown {type(config).__name__} settings {unknown}; known: {sorted(fields)}")
    return dataclasses.replace(config, **{k: _value(config, fields[k], v) for k, v in flat.items()})


def from_dict(cls: type[C], d: Mapping[str, Any]) -> C:
    """`cls` from plain JSON (as `to_dict` writes it, possibly partial): the defaults updated with `d`."""
    return update(cls(), d)


def get(config, path: str) -> Any:
    """The value at a dotted path, e.g. get(cfg, "regulator.epochs") (a field, or a property that
    names a setting where it lives, as ExperimentConfig.regulator does)."""
    value = config
    for name in path.split("."):
        named = name in {f.name for f in dataclasses.fields(value)} if is_config(value) else False
        if not (named or (is_config(value) and isinstance(getattr(type(value), name, None), property))):
            raise ConfigError(f"{type(config).__name__} has no setting {path!r}")
        value = getattr(value, name)
    return value
