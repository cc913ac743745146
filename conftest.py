"""pytest from the repository root: kernels/ and models/ are left to tests/test_doctests.py.

They install as ``minidl.kernels`` and ``minidl.models`` (setuptools ``package-dir``).
Collected by path, ``--doctest-modules`` would import each of their files a second
time, as ``kernels.cpu.lrn`` or ``models.lenet``: two copies of every model class, and
every model registered twice. tests/test_doctests.py runs their doctests by the
installed names instead, so each module is imported once.
"""

collect_ignore = ["kernels", "models"]
