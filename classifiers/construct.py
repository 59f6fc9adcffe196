"""Building trusted pydantic models without validation, cheaply.

The classifier builds an `Outcome` and its `LegOutcome`s from values it produced itself, once
per classification, and the processor re-classifies whole sessions on every new event: pydantic's
validation (or even `model_construct`, which resolves aliases and defaults field by field) is a
large share of the cost. `construct` sets the instance state exactly as `model_construct` does
for a model without aliases, private attributes or post-init hooks, and falls back to
`model_construct` for any other model. Tests check the result equals a validated model.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

Model = TypeVar("Model", bound=BaseModel)

_set = object.__setattr__


def _is_plain(model: type[BaseModel]) -> bool:
    return (
        not model.__private_attributes__
        and model.__pydantic_post_init__ is None
        and not model.__pydantic_root_model__
        and all(
            field.alias is None and field.validation_alias is None
            for field in model.model_fields.values()
        )
    )


_PLAIN: dict[type[BaseModel], frozenset[str]] = {}


def construct(model: type[Model], values: dict[str, Any]) -> Model:
    """An instance of `model` holding `values` (every field given, already of the right type)."""
    names = _PLAIN.get(model)
    if names is None:
        if not _is_plain(model):
            return model.model_construct(**values)
        names = _PLAIN[model] = frozenset(model.model_fields)
    if values.keys() != names:
        return model.model_construct(**values)
    instance = model.__new__(model)
    _set(instance, "__dict__", values)
    _set(instance, "__pydantic_fields_set__", set(names))
    _set(instance, "__pydantic_extra__", None)
    _set(instance, "__pydantic_private__", None)
    return instance
