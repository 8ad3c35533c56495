"""Every exception class of the relay lives in relay/errors.py and is drawn in its tree."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import relay
from relay import errors

# The screening package owns the errors that name its own data files.
SCREENING = ("relay.screening", "relay._screening")


def test_every_exception_class_is_in_errors_and_in_its_tree() -> None:
    """No module but relay.errors defines an exception; the docstring tree names each one."""
    elsewhere = []
    for module_info in pkgutil.iter_modules(relay.__path__, "relay."):
        if module_info.name.startswith(SCREENING) or module_info.name == "relay.__main__":
            continue
        module = importlib.import_module(module_info.name)
        for name, obj in vars(module).items():
            if (
                inspect.isclass(obj)
                and issubclass(obj, BaseException)
                and obj.__module__ == module.__name__
                and module is not errors
            ):
                elsewhere.append(f"{module.__name__}.{name}")
    assert elsewhere == []
    defined = [
        name
        for name, obj in vars(errors).items()
        if inspect.isclass(obj)
        and issubclass(obj, BaseException)
        and obj.__module__ == errors.__name__
    ]
    assert len(defined) >= 9
    tree = errors.__doc__ or ""
    assert all(re.search(rf"-- {name}\b", tree) for name in defined), defined
