"""Hypothesis strategies for testing ops and layers, yours included.

Values are drawn from a seeded NumPy generator (``st.integers`` -> seed), not
element by element: raw element strategies produce duplicates and exact
zeros most of the time, which sits max and relu on their kinks. Helpers here
move values off kinks instead of rejecting examples, and op parameters are
built valid (draw the output size, derive the input size) instead of being
filtered with ``assume``.

>>> from hypothesis import given, settings
>>> import minidl as md
>>> from minidl.testing import strategies as mst
>>> @settings(max_examples=5, deadline=None)
... @given(x=mst.arrays((2, 3)))
... def test_tanh(x):
...     md.testing.gradcheck(md.functional.tanh, md.tensor(x, requires_grad=True))
>>> test_tanh()

Shapes and values compose with ``st.data()`` or ``flatmap``:

>>> from hypothesis import strategies as st
>>> @settings(max_examples=5, deadline=None)
... @given(data=st.data())
... def test_relu(data):
...     shape = data.draw(mst.shapes(max_dims=3))
...     x = data.draw(mst.off_kink_arrays(shape, kinks=(0.0,)))
...     md.testing.gradcheck(md.functional.relu, md.tensor(x, requires_grad=True))
>>> test_relu()
"""

from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp


def seeds():
    """Seeds for ``rng``: hypothesis shrinks a failure to a small seed."""
    return st.integers(min_value=0, max_value=2**32 - 1)


def rng(seed):
    return np.random.default_rng(seed)


def _array(values, dtype):
    # np.asarray keeps a 0-d result an array: md.tensor would turn a NumPy
    # scalar into float32, losing the float64 gradcheck needs.
    return np.asarray(values, dtype=dtype)


def arrays(shape, dtype=np.float64, low=-2.0, high=2.0):
    """Arrays of ``shape`` with values uniform in [low, high)."""
    return seeds().map(lambda s: _array(rng(s).uniform(low, high, shape), dtype))


def distinct_arrays(shape, dtype=np.float64, gap=0.05):
    """Arrays whose values all differ by at least ``gap``/2 (safe for max: no ties to cross).

    Values are shuffled ranks times ``gap``, centred on 0, with jitter below gap/4.
    """
    def build(seed):
        r = rng(seed)
        count = int(np.prod(shape, dtype=np.int64))
        ranks = r.permutation(count).astype(np.float64)
        values = (ranks - count / 2) * gap + r.uniform(0, gap / 4, count)
        return _array(values.reshape(shape), dtype)
    return seeds().map(build)


def off_kink_arrays(shape, kinks=(0.0,), margin=0.05, dtype=np.float64, low=-2.0, high=2.0):
    """Uniform arrays with every value at least ``margin`` from each kink (relu at 0, relu6 at 6)."""
    def build(seed):
        values = np.asarray(rng(seed).uniform(low, high, shape), dtype=np.float64)
        for kink in kinks:
            near = np.abs(values - kink) < margin
            values[near] = kink + np.where(values[near] >= kink, margin, -margin)
        return _array(values, dtype)
    return seeds().map(build)


def shapes(min_dims=1, max_dims=4, min_side=1, max_side=5):
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def broadcastable_shapes(count=2, max_dims=4, max_side=4):
    """(input shapes, result shape) of ``count`` mutually broadcastable shapes (0-d included)."""
    return hnp.mutually_broadcastable_shapes(
        num_shapes=count, min_dims=0, max_dims=max_dims, max_side=max_side
    ).map(lambda b: (b.input_shapes, b.result_shape))


def axes(ndim):
    """A reduction's ``axis`` for an ``ndim``-D tensor: None, one axis (negative ones too),
    or a tuple of distinct axes in any order."""
    if ndim == 0:
        return st.none()
    one = st.integers(-ndim, ndim - 1)
    several = st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True).flatmap(
        lambda chosen: st.tuples(*(st.sampled_from((a, a - ndim)) for a in chosen))
    )
    return st.one_of(st.none(), one, several)


@st.composite
def _take_along(draw, shape):
    """x[:, ..., [i, j, i], ...]: an index list on one axis, repeats and negatives allowed."""
    axis = draw(st.integers(0, len(shape) - 1))
    size = shape[axis]
    picks = draw(st.lists(st.integers(-size, size - 1), min_size=1, max_size=2 * size + 1))
    return (slice(None),) * axis + (np.asarray(picks, dtype=np.int64),)


def indices(shape):
    """Indices for an array of ``shape`` (every side >= 1): basic ones (ints, slices,
    None, Ellipsis) and advanced ones (integer arrays that may repeat a cell, whose
    gradients must then add up)."""
    return st.one_of(
        hnp.basic_indices(shape, allow_newaxis=True, allow_ellipsis=True),
        hnp.integer_array_indices(shape, result_shape=hnp.array_shapes(min_dims=1, max_dims=2, max_side=4)),
        _take_along(shape),
    )


