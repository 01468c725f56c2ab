"""An account's ``options:`` read through the pydantic model its broker declares
(``AdapterSpec.options``), every refusal said in one line: the account, the key, what is wrong,
and for an unknown key the keys the broker knows."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


def read_options(
    model: type[M], account: Any, broker: str = "", *, where: str = "", required: Mapping[str, str] | None = None
) -> M:
    """``account.options`` as ``model``, or ValueError with one line. ``broker`` names the options
    ("unknown Rithmic option(s) ..."); ``required``: key -> what to write, for a missing key."""
    try:
        return model.model_validate(dict(account.options or {}))
    except ValidationError as exc:
        raise ValueError(
            f"{where or f'account {account.name}'}: {option_problem(exc, model, broker, required)}"
        ) from None


def option_problem(
    exc: ValidationError, model: type[BaseModel], broker: str = "", required: Mapping[str, str] | None = None
) -> str:
    """The first thing wrong with a set of options, in a trader's words."""
    errors = exc.errors()
    unknown = sorted(str(e["loc"][0]) for e in errors if e["type"] == "extra_forbidden" and e["loc"])
    if unknown:
        known = ", ".join(sorted(model.model_fields))
        kind = f"{broker} option(s)" if broker else "option(s)"
        return f"unknown {kind} {', '.join(unknown)}; known: {known}"
    first = errors[0]
    key = str(first["loc"][0]) if first["loc"] else ""
    if first["type"] == "missing" and required and key in required:
        return f"options.{key} is required: {required[key]}"
    text = str(first["msg"]).removeprefix("Value error, ").replace("Input should be", "must be")
    return f"options.{key}: {text}" if key else text
