"""Tensor: an array (NumPy or CuPy), its gradient, and the op that made it.

>>> import numpy as np, minidl as md
>>> x = md.tensor(np.array([[1.0, 2.0], [3.0, 4.0]]), requires_grad=True)
>>> y = (x * x).sum()
>>> y.backward()
>>> x.grad
array([[2., 4.],
       [6., 8.]])

dtype rules: a NumPy/CuPy array keeps its dtype (float64 stays float64, which
gradcheck relies on); Python lists and scalars become float32, the training
default. Python scalars mixed into an op take the tensor's dtype, so
``x * 0.5`` never upcasts a float32 tensor.
"""

import numpy as np

from minidl import autograd, backend
from minidl.hooks import add_hook

DEFAULT_DTYPE = np.float32


def _is_floating(dtype):
    return np.issubdtype(dtype, np.floating)


class Tensor:
    """A node of the graph: ``.data`` (ndarray), ``.grad`` (ndarray or None), ``.requires_grad``."""

    __array_priority__ = 1000  # so ndarray + Tensor calls Tensor.__radd__
    # Hook tables, made on the first registration: most tensors never get one.
    _hooks = None
    _post_accumulate_hooks = None

    def __init__(self, data, requires_grad=False):
        if isinstance(data, Tensor):
            data = data.data
        source = type(data).__name__
        if not (isinstance(data, np.ndarray) or backend.is_cupy_array(data)):
            data = np.asarray(data)
            if data.dtype.kind in "biuf" and data.dtype != DEFAULT_DTYPE:
                data = data.astype(DEFAULT_DTYPE)
        if data.dtype.kind not in "biuf":
            raise TypeError(
                f"Tensor: data must be numbers (bool, int or float), got dtype {data.dtype} "
                f"from a {source}"
            )
        self.data = data
        self.grad = None
        self._creator = None
        self._generation = 0
        self._retains_grad = False
        self.requires_grad = requires_grad

    # ---- autograd state -------------------------------------------------
    @property
    def requires_grad(self):
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value):
        value = bool(value)
        if value and not _is_floating(self.data.dtype):
            raise TypeError(
                f"Tensor: only floating-point tensors can require grad, this one is {self.data.dtype}"
            )
        if not value and self._creator is not None:
            raise ValueError(
                "Tensor: requires_grad can only be turned off on a leaf; use .detach() instead"
            )
        self._requires_grad = value

    @property
    def is_leaf(self):
        return self._creator is None

    @property
    def creator(self):
        """The Function that produced this tensor (None for a leaf)."""
        return self._creator

    def retain_grad(self):
        """Keep .grad on this non-leaf tensor after backward (leaves always keep theirs)."""
        self._retains_grad = True
        return self

    def register_hook(self, hook):
        """Call ``hook(grad)`` with this tensor's whole gradient of each backward pass.

        ``grad`` is an array (NumPy or CuPy) of this tensor's shape, the sum of
        every path's contribution; ``hook`` may return a replacement gradient,
        which is what flows on (and what a leaf accumulates in ``.grad``), or
        None to leave it. Returns a handle whose ``.remove()`` unregisters it.

        >>> import numpy as np, minidl as md
        >>> x = md.tensor([1.0, 2.0], requires_grad=True)
        >>> handle = x.register_hook(lambda g: g * 10)
        >>> (x * x).sum().backward()
        >>> x.grad
        array([20., 40.], dtype=float32)
        """
        self._check_hookable("register_hook")
        if self._hooks is None:
            self._hooks = {}
        return add_hook(self._hooks, hook)

    def register_post_accumulate_grad_hook(self, hook):
        """On a leaf: call ``hook(tensor)`` once this backward pass has added its gradient
        into ``tensor.grad``, as soon as no op left in the walk uses the leaf (what a
        data-parallel wrapper needs to start reducing a parameter's gradient)."""
        self._check_hookable("register_post_accumulate_grad_hook")
        if not self.is_leaf:
            raise ValueError("register_post_accumulate_grad_hook: only a leaf accumulates .grad; "
                             "this tensor was made by " + self._creator.name)
        if self._post_accumulate_hooks is None:
            self._post_accumulate_hooks = {}
        return add_hook(self._post_accumulate_hooks, hook)

    def _check_hookable(self, method):
        if not self.requires_grad:
            raise ValueError(f"{method}: this tensor does not require grad, so no gradient will reach a hook")

    def backward(self, grad=None, retain_graph=False):
        """Backpropagate; a non-scalar output needs ``grad`` of its own shape."""
        autograd.backward(self, grad, retain_graph=retain_graph)

    def detach(self):
        """The same data, cut from the graph."""
        return Tensor(self.data, requires_grad=False)

    def zero_grad(self):
        self.grad = None

    # ---- array facts ----------------------------------------------------
    @property
    def shape(self):
        return tuple(self.data.shape)

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def size(self):
        return int(self.data.size)

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def device(self):
        return backend.device_of(self.data)

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def __repr__(self):
        body = repr(self.numpy()).replace("array(", "tensor(", 1)
        extras = []
        if self.device != "cpu":
            extras.append(f"device='{self.device}'")
        if self.requires_grad:
            extras.append(f"grad_fn={self._creator.name}" if self._creator else "requires_grad=True")
        return body[:-1] + (", " + ", ".join(extras) if extras else "") + ")"

    def numpy(self):
        """The data as a NumPy array (the array itself on the CPU, a copy from the GPU)."""
        return backend.to_device(self.data, "cpu")

    def item(self):
        if self.size != 1:
            raise ValueError(f"item: only a one-element tensor converts to a number, shape is {self.shape}")
        return self.numpy().reshape(()).item()

    def __array__(self, dtype=None, copy=None):
        array = self.numpy()
        return array if dtype is None else array.astype(dtype)

    def to(self, device):
        """This tensor on ``device``: itself if it is already there, else a copy (a new leaf)."""
        data = backend.to_device(self.data, device)
        if data is self.data:
            return self
        moved = Tensor(data, requires_grad=False)
        moved._requires_grad = self.requires_grad and self.is_leaf
        return moved

    def cpu(self):
        return self.to("cpu")

    def cuda(self):
        return self.to("cuda")

    # ---- differentiable methods (each is one Function in minidl.functional) ----
    def __add__(self, other):
        return F.add(self, other)

    def __radd__(self, other):
        return F.add(other, self)

    def __sub__(self, other):
        return F.sub(self, other)

    def __rsub__(self, other):
        return F.sub(other, self)

    def __mul__(self, other):
        return F.mul(self, other)

    def __rmul__(self, other):
        return F.mul(other, self)

    def __truediv__(self, other):
        return F.div(self, other)

    def __rtruediv__(self, other):
        return F.div(other, self)

    def __matmul__(self, other):
        return F.matmul(self, other)

    def __rmatmul__(self, other):
        return F.matmul(other, self)

    def __pow__(self, exponent):
        return F.pow(self, exponent)

    def __neg__(self):
        return F.neg(self)

    def __getitem__(self, index):
        return F.getitem(self, index)

    def sum(self, axis=None, keepdims=False):
        return F.sum(self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims=False):
        return F.mean(self, axis=axis, keepdims=keepdims)

    def max(self, axis=None, keepdims=False):
        return F.max(self, axis=axis, keepdims=keepdims)

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return F.reshape(self, shape)

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return F.transpose(self, axes or None)

    @property
    def T(self):
        return F.transpose(self, None)

    def flatten(self, start_dim=0):
        return F.flatten(self, start_dim=start_dim)

    def exp(self):
        return F.exp(self)

    def log(self):
        return F.log(self)

    def relu(self):
        return F.relu(self)

    def astype(self, dtype):
        return F.cast(self, dtype)

    def float(self):
        return F.cast(self, np.float32)

    def double(self):
        return F.cast(self, np.float64)

    def argmax(self, axis=None):
        """Indices of the maxima (first one on ties), as a tensor that does not require grad."""
        return Tensor(self.data.argmax(axis=axis))