def nchw_shapes(max_batch=3, max_channels=4, max_side=6, min_side=1):
    """(N, C, H, W) shapes with N=1, C=1 and odd, non-square sizes among them."""
    side = st.integers(min_side, max_side)
    return st.tuples(st.integers(1, max_batch), st.integers(1, max_channels), side, side)


@dataclass(frozen=True)
class ConvCase:
    """A valid conv2d configuration: shapes and parameters that fit together."""

    x_shape: tuple
    w_shape: tuple
    stride: tuple
    padding: tuple
    dilation: tuple
    groups: int
    out_shape: tuple


def _input_side(draw, out, kernel, stride, padding_cap, dilation):
    """(padding, input size) giving ``out`` outputs, padding <= padding_cap."""
    span = dilation * (kernel - 1) + 1
    rest = draw(st.integers(0, stride - 1))
    covered = (out - 1) * stride + span + rest
    padding = min(draw(st.integers(0, padding_cap)), (covered - 1) // 2)
    return padding, covered - 2 * padding


@st.composite
def conv2d_cases(draw, max_batch=2, max_channels=3, max_groups=3, max_kernel=4,
                 max_stride=3, max_dilation=2, max_out=4):
    """Conv configurations with N=1, C=1, odd and non-square sizes, 1x1 kernels,
    kernel = input, stride > kernel, padding up to k-1, dilation and groups.

    The input size is derived from a drawn output size, so ``out_shape`` is
    known by construction, not by the formula under test.
    """
    groups = draw(st.integers(1, max_groups))
    c_in = groups * draw(st.integers(1, max_channels))
    c_out = groups * draw(st.integers(1, max_channels))
    n = draw(st.integers(1, max_batch))
    kernel = tuple(draw(st.integers(1, max_kernel)) for _ in range(2))
    stride = tuple(draw(st.integers(1, max_stride)) for _ in range(2))
    dilation = tuple(draw(st.integers(1, max_dilation)) for _ in range(2))
    out = tuple(draw(st.integers(1, max_out)) for _ in range(2))
    sides = [_input_side(draw, o, k, s, k - 1, d) for o, k, s, d in zip(out, kernel, stride, dilation)]
    padding = tuple(p for p, _ in sides)
    size = tuple(h for _, h in sides)
    return ConvCase(
        x_shape=(n, c_in) + size,
        w_shape=(c_out, c_in // groups) + kernel,
        stride=stride, padding=padding, dilation=dilation, groups=groups,
        out_shape=(n, c_out) + out,
    )


@dataclass(frozen=True)
class PoolCase:
    """A valid pooling configuration (PyTorch's rules: padding <= kernel // 2)."""

    x_shape: tuple
    kernel_size: tuple
    stride: tuple
    padding: tuple
    ceil_mode: bool
    out_shape: tuple


def pool_output_side(size, kernel, stride, padding, ceil_mode):
    """The windows PyTorch's pooling places along one side, counted one by one.

    An oracle independent of the op's arithmetic (``arguments.pool_output_size``):
    window j starts at j * stride in the padded input. Without ceil_mode a window
    is placed when it lies inside the padded input. With ceil_mode it is placed
    while it overhangs the padded input by less than a stride (for a later window:
    the window before it left part of the padded input uncovered), and only if it
    starts inside the input or its left padding. So a kernel larger than the padded
    input makes one window if it overhangs by less than the stride, else none.
    """
    padded = size + 2 * padding
    count = 0
    while True:
        start = count * stride
        if ceil_mode:
            overhangs_a_stride = start + kernel - padded >= stride
            if overhangs_a_stride or start >= padding + size:
                return count
        elif start + kernel > padded:
            return count
        count += 1


@st.composite
def pool2d_cases(draw, max_batch=2, max_channels=3, max_kernel=4, max_stride=4, max_extra=5):
    """Pooling configurations: N=1, C=1, non-square windows, stride > kernel,
    padding up to kernel // 2, ceil_mode on and off; with ceil_mode, kernels
    larger than the padded input too (PyTorch makes one window of them)."""
    n = draw(st.integers(1, max_batch))
    c = draw(st.integers(1, max_channels))
    kernel = tuple(draw(st.integers(1, max_kernel)) for _ in range(2))
    stride = tuple(draw(st.integers(1, max_stride)) for _ in range(2))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    ceil_mode = draw(st.booleans())
    # ceil_mode keeps one window while the padded input is more than k - s.
    smallest = [max(1, k - 2 * p - (s - 1 if ceil_mode else 0)) for k, s, p in zip(kernel, stride, padding)]
    size = tuple(low + draw(st.integers(0, max_extra)) for low in smallest)
    out = tuple(pool_output_side(*args, ceil_mode) for args in zip(size, kernel, stride, padding))
    return PoolCase(
        x_shape=(n, c) + size, kernel_size=kernel, stride=stride, padding=padding,
        ceil_mode=ceil_mode, out_shape=(n, c) + out,
    )


@dataclass(frozen=True)
class DeformConvCase:
    """A valid deform_conv2d configuration: a conv2d case and its offset groups."""

    conv: ConvCase
    offset_groups: int

    @property
    def offset_shape(self):
        n, _, oh, ow = self.conv.out_shape
        kh, kw = self.conv.w_shape[2:]
        return (n, 2 * self.offset_groups * kh * kw, oh, ow)

    @property
    def mask_shape(self):
        n, _, oh, ow = self.conv.out_shape
        kh, kw = self.conv.w_shape[2:]
        return (n, self.offset_groups * kh * kw, oh, ow)


@st.composite
def deform_conv2d_cases(draw, **conv_kwargs):
    """``conv2d_cases`` with offset groups drawn among the divisors of the input channels."""
    conv = draw(conv2d_cases(**conv_kwargs))
    channels = conv.x_shape[1]
    return DeformConvCase(conv, draw(st.sampled_from([d for d in range(1, channels + 1) if channels % d == 0])))


def off_grid_offsets(generator, shape, reach=3, margin=0.05, dtype=np.float64):
    """Offsets for deformable sampling, off the kinks of bilinear interpolation.

    A sampling coordinate is an integer grid position plus its offset, and
    bilinear interpolation has kinks where a coordinate is an integer; so each
    offset is an integer shift in [-reach, reach] (past a small image's border
    when reach is large) plus a fraction at least ``margin`` from 0 and 1.
    """
    shift = generator.integers(-reach, reach + 1, shape)
    return _array(shift + generator.uniform(margin, 1 - margin, shape), dtype)


# Memory layouts. Each kind is a pair: ``encode`` rearranges the values into the
# buffer that is allocated, ``decode`` is the view of that buffer that shows the
# values again. Encoding innermost-last and decoding outermost-last composes
# kinds: a transposed view of a step-sliced, flipped buffer shows the values it started from.
LAYOUTS = ("contiguous", "transposed", "fortran", "negative_strides", "step_sliced", "read_only", "broadcast")


def _read_only(view):
    view = view.view()
    view.flags.writeable = False
    return view


def _layout(draw, kind, shape):
    """(encode, decode) for one layout kind of an array of ``shape``."""
    ndim = len(shape)
    identity = (lambda a: a, lambda b: b)
    if kind == "contiguous":
        return identity
    if kind == "read_only":
        return lambda a: a, _read_only
    if kind == "fortran":
        order = tuple(reversed(range(ndim)))
        return lambda a: a.transpose(order), lambda b: b.transpose(order)
    if kind == "transposed":
        order = tuple(draw(st.permutations(range(ndim))))
        inverse = tuple(int(i) for i in np.argsort(order))
        return lambda a: a.transpose(order), lambda b: b.transpose(inverse)
    if ndim == 0:  # the kinds below need an axis
        return identity
    axis = draw(st.integers(0, ndim - 1))
    if kind == "negative_strides":
        return lambda a: np.flip(a, axis), lambda b: np.flip(b, axis)
    if kind == "step_sliced":
        step = draw(st.integers(2, 3))
        picked = (slice(None),) * axis + (slice(None, None, step),)

        def encode(a):
            # The cells between the picked ones hold NaN (or an int's minimum):
            # a kernel that reads them shows in its result.
            spread = a.shape[:axis] + (a.shape[axis] * step,) + a.shape[axis + 1:]
            fill = np.nan if a.dtype.kind == "f" else np.iinfo(a.dtype).min
            buffer = np.full(spread, fill, dtype=a.dtype)
            buffer[picked] = a
            return buffer
        return encode, lambda b: b[picked]
    if kind == "broadcast":
        size = shape[axis]
        return (lambda a: a[(slice(None),) * axis + (slice(0, 1),)],
                lambda b: np.broadcast_to(b, b.shape[:axis] + (size,) + b.shape[axis + 1:]))
    raise ValueError(f"layouts: unknown layout kind {kind!r}, expected one of {LAYOUTS}")


@st.composite
def layouts(draw, array, kinds=LAYOUTS, max_kinds=2):
    """``array``'s values (NumPy) in another memory layout: transposed, Fortran order,
    negative strides (``x[:, ::-1]``), sliced with a step (NaN in the cells skipped),
    read-only, broadcast (zero strides), or up to ``max_kinds`` of these composed.

    ``broadcast`` changes the values: it repeats the first slice of one axis
    along it. Compare an op on the drawn array with the op on
    ``np.array(drawn, order="C")``, not on ``array``.

    >>> from hypothesis import given, settings
    >>> import numpy as np, minidl as md
    >>> @settings(max_examples=5, deadline=None)
    ... @given(x=layouts(np.arange(6.0).reshape(2, 3)))
    ... def test_exp(x):
    ...     got = md.functional.exp(md.tensor(x)).numpy()
    ...     assert (got == md.functional.exp(md.tensor(np.array(x, order="C"))).numpy()).all()
    >>> test_exp()
    """
    array = np.asarray(array)
    chosen = draw(st.lists(st.sampled_from(kinds), min_size=1, max_size=max_kinds))
    pairs, values = [], array
    for kind in chosen:
        pairs.append(_layout(draw, kind, values.shape))
        values = pairs[-1][0](values)
    view = np.array(values, order="C")
    for _, decode in reversed(pairs):
        view = decode(view)
    return view
