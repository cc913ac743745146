"""Where a deformable convolution looks: resnet20_dcn trained briefly on Fashion-MNIST.

``resnet20_dcn`` is ResNet-20 whose last stage (64 channels on 8x8 maps) has
deformable 3x3 convolutions (DCNv2: learnt offsets and a mask, predicted from
the layer's input by a zero-initialised conv). Both it and the plain
``resnet20`` are trained from the same seed on the same batches (SGD with
momentum; the offset and mask convs at a tenth of the learning rate, as in
DCNv2), then evaluated on the same test images; the script prints both
accuracies side by side.

Then, as the DCN papers do, it draws where the deformable layers sample: for a
few test images and one output position (the centre of the 8x8 map), each
panel shows one deformable layer's nine sampling points, mapped from its input
feature map back onto the 32x32 image (a feature pixel of a map s times
smaller covers s image pixels), coloured by the mask, beside the regular 3x3
grid the same layer would sample with zero offsets (hollow squares). At
initialisation the two coincide; what moved after training is learnt.

The images are Fashion-MNIST's (Debian's ``dataset-fashion-mnist``), 28x28
zero-padded to 32x32 as LeNet's were, one channel, normalised with the
dataset's mean and standard deviation; the training set is a seeded sample.

Run:  python examples/deformable_offsets.py [--steps 120] [--batch-size 32]
          [--train-size 4096] [--test-size 1000] [--out deformable_offsets.png]
"""

import argparse
import time
from dataclasses import dataclass

import numpy as np

import minidl as md

F = md.functional

MEAN, STD = 0.286, 0.353  # Fashion-MNIST pixels scaled to [0, 1]


@dataclass
class Config:
    steps: int = 120
    batch_size: int = 32
    train_size: int = 4096
    test_size: int = 1000
    lr: float = 0.05
    offset_lr_scale: float = 0.1  # DCNv2: the offset and mask convs learn at 0.1 x the rate
    momentum: float = 0.9
    weight_decay: float = 1e-4
    seed: int = 0
    images_drawn: int = 3


def load(split, size, seed):
    """(images float32 (size, 1, 32, 32), labels): a seeded sample of a split."""
    data = md.data.load_dataset("fashion-mnist", split)
    order = np.sort(np.random.default_rng(seed).permutation(len(data))[:size])
    images, labels = data[order]
    images = (images.astype(np.float32) / 255.0 - MEAN) / STD
    padded = np.pad(images, ((0, 0), (0, 0), (2, 2), (2, 2)), constant_values=-MEAN / STD)
    return np.ascontiguousarray(padded, dtype=np.float32), np.asarray(labels, dtype=np.int64)


