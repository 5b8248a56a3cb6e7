"""Conversion between `google.protobuf.Struct` and plain JSON-like Python values."""

from __future__ import annotations

from typing import Any

from google.protobuf.struct_pb2 import ListValue, Struct, Value

# Doubles beyond 2**53 are not exact integers any more; leave them as floats.
_MAX_EXACT_INT = 2**53


def struct_to_dict(struct: Struct) -> dict[str, Any]:
    """Return `struct` as a dict; integral numbers become `int`.

    Struct carries every number as a double (`{"n": 3}` arrives as 3.0). Integer command
    parameters must see an `int`, so any finite integral double within ±2**53 is converted.
    """
    return {key: _from_value(value) for key, value in struct.fields.items()}


def dict_to_struct(data: dict[str, Any], what: str) -> Struct:
    """Return `data` as a `Struct`.

    Args:
        data: A JSON-like mapping (str keys; dict, list, tuple, str, int, float, bool, None).
        what: Names the message in the error text.

    Raises:
        ValueError: `data` holds something a Struct cannot carry.
    """
    struct = Struct()
    try:
        struct.update(data)
    except (TypeError, ValueError, AttributeError, RecursionError) as exc:
        raise ValueError(f"{what} cannot be carried as a protobuf Struct: {exc}") from exc
    return struct


def _from_value(value: Value) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "number_value":
        number = value.number_value
        if number.is_integer() and abs(number) <= _MAX_EXACT_INT:
            return int(number)
        return number
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "struct_value":
        return struct_to_dict(value.struct_value)
    if kind == "list_value":
        return _from_list(value.list_value)
    # null_value, or an unset Value (which JSON would call null as well).
    return None


def _from_list(values: ListValue) -> list[Any]:
    return [_from_value(item) for item in values.values]
