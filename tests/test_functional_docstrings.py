"""Every op of minidl.functional states its forward formula and the gradient its backward returns."""

import importlib
import inspect
import pkgutil
import re

import minidl as md
import minidl.functional


def _functions():
    for info in pkgutil.iter_modules(minidl.functional.__path__):
        module = importlib.import_module(f"minidl.functional.{info.name}")
        for name, value in vars(module).items():
            if (inspect.isclass(value) and issubclass(value, md.Function) and value.__module__ == module.__name__
                    and not name.startswith("_")):
                yield f"{info.name}.{name}", value


def test_every_function_docstring_gives_the_forward_and_the_gradient():
    functions = dict(_functions())
    assert len(functions) >= 35
    missing = []
    for name, function in functions.items():
        doc = function.__doc__ or ""
        forward = re.search(r"\by(_\w+|\[[^\]]*\])? = ", doc)
        gradient = re.search(r"\bg\w+(\[[^\]]*\])? \+?= ", doc)
        if not (forward and gradient):
            missing.append(name)
    assert missing == []