def as_tensor(value, like=None):
    """``value`` as a Tensor; numbers take the dtype and device of ``like``."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (int, float, bool, np.number)) and like is not None:
        xp = backend.get_array_module(like.data)
        dtype = like.dtype if _is_floating(like.dtype) else DEFAULT_DTYPE
        return Tensor(xp.asarray(value, dtype=dtype))
    return Tensor(value)


def tensor(data, requires_grad=False, device=None, dtype=None):
    """A new leaf tensor.

    Arrays keep their dtype; lists and scalars become float32 unless ``dtype``
    says otherwise. ``device`` defaults to where the array already is (the
    CPU for lists).

    >>> import numpy as np, minidl as md
    >>> md.tensor([1, 2]).dtype
    dtype('float32')
    >>> md.tensor(np.zeros(2)).dtype
    dtype('float64')
    """
    if isinstance(data, Tensor):
        data = data.data.copy()
    if dtype is not None:
        xp = backend.get_array_module(data)
        data = xp.asarray(data, dtype=dtype)
    result = Tensor(data)
    if device is not None:
        result.data = backend.to_device(result.data, device)
    result.requires_grad = requires_grad
    return result


# Tensor's operators are functional ops, and every functional module imports Tensor and
# as_tensor from here: functional can only load once both exist, so this import comes last.
from minidl import functional as F  # noqa: E402
