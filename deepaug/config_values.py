"""Config values that are what they say: the one rule of every config section's values.

pydantic's lax mode converts between kinds: true becomes 1 in an integer field, 1 or "yes"
true in a true/false field, "10" becomes 10. In a config such a conversion is a typo more
often than a wish (YAML 1.1 reads yes, no, on and off as true/false, so `--set
child_epochs=yes` arrives as true), so a `ConfigModel` refuses, before pydantic converts:

- true/false in a field that takes no true/false;
- anything but true/false in a field that takes only true/false;
- text in a field that takes only whole numbers (a field that takes fractions still reads
  numeric text: YAML 1.1 reads 1e-3 as text);
- infinities and NaN in any number field.

Each refusal names the key, the value, what is wrong and what to write (pydantic adds the
key and the value). Seeds are whole numbers in 0..MAX_SEED.
"""
from __future__ import annotations

import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationInfo, field_validator

# What every seed consumer accepts: numpy's RandomState, scikit-learn's random_state (the
# optimizer's) and keras.utils.set_random_seed take 0..2**32 - 1 (SeedSequence takes more).
MAX_SEED = 2**32 - 1


def _seed_range(value: int) -> int:
    if not 0 <= value <= MAX_SEED:
        raise ValueError(f"a seed must be a whole number in 0..{MAX_SEED} (2**32 - 1: what numpy's RandomState, "
                         "scikit-learn's random_state and Keras' set_random_seed accept); write one such as 0")
    return value


Seed = Annotated[int, AfterValidator(_seed_range)]

_YAML_BOOLEANS = "YAML reads yes, no, on, off, true and false as true/false"


class ConfigModel(BaseModel):
    """A pydantic model whose fields refuse values of another kind (see the module docstring)."""

    model_config = ConfigDict(allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _same_kind(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields[info.field_name]
        problem = kind_problem(value, field.annotation, field.default)
        if problem:
            raise ValueError(problem)
        return value


def kind_problem(value: Any, annotation: Any, example: Any = None) -> str | None:
    """Why `value` is of another kind than `annotation` takes (see the module docstring), or None.
    The items of a list or tuple are checked against the item types."""
    kinds = _kinds(annotation)
    if kinds is None:
        return None
    if isinstance(value, (list, tuple)):
        items = _item_annotations(annotation)
        found = (kind_problem(item, items[min(i, len(items) - 1)]) for i, item in enumerate(value)) if items else ()
        return next((f"item {i}: {problem}" for i, problem in enumerate(found) if problem), None)
    wants = _wants(kinds, example)
    if isinstance(value, bool):
        return None if bool in kinds else f"true/false where {wants} is wanted ({_YAML_BOOLEANS}); write {wants}"
    if kinds <= {bool, type(None)}:
        return None if value is None else "true or false is wanted, not another value; write true or false"
    if isinstance(value, str) and not kinds & {str, float} and kinds & {int}:
        return f"text where {wants} is wanted; write {wants}, without quotes"
    return None


def _kinds(annotation: Any) -> set[type] | None:
    """The Python types a field annotation takes (a Literal: its values' types); None for Any."""
    if annotation is Any:
        return None
    origin = get_origin(annotation)
    if origin is Annotated:
        return _kinds(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        parts = [_kinds(arg) for arg in get_args(annotation)]
        return None if any(p is None for p in parts) else set().union(*parts)
    if origin is Literal:
        return {type(arg) for arg in get_args(annotation)}
    return {origin if origin is not None else annotation}


def _item_annotations(annotation: Any) -> tuple[Any, ...]:
    """The item types of the list or tuple a field annotation takes (`tuple[int, ...]`: (int,))."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        return next((items for arg in get_args(annotation) if (items := _item_annotations(arg))), ())
    if origin in (list, tuple):
        return tuple(arg for arg in get_args(annotation) if arg is not Ellipsis)
    return ()


_WORDS = {bool: "true or false", int: "a whole number", float: "a number", str: "text (quoted where it reads as "
           "true/false: 'yes')", list: "a list", tuple: "a list", dict: "a mapping of keys"}


def _wants(kinds: set[type], example: Any) -> str:
    kinds = kinds - {type(None)}
    such = f" such as {example!r}" if isinstance(example, (int, float)) and not isinstance(example, bool) else ""
    if kinds <= {int, float}:
        return f"{_WORDS[float] if float in kinds else _WORDS[int]}{such}"
    return " or ".join(dict.fromkeys(_WORDS.get(k, k.__name__) for k in sorted(kinds, key=lambda k: k.__name__)))
