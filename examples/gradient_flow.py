"""Gradient and activation flow through a deep network, layer by layer (seed 003).

The lecture names depth's obstacles: "backward gradients that are easily vanished
or exploded" and "forward responses that are easily vanished or exploded", and
the enablers: ReLU, initialisation, batch norm, skip connections. This script
measures each, with hooks (``md.viz.FlowRecorder``), on real data: the CIFAR
networks of ``models.resnet_cifar`` (plain-56, resnet-56; widths halved and
16x16 Fashion-MNIST images, as in ``examples/degradation.py``), in training mode
on one mini-batch.

Three panels, each a PNG in ``--out`` with its numbers printed:

1. ``depth_init.png`` / ``depth_trained.png``: the norm of each conv layer's
   weight gradient, plain-56 against resnet-56, at initialisation and after
   ``--steps`` SGD steps. resnet-56's norms stay within a factor of about 10
   from one end of the network to the other, because every block's identity
   path hands the gradient down unchanged. plain-56's spread over orders of
   magnitude, and in a direction that changes: at initialisation the gradient
   *explodes* towards the input (with batch norm in training mode: each BN
   divides by its input's batch standard deviation, and backward multiplies by
   it again, as Yang et al. 2019, "A mean field theory of batch normalization",
   predict); after a few dozen steps it *vanishes* towards the input, the
   lecture's picture, while resnet-56's first layers still get as much as its last.
2. ``batch_norm.png``: the norm of the gradient reaching each conv layer's
   output, plain-56 with and without batch norm, at initialisation. Without
   batch norm the gradient vanishes on its way to the input; with it, it does not.
3. ``init.png``: the standard deviation of each conv layer's output (forward),
   plain-56 without batch norm, with three initialisations of every conv
   weight: N(0, 1) (std 1.0: the responses explode), N(0, 1/fan_in) (no He
   factor 2: each ReLU halves the mean square, and the responses vanish), and
   He, N(0, 2/fan_in). He keeps the mean square in expectation; one draw of a
   network this narrow (8 to 32 channels) still drifts, since the product of 55
   random per-layer gains does (seed 0: down by ~500x over the net; other seeds
   drift less), against 1e11 and 1e47 for the other two. Computed in float64,
   so std 1.0 overflows nothing.

With the defaults (30 steps of 32 images, lr 0.05; about a minute on a laptop
CPU) the script prints, per panel, each profile's first, middle and last layer:

    |dL/dW| at initialisation   plain-56   first 868,     last 0.245, max/min 3.54e+03
    |dL/dW| at initialisation   resnet-56  first 3.09,    last 0.394, max/min 9.38
    |dL/dW| after 30 SGD steps  plain-56   first 0.00185, last 0.252, max/min 136
    |dL/dW| after 30 SGD steps  resnet-56  first 0.739,   last 0.484, max/min 8.14
    |dL/dy| plain-56 with batch norm       first 498,     last 0.023
    |dL/dy| plain-56 without batch norm    first 0.000233, last 0.0181
    output std  std 1.0                    first 2.6,     last 3.69e+47
    output std  no He factor               first 0.868,   last 1.3e-11
    output std  He                         first 1.23,    last 0.00247

Run:  python examples/gradient_flow.py --out DIR [--steps 30] [--batch-size 32]
"""

import argparse
import math
import pathlib
import sys
from dataclasses import dataclass

import numpy as np

import minidl as md

# The sibling script holds the data and the networks of the degradation experiment.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from degradation import build, load_images  # noqa: E402

F, nn = md.functional, md.nn


@dataclass
class Config:
    steps: int = 30
    batch_size: int = 32
    train_size: int = 1024
    widths: tuple = (8, 16, 32)
    image_size: int = 16
    lr: float = 0.05
    seed: int = 0


class NoBatchNorm(nn.Module):
    """Stands where a BatchNorm2d stood: the identity, keeping the ReLU that a block
    fuses into its batch norm's call (``bn(x, relu=True)``)."""

    def forward(self, x, relu=False):
        return F.relu(x) if relu else x


def without_batch_norm(model):
    """``model`` with every BatchNorm2d replaced by the identity (its fused ReLU kept)."""
    for module in list(model.modules()):
        for name, child in list(module._modules.items()):
            if isinstance(child, nn.BatchNorm2d):
                setattr(module, name, NoBatchNorm())
    return model


