"""Hook tables and their handles, shared by Tensor (gradient hooks) and Module.

A hook is registered in a table (an ordered dict, so hooks run in the order
they were registered) and a ``RemovableHandle`` takes it out again, as
PyTorch's ``torch.utils.hooks.RemovableHandle`` does.

>>> table = {}
>>> handle = add_hook(table, print)
>>> list(table.values())
[<built-in function print>]
>>> handle.remove(); handle.remove()  # removing twice is harmless
>>> table
{}
"""

import itertools

_keys = itertools.count()


class RemovableHandle:
    """What ``register_*_hook`` returns: ``.remove()`` unregisters the hook.

    The handle holds its table, not the tensor or module, so keeping a handle
    keeps no graph alive.
    """

    def __init__(self, table, key):
        self._table, self._key = table, key

    def remove(self):
        self._table.pop(self._key, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()
        return False


def add_hook(table, hook):
    """Put ``hook`` last in ``table`` and return its handle."""
    if not callable(hook):
        raise TypeError(f"register hook: a hook must be callable, got {type(hook).__name__}")
    key = next(_keys)
    table[key] = hook
    return RemovableHandle(table, key)
