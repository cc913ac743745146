"""Which model ``minidl train`` builds for a dataset, and what its images go through first.

Decided from the model's name and the dataset's name alone, before any data
is read or downloaded, so a mismatch costs nothing:

- every model is built with one input channel per image channel of the
  dataset (``in_channels``) and one output per class;
- a model that ends in global pooling (ResNet, DenseNet, SE-ResNet, ...)
  takes the images as they are;
- a model with a fixed-size head (LeNet-5, AlexNet, ZFNet, VGG) is built for
  the images' size: its first fully connected layer takes the map that size
  leaves;
- ``--input-size H[xW]`` resizes every image (bilinear, in the loader) to that
  size, and a fixed-head model is built for it. Resized rather than padded:
  padding can only grow an image and leaves the object a small patch in a
  blank field, while the filters of these networks were laid out for objects
  that fill the frame; resizing also works downwards.

Whether the model takes the images is found by running two blank images
through it in training mode (the auxiliary heads of GoogLeNet run only then),
with its buffers and minidl's random state restored afterwards. When it does
not, the error names the smallest --input-size that works.
"""

import re
from dataclasses import dataclass

import numpy as np

from minidl import models, random
from minidl.autograd import no_grad
from minidl.data import transforms
from minidl.tensor import tensor

# Sizes tried, smallest first, to suggest an --input-size.
CANDIDATE_SIZES = (32, 48, 64, 96, 128, 160, 192, 224, 227)


@dataclass(frozen=True)
class ModelInput:
    model: str  # the registered name
    options: dict  # the builder's keyword arguments
    image_shape: tuple  # (C, H, W) the model sees
    resize: tuple  # (H, W) the loader resizes to, or None

    def build(self):
        return models.get(self.model, **self.options)


def parse_input_size(text):
    """(height, width) of "H" or "HxW".

    >>> parse_input_size("32"), parse_input_size("64x48")
    ((32, 32), (64, 48))
    """
    match = re.fullmatch(r"\s*(\d+)\s*(?:[xX]\s*(\d+)\s*)?", str(text))
    if not match or int(match.group(1)) < 1 or (match.group(2) and int(match.group(2)) < 1):
        raise ValueError(f"--input-size must be H or HxW with positive integers, e.g. 32 or 64x48; got {text!r}")
    h = int(match.group(1))
    return h, int(match.group(2) or h)


def plan(name, dataset, input_size=None):
    """The ModelInput of model ``name`` on ``dataset`` (a DatasetSpec), resized to ``input_size`` if given."""
    name = models.resolve(name)
    channels, h, w = dataset.image_shape
    size = (h, w) if input_size is None else tuple(input_size)
    options = {"num_classes": dataset.num_classes, "in_channels": channels}
    if models.takes_input_size(name):
        options["input_size"] = size
    return ModelInput(name, options, (channels,) + size, None if size == (h, w) else size)


def build_checked(name, dataset, input_size=None, device="cpu"):
    """(ModelInput, model on ``device``) of ``name`` on ``dataset``; a model that cannot take the
    images raises ValueError saying which --input-size would do."""
    chosen = plan(name, dataset, input_size)
    problem = None
    try:
        model = chosen.build().to(device)
        problem = fit_problem(model, chosen.image_shape, device)
    except ValueError as error:
        problem = str(error)
    if problem is None:
        return chosen, model
    native = models.input_shape(chosen.model)
    seen = "x".join(map(str, chosen.image_shape))
    where = (f"{dataset.name}'s {seen} images" if chosen.resize is None else f"{seen} images (--input-size)")
    suggestion = smallest_size(chosen.model, dataset, device, above=min(chosen.image_shape[1:]))
    advice = (f"pass --input-size {suggestion} (the smallest that works here; it was designed for "
              f"{native[1]}x{native[2]}); the loader resizes the images to it"
              if suggestion else f"it was designed for {'x'.join(map(str, native))} images")
    raise ValueError(f"{chosen.model} cannot take {where}: {_first_line(problem)}\n  {advice}")


def with_resize(chosen, transform):
    """``transform`` after the resize ``chosen`` (a ModelInput) asks for, if any."""
    if chosen.resize is None:
        return transform
    return transforms.Compose([transforms.Resize(chosen.resize), transform])


def fit_problem(model, image_shape, device):
    """None if ``model`` runs a batch of two blank ``image_shape`` images in training mode,
    else what went wrong. The model's buffers and minidl's random state are left as they were."""
    buffers = [(b, b.data.copy()) for b in model.buffers()]
    state, was_training = random.get_state(), model.training
    model.train()
    try:
        with no_grad():
            model(tensor(np.zeros((2,) + tuple(image_shape), np.float32), device=device))
    except (ValueError, TypeError) as error:
        return str(error)
    finally:
        for buffer, saved in buffers:
            buffer.data = saved
        random.set_state(state)
        model.train(was_training)
    return None


def smallest_size(name, dataset, device, above):
    """The smallest of CANDIDATE_SIZES above ``above`` that model ``name`` takes on ``dataset``, or None."""
    for size in CANDIDATE_SIZES:
        if size <= above:
            continue
        chosen = plan(name, dataset, (size, size))
        try:
            if fit_problem(chosen.build().to(device), chosen.image_shape, device) is None:
                return size
        except ValueError:
            continue
    return None


def _first_line(text):
    line = text.strip().splitlines()[0] if text.strip() else text
    return line.split(": ", 1)[1] if line.split(": ", 1)[0] in models.list_models() else line
