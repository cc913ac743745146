"""The model registry: each architecture registers its builder under its name,
with the input shape it was designed for (one image, no batch axis)."""

import numbers

_BUILDERS = {}
_INPUT_SHAPES = {}


def register(builder=None, *, name=None, input_shape=None):
    """Decorator: ``@register`` adds a builder under its function name (or ``name``);
    ``input_shape`` is the model's native (C, H, W)."""
    def add(fn):
        key = name or fn.__name__
        if key in _BUILDERS:
            raise ValueError(f"models.register: {key!r} is registered twice")
        _BUILDERS[key] = fn
        if input_shape is not None:
            _INPUT_SHAPES[key] = tuple(input_shape)
        return fn
    return add(builder) if builder is not None else add


def list_models():
    """The registered model names, sorted."""
    return sorted(_BUILDERS)


def get(name, **kwargs):
    """Build the model called ``name`` with the builder's keyword arguments."""
    _check_known(name)
    for argument in ("num_classes", "in_channels"):
        if argument in kwargs:
            value = kwargs[argument]
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise TypeError(f"models.get({name!r}): {argument} must be an int, got {value!r}")
            if value < 1:
                raise ValueError(f"models.get({name!r}): {argument} must be >= 1, got {value!r}")
    return _BUILDERS[name](**kwargs)


def input_shape(name):
    """The (C, H, W) input the model ``name`` was designed for, e.g. (3, 224, 224).

    >>> import minidl as md
    >>> md.models.input_shape("alexnet"), md.models.input_shape("resnet20")
    ((3, 227, 227), (3, 32, 32))
    """
    _check_known(name)
    if name not in _INPUT_SHAPES:
        raise ValueError(f"models.input_shape: {name!r} was registered without an input_shape")
    return _INPUT_SHAPES[name]


def _check_known(name):
    if name not in _BUILDERS:
        raise ValueError(f"models.get: unknown model {name!r}; known models: {', '.join(list_models())}")
