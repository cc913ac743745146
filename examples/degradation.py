"""The degradation experiment (He et al. 2016, Figure 1; seed 001 "motivation of ResNet").

A deeper plain network should do at least as well as a shallower one (its extra
layers could learn the identity), yet plain-56 trains *worse* than plain-20:
not overfitting, since its training loss is the higher one, but an optimization
problem. Give the same 56 layers identity shortcuts (resnet-56) and the deeper
network trains at least as well as the shallow one.

This is a shortened version that runs on a laptop CPU in a minute or two: the
three CIFAR networks of the paper (``models.resnet_cifar``: 3 stages of n basic
blocks; plain-20, plain-56 and resnet-56 with option A shortcuts), trained from
the same seed on the same batches with the paper's optimizer (SGD, momentum
0.9, weight decay 1e-4, learning rate 0.1) for 200 steps of 32 images. The
depth is the paper's; to fit the budget the widths are halved (8, 16, 32
channels instead of 16, 32, 64) and the images are 16x16.

The images are a small real set, Fashion-MNIST: a seeded sample of 4096
training images, one channel, averaged 2x2 to 14x14 and zero-padded to 16x16
(``--image-size 32`` pads the 28x28 originals to 32x32 as LeNet did instead),
normalized with the dataset's mean and standard deviation. It is learnable in a
few hundred steps, hard enough that the curves do not all reach zero at once,
and on every CI machine (Debian's ``dataset-fashion-mnist``); a synthetic set
would need its own argument for being neither trivially easy nor impossible.

The curves are the training loss of each mini-batch (in training mode: the
paper's Figure 1 shows training error), smoothed, plotted to a PNG. With the
defaults, the mean loss over the last 50 steps has come out between 0.89 and
0.98 for plain-20, 1.66 and 2.09 for plain-56 and 0.83 and 0.97 for resnet-56
on different machines: the digits vary, plain-56 trailing plain-20 does not.

Run:  python examples/degradation.py [--steps 200] [--widths 16 32 64] [--image-size 32]
                                     [--out degradation.png]
"""

import argparse
import time
from dataclasses import dataclass

import numpy as np

import minidl as md
from minidl.models.resnet_cifar import CifarResNet, blocks_for_depth

F = md.functional

# Fashion-MNIST training-set statistics of pixels scaled to [0, 1].
MEAN, STD = 0.286, 0.353


@dataclass
class Config:
    steps: int = 200
    batch_size: int = 32
    train_size: int = 4096
    widths: tuple = (8, 16, 32)
    image_size: int = 16
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    seed: int = 0
    models: tuple = ("plain20", "plain56", "resnet56")


def load_images(train_size, image_size=32, seed=0):
    """(images float32 (N, 1, S, S), labels int64 (N,)): a seeded sample of
    Fashion-MNIST's training set, normalized, at S = 32 (28x28 zero-padded by 2)
    or S = 16 (2x2 averages, 14x14, padded by 1)."""
    if image_size not in (16, 32):
        raise ValueError(f"degradation: image_size must be 32 or 16, got {image_size}")
    data = md.data.load_dataset("fashion-mnist", "train")
    order = np.random.default_rng(seed).permutation(len(data))[:train_size]
    images, labels = data[np.sort(order)]
    images = (images.astype(np.float32) / 255.0 - MEAN) / STD
    if image_size == 16:
        images = images.reshape(len(images), 1, 14, 2, 14, 2).mean(axis=(3, 5))
    pad = (image_size - images.shape[-1]) // 2
    padded = np.pad(images, ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=-MEAN / STD)
    return np.ascontiguousarray(padded, dtype=np.float32), labels


def build(name, widths=(16, 32, 64)):
    """plainD or resnetD (D = 6n + 2) for one-channel 32x32 images, 10 classes."""
    kind, depth = name.rstrip("0123456789"), int(name[len(name.rstrip("0123456789")):])
    if kind not in ("plain", "resnet"):
        raise ValueError(f"degradation: models are plainD or resnetD, got {name!r}")
    n = blocks_for_depth(depth, "degradation")
    return CifarResNet(n, 10, widths=widths, shortcut=None if kind == "plain" else "A", in_channels=1)


def train(name, images, labels, config):
    """Train one network; returns the loss of every mini-batch, in order.

    Every network sees the same batches in the same order (the batch sampler is
    seeded by ``config.seed`` alone) and starts from weights drawn after
    ``md.manual_seed(config.seed)``.
    """
    md.manual_seed(config.seed)
    model = build(name, config.widths)
    optimizer = md.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                             weight_decay=config.weight_decay)
    batches = np.random.default_rng(config.seed + 1)
    losses = []
    model.train()
    for _ in range(config.steps):
        index = batches.choice(len(labels), config.batch_size, replace=False)
        loss = F.cross_entropy(model(md.tensor(images[index])), labels[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return np.array(losses)


def smooth(curve, window=20):
    """Trailing moving average (shorter windows at the start)."""
    sums = np.cumsum(np.insert(np.asarray(curve, dtype=np.float64), 0, 0.0))
    counts = np.minimum(np.arange(1, len(curve) + 1), window)
    return (sums[1:] - sums[np.arange(1, len(curve) + 1) - counts]) / counts


def final_loss(curve, window=50):
    """Mean training loss over the last ``window`` steps."""
    return float(np.mean(curve[-window:]))


def run(config, log=print):
    images, labels = load_images(config.train_size, config.image_size, config.seed)
    curves = {}
    for name in config.models:
        start = time.perf_counter()
        curves[name] = train(name, images, labels, config)
        log(f"{name:9s} final training loss {final_loss(curves[name]):.4f}  "
            f"({time.perf_counter() - start:.0f} s)")
    return curves


def plot(curves, path, window=20):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5))
    styles = {"plain20": ("tab:blue", "--"), "plain56": ("tab:red", "--"), "resnet56": ("tab:red", "-")}
    for name, curve in curves.items():
        color, line = styles.get(name, (None, "-"))
        axes.plot(np.arange(1, len(curve) + 1), smooth(curve, window), line, color=color, label=name)
    # resnet-56's first steps overshoot at lr 0.1 (the paper warms ResNet-110 up at
    # 0.01 for that reason); cap the axis so the rest of the curves stay readable.
    axes.set_ylim(0.0, 3.0)
    axes.set_xlabel("training step")
    axes.set_ylabel(f"training loss (moving average of {window} steps)")
    axes.set_title("Degradation: plain-56 trains worse than plain-20; resnet-56 does not")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=Config.steps)
    parser.add_argument("--batch-size", type=int, default=Config.batch_size)
    parser.add_argument("--train-size", type=int, default=Config.train_size)
    parser.add_argument("--widths", type=int, nargs=3, default=list(Config.widths))
    parser.add_argument("--image-size", type=int, choices=(16, 32), default=Config.image_size)
    parser.add_argument("--seed", type=int, default=Config.seed)
    parser.add_argument("--out", default="degradation.png", help="where to write the plot")
    args = parser.parse_args(argv)
    config = Config(steps=args.steps, batch_size=args.batch_size, train_size=args.train_size,
                    widths=tuple(args.widths), image_size=args.image_size, seed=args.seed)
    curves = run(config)
    print(f"plot: {plot(curves, args.out)}")
    return curves


if __name__ == "__main__":
    main()
