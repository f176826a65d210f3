"""The base of every object in the setup document: unknown keys refused, rules spanning several values run even
when some are invalid, and every problem reported as "path: message" with its place in the file."""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Annotated, Any, ClassVar, get_args, get_origin

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError, model_validator
from pydantic_core import PydanticCustomError

Loc = tuple[str | int, ...]
Problem = tuple[Loc, str, int | None]  # where, what, and the index of the sibling it refers to ("<sibling>")


class _Bad:
    """A value that failed its own check: rules spanning several values skip it (its problem is reported)."""

    def __repr__(self) -> str:
        return "<invalid>"


BAD = _Bad()


def _suggestion(key: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(key, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def good(*values: Any) -> bool:
    return all(value is not BAD and value is not None for value in values)


def after(row: Mapping[str, Any], first: str, second: str, *, inclusive: bool = False) -> Iterator[Problem]:
    a, b = row.get(first), row.get(second)
    if good(a, b) and (b < a if inclusive else b <= a):
        yield (second,), f"must be {'on or after' if inclusive else 'after'} {first} ({a})", None


def overlaps(loc: Loc, intervals: Any) -> Iterator[Problem]:
    """Each interval that overlaps an earlier one of the same list; touching is fine."""
    if not good(intervals):
        return
    seen: list[tuple[int, list[str]]] = []
    for index, pair in enumerate(intervals):
        if not good(pair):
            continue
        for other, (starts, ends) in seen:
            if pair[0] < ends and starts < pair[1]:
                yield (*loc, index), f"overlaps <sibling> ({starts}-{ends})", other
                break
        seen.append((index, pair))


def duplicates(loc: Loc, items: Any, key: Callable[[Any], Any], label: str) -> Iterator[Problem]:
    first: dict[Any, int] = {}
    for index, item in enumerate(items if good(items) else []):
        value = key(item) if good(item) else BAD
        if not good(value) or (isinstance(value, tuple) and not all(good(v) for v in value)):
            continue
        if value in first:
            shown = value[0] if isinstance(value, tuple) and len(value) == 1 else value
            yield (*loc, index), f"duplicate {label} {shown!r} (also <sibling>)", first[value]
        else:
            first[value] = index


class Part(BaseModel):
    """A JSON object of the document: unknown keys refused, every problem named with its place."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    # Nested rows always hold every field (defaults filled); top-level entities are patches.
    complete: ClassVar[bool] = True
    not_an_object: ClassVar[str] = "must be an object"

    @classmethod
    def rules(cls, values: dict[str, Any]) -> Iterator[Problem]:
        """Rules that span several values; ``values`` holds the valid ones (``BAD`` marks the rest)."""
        return iter(())

    @classmethod
    def _rules(cls, values: dict[str, Any]) -> Iterator[Problem]:
        for name, info in cls.model_fields.items():
            if info.json_schema_extra == {"uniqueItems": True}:
                yield from repeated(name, values.get(name))
        yield from cls.rules(values)

    @classmethod
    def unknown_key(cls, key: str) -> str:
        return f"unknown key{_suggestion(key, [f.alias or n for n, f in cls.model_fields.items()])}"

    @model_validator(mode="wrap")
    @classmethod
    def _every_problem(cls, data: Any, handler: Callable[[Any], Any]) -> Any:
        try:
            part = handler(data)
        except ValidationError as exc:
            problems = [cls._own(error) for error in exc.errors()]
            if isinstance(data, dict):
                problems += _line_errors(cls._rules(cls._partial(data, exc)), data)
            raise ValidationError.from_exception_data(cls.__name__, problems) from None
        if found := _line_errors(cls._rules(dict(part.__dict__)), data):
            raise ValidationError.from_exception_data(cls.__name__, found)
        if cls.complete:
            part.__pydantic_fields_set__.update(cls.model_fields)
        return part

    @classmethod
    def _own(cls, error: Any) -> dict[str, Any]:
        """One error in the document's words (errors of nested parts were worded there already)."""
        kind, loc, ctx = error["type"], error["loc"], error.get("ctx")
        if kind == "missing":
            message = "is required"
        elif kind == "extra_forbidden":
            message = cls.unknown_key(str(loc[-1]))
        elif kind == "model_type" or kind == "dict_type":
            message = cls.not_an_object
        elif kind == "list_type":
            message = "must be a list"
        elif kind == "too_short":
            message = "must not be empty"
        else:
            message = error["msg"]
        return {"type": PydanticCustomError("setup", message, ctx), "loc": loc, "input": error.get("input")}

    @classmethod
    def _partial(cls, data: dict[str, Any], exc: ValidationError) -> dict[str, Any]:
        """The valid values of a refused object, so that its rules still report their own problems."""
        failed = {error["loc"][0] for error in exc.errors() if error["loc"]}
        values: dict[str, Any] = {}
        for name, info in cls.model_fields.items():
            key = info.alias or name
            if key not in data:
                values[name] = None if info.is_required() else info.get_default(call_default_factory=True)
            elif key not in failed:
                values[name] = _adapter(cls, name).validate_python(data[key])
            elif (item := _item_type(info.annotation)) is not None and isinstance(data[key], list):
                values[name] = [_valid_or_bad(item, element) for element in data[key]]
            else:
                values[name] = BAD
        return values


@functools.cache
def _adapter(cls: type[BaseModel], name: str) -> TypeAdapter[Any]:
    info = cls.model_fields[name]
    return TypeAdapter(Annotated[info.annotation, *info.metadata] if info.metadata else info.annotation)


def _item_type(annotation: Any) -> Any:
    """``X`` for ``list[X]``, else None."""
    return get_args(annotation)[0] if get_origin(annotation) is list else None


def _valid_or_bad(item: Any, value: Any) -> Any:
    try:
        return TypeAdapter(item).validate_python(value)
    except ValidationError:
        return BAD


def _line_errors(problems: Iterable[Problem], data: Any) -> list[dict[str, Any]]:
    return [{"type": PydanticCustomError("setup", message, None if sibling is None else {"sibling": sibling}),
             "loc": loc, "input": data} for loc, message, sibling in problems]


def _path(loc: Loc) -> str:
    """``("experts", 1, "weekly", 0)`` as ``experts[1].weekly[0]``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part != "[key]":
            text += f".{part}" if text else str(part)
    return text or "document"


def problem_texts(exc: ValidationError) -> list[str]:
    """Every problem of a refused document as "path: message", a sibling it mentions by its path too."""
    problems = []
    for error in exc.errors():
        message = error["msg"]
        sibling = (error.get("ctx") or {}).get("sibling")
        if sibling is not None:
            message = message.replace("<sibling>", _path((*error["loc"][:-1], sibling)))
        problems.append(f"{_path(error['loc'])}: {message}")
    return problems


def repeated(field: str, items: Any) -> Iterator[Problem]:
    seen: set[Any] = set()
    for index, item in enumerate(items if good(items) else []):
        if good(item) and item in seen:
            yield (field, index), f"{item!r} is listed twice", None
        seen.add(item)
