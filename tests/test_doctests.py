"""The doctests of minidl.kernels and minidl.models, found by the names they are installed under.

pytest's ``--doctest-modules`` collects minidl/ itself (there the path is the
installed name); kernels/ and models/ live at the top of the repository, so the
root conftest.py keeps pytest from importing them by path, and this file runs
their docstrings' examples from the modules users import.
"""

import doctest
import importlib
import pkgutil

import pytest

import minidl.kernels
import minidl.models


def _modules(package):
    yield package.__name__
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        yield info.name


def _examples():
    finder = doctest.DocTestFinder()
    for name in [*_modules(minidl.kernels), *_modules(minidl.models)]:
        module = importlib.import_module(name)
        for test in finder.find(module, name):
            if test.examples:
                yield pytest.param(test, id=test.name)


@pytest.mark.parametrize("test", list(_examples()))
def test_docstring_examples(test):
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    results = runner.run(test, out=lambda text: pytest.fail(text, pytrace=False))
    assert results.failed == 0 and results.attempted == len(test.examples)


def test_every_module_is_imported_once():
    import sys

    assert not any(name == "models" or name.startswith(("models.", "kernels.")) or name == "kernels"
                   for name in sys.modules), "kernels/ or models/ imported under a second name"