def train(name, images, labels, config):
    """Train ``name`` (resnet20 or resnet20_dcn, one input channel); returns the model."""
    md.manual_seed(config.seed)
    model = md.models.get(name, num_classes=10, in_channels=1)
    named = list(model.named_parameters())
    groups = [{"params": [p for n, p in named if "offset_conv" not in n]}]
    offsets = [p for n, p in named if "offset_conv" in n]
    if offsets:
        groups.append({"params": offsets, "lr": config.lr * config.offset_lr_scale})
    optimizer = md.optim.SGD(groups, lr=config.lr, momentum=config.momentum,
                             weight_decay=config.weight_decay)
    batches = np.random.default_rng(config.seed + 1)
    model.train()
    for _ in range(config.steps):
        index = batches.choice(len(labels), config.batch_size, replace=False)
        loss = F.cross_entropy(model(md.tensor(images[index])), labels[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model


def accuracy(model, images, labels, batch_size=250):
    model.eval()
    correct = 0
    with md.no_grad():
        for start in range(0, len(labels), batch_size):
            logits = model(md.tensor(images[start:start + batch_size])).numpy()
            correct += int((logits.argmax(axis=1) == labels[start:start + batch_size]).sum())
    return correct / len(labels)


def sampling_points(model, image):
    """For each deformable layer, in the order they run: (points, grid, mask), the
    sampling points of the centre output pixel in image coordinates (9, 2) as
    (row, column), the zero-offset grid (9, 2), and the mask (9,) (ones if none).
    Offset group 0 is drawn (the models here have one)."""
    layers = [m for m in model.modules() if isinstance(m, md.nn.DeformConv2d)]
    inputs = {}
    handles = [layer.register_forward_hook(lambda m, args, out: inputs.__setitem__(id(m), args[0]))
               for layer in layers]
    model.eval()
    try:
        with md.no_grad():
            model(md.tensor(image[None]))
    finally:
        for handle in handles:
            handle.remove()
    size = image.shape[-1]
    drawn = []
    for layer in layers:
        x = inputs[id(layer)]
        with md.no_grad():
            offset, mask = layer.offsets(x)
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = layer.kernel_size, layer.stride, layer.padding, layer.dilation
        oy, ox = offset.shape[2] // 2, offset.shape[3] // 2
        taps = kh * kw
        shifts = offset.numpy()[0, :2 * taps, oy, ox].reshape(taps, 2)
        i, j = np.divmod(np.arange(taps), kw)
        grid = np.stack([oy * sh - ph + i * dh, ox * sw - pw + j * dw], axis=1).astype(np.float64)
        # a feature pixel covers `scale` image pixels: map it to their centre
        scale = size / x.shape[-1]
        m = np.ones(taps) if mask is None else mask.numpy()[0, :taps, oy, ox]
        drawn.append(((grid + shifts + 0.5) * scale - 0.5, (grid + 0.5) * scale - 0.5, m))
    return drawn


def plot(model, images, path):
    """One row per image, one panel per deformable layer; returns the path."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    per_image = [sampling_points(model, image) for image in images]
    rows, cols = len(images), len(per_image[0])
    figure = Figure(figsize=(2.0 * cols, 2.1 * rows))
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, cols, squeeze=False)
    for r, (image, layers) in enumerate(zip(images, per_image)):
        for c, (points, grid, mask) in enumerate(layers):
            ax = axes[r][c]
            ax.imshow(image[0], cmap="gray")
            ax.scatter(grid[:, 1], grid[:, 0], s=22, marker="s", facecolors="none", edgecolors="cyan",
                       linewidths=0.8)
            ax.scatter(points[:, 1], points[:, 0], s=18, c=mask, cmap="autumn", vmin=0, vmax=2)
            ax.set_xlim(-0.5, image.shape[-1] - 0.5)
            ax.set_ylim(image.shape[-1] - 0.5, -0.5)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"deformable layer {c + 1}", fontsize=8)
    figure.suptitle("resnet20_dcn: sampling points of the centre output (dots, mask colour) "
                    "vs the regular 3x3 grid (squares)", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return path


def run(config, out, log=print):
    train_images, train_labels = load("train", config.train_size, config.seed)
    test_images, test_labels = load("test", config.test_size, config.seed)
    results = {}
    for name in ("resnet20", "resnet20_dcn"):
        start = time.perf_counter()
        model = train(name, train_images, train_labels, config)
        results[name] = accuracy(model, test_images, test_labels)
        log(f"{name:13s} test accuracy {results[name]:.3f} on {len(test_labels)} images "
            f"after {config.steps} steps of {config.batch_size} ({time.perf_counter() - start:.0f} s)")
    log(f"sampling points: {plot(model, test_images[:config.images_drawn], out)}")
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=Config.steps)
    parser.add_argument("--batch-size", type=int, default=Config.batch_size)
    parser.add_argument("--train-size", type=int, default=Config.train_size)
    parser.add_argument("--test-size", type=int, default=Config.test_size)
    parser.add_argument("--seed", type=int, default=Config.seed)
    parser.add_argument("--out", default="deformable_offsets.png", help="where to write the PNG")
    args = parser.parse_args(argv)
    config = Config(steps=args.steps, batch_size=args.batch_size, train_size=args.train_size,
                    test_size=args.test_size, seed=args.seed)
    return run(config, args.out)


if __name__ == "__main__":
    main()