def initialise(model, std):
    """Every conv weight drawn from N(0, std(fan_in)^2); ``std`` maps fan_in to a std."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            fan_in = module.weight.size // module.weight.shape[0]
            nn.init.normal_(module.weight, 0.0, std(fan_in))
    return model


INITS = {
    "std 1.0": lambda fan_in: 1.0,
    "no He factor: std sqrt(1/fan_in)": lambda fan_in: math.sqrt(1.0 / fan_in),
    "He: std sqrt(2/fan_in)": lambda fan_in: math.sqrt(2.0 / fan_in),
}


def conv_layers(model):
    return [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]


def measure(model, images, labels):
    """One training-mode forward and backward; per conv layer, input side first:
    weight-gradient norms, output-gradient norms and output standard deviations."""
    model.train()
    with md.viz.FlowRecorder(model, conv_layers(model)) as flow:
        F.cross_entropy(model(md.tensor(images)), labels).backward()
    model.zero_grad()
    return {
        "weight_grad": [v for _, v in flow.in_order(flow.weight_grad_norm)],
        "output_grad": [v for _, v in flow.in_order(flow.output_grad_norm)],
        "activation_std": [v for _, v in flow.in_order(flow.activation_std)],
    }


def train(model, images, labels, config):
    optimizer = md.optim.SGD(model.parameters(), lr=config.lr, momentum=0.9, weight_decay=1e-4)
    batches = np.random.default_rng(config.seed + 1)
    model.train()
    for _ in range(config.steps):
        index = batches.choice(len(labels), config.batch_size, replace=False)
        loss = F.cross_entropy(model(md.tensor(images[index])), labels[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model


def spread(values):
    """max / min over the layers: 1 for a flat profile."""
    return max(values) / min(values)


def compare_depth(images, labels, config):
    """{net: {"init": weight-grad norms, "trained": weight-grad norms}} for plain-56, resnet-56."""
    batch = images[:config.batch_size], labels[:config.batch_size]
    results = {}
    for name, label in (("plain56", "plain-56"), ("resnet56", "resnet-56")):
        md.manual_seed(config.seed)
        model = build(name, config.widths)
        init = measure(model, *batch)["weight_grad"]
        train(model, images, labels, config)
        results[label] = {"init": init, "trained": measure(model, *batch)["weight_grad"]}
    return results


def compare_batch_norm(images, labels, config):
    """{variant: output-gradient norms} for plain-56 with and without batch norm, at init."""
    batch = images[:config.batch_size], labels[:config.batch_size]
    results = {}
    for label, strip in (("plain-56 with batch norm", False), ("plain-56 without batch norm", True)):
        md.manual_seed(config.seed)
        model = build("plain56", config.widths)
        if strip:
            without_batch_norm(model)
        results[label] = measure(model, *batch)["output_grad"]
    return results


def compare_init(images, labels, config):
    """{initialisation: output std per conv layer} for plain-56 without batch norm, in float64."""
    batch = images[:config.batch_size].astype(np.float64), labels[:config.batch_size]
    results = {}
    for label, std in INITS.items():
        md.manual_seed(config.seed)
        model = initialise(without_batch_norm(build("plain56", config.widths)), std).double()
        results[label] = measure(model, *batch)["activation_std"]
    return results


def _profile(values):
    return (f"first {values[0]:.3g}, middle {values[len(values) // 2]:.3g}, last {values[-1]:.3g}, "
            f"max/min {spread(values):.3g}")


def run(config, out, log=print):
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    images, labels = load_images(config.train_size, config.image_size, config.seed)
    depth = compare_depth(images, labels, config)
    batch_norm = compare_batch_norm(images, labels, config)
    init = compare_init(images, labels, config)

    plot = md.viz.plot_flow
    for stage, title in (("init", "at initialisation"), ("trained", f"after {config.steps} SGD steps")):
        series = {net: values[stage] for net, values in depth.items()}
        plot(series, out / f"depth_{stage}.png", title=f"Conv weight gradients {title}", ylabel="|dL/dW|")
        for net, values in series.items():
            log(f"|dL/dW| {title:24s} {net:10s} {_profile(values)}")
    plot(batch_norm, out / "batch_norm.png", title="Gradient reaching each conv output, at initialisation",
         ylabel="|dL/dy|")
    for label, values in batch_norm.items():
        log(f"|dL/dy| at initialisation    {label:28s} {_profile(values)}")
    plot(init, out / "init.png", title="Forward: std of each conv output (plain-56, no batch norm)",
         ylabel="std of the conv output")
    for label, values in init.items():
        log(f"output std  {label:34s} {_profile(values)}")
    log(f"plots in {out}: depth_init.png depth_trained.png batch_norm.png init.png")
    return {"depth": depth, "batch_norm": batch_norm, "init": init}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="directory for the PNGs")
    parser.add_argument("--steps", type=int, default=Config.steps)
    parser.add_argument("--batch-size", type=int, default=Config.batch_size)
    parser.add_argument("--train-size", type=int, default=Config.train_size)
    parser.add_argument("--seed", type=int, default=Config.seed)
    args = parser.parse_args(argv)
    config = Config(steps=args.steps, batch_size=args.batch_size, train_size=args.train_size, seed=args.seed)
    return run(config, args.out)


if __name__ == "__main__":
    main()
