"""The model registry: each architecture registers its builder under its name."""

_BUILDERS = {}


def register(builder=None, *, name=None):
    """Decorator: ``@register`` adds a builder under its function name (or ``name``)."""
    def add(fn):
        key = name or fn.__name__
        if key in _BUILDERS and not _same_source(_BUILDERS[key], fn):
            raise ValueError(f"models.register: {key!r} is registered twice")
        _BUILDERS[key] = fn
        return fn
    return add(builder) if builder is not None else add


def _same_source(a, b):
    """One builder imported under two module names (a doctest run imports files by path)."""
    code_a, code_b = getattr(a, "__code__", None), getattr(b, "__code__", None)
    return code_a is not None and code_b is not None and (
        (code_a.co_filename, code_a.co_firstlineno) == (code_b.co_filename, code_b.co_firstlineno)
    )


def list_models():
    """The registered model names, sorted."""
    return sorted(_BUILDERS)


def get(name, **kwargs):
    """Build the model called ``name`` with the builder's keyword arguments."""
    if name not in _BUILDERS:
        raise ValueError(f"models.get: unknown model {name!r}; known models: {', '.join(list_models())}")
    return _BUILDERS[name](**kwargs)
