"""PyTorch's side of `minidl train lenet5`: the same run, on torch, on this machine.

Same network (the lecture's LeNet-5), same initial weights (minidl's, seed 0,
copied in), same batches in the same order (minidl's DataLoader, seed 0, with
the same Fashion-MNIST normalisation), same optimiser (SGD, momentum 0.9,
weight decay 5e-4) and the same per-epoch evaluation; only the engine differs.
Prints the same per-epoch line and the wall time from start to finish, data
loading included, as `minidl train` does.

    python benchmarks/train_lenet5_torch.py [--epochs 2] [--batch-size 128] [--lr 0.05]
                                            [--schedule none] [--seed 0] [--threads N]

``--schedule`` runs minidl's own schedule objects on the torch optimizer (they
only set ``param_groups[i]["lr"]``), so both engines follow the same rates.
``--threads`` sets torch's thread count (default: torch's choice, one per core).
"""

import argparse
import time

import torch

import minidl as md
from minidl.data import DataLoader, load_dataset, spec
from minidl.optim.lr_scheduler import ReduceLROnPlateau
from minidl.commands import builders
from minidl.commands.bench.twins import copy_parameters, torch_model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--schedule", default="none", choices=builders.SCHEDULES)
    parser.add_argument("--threads", type=int)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    started = time.perf_counter()
    dataset = spec("fashion-mnist")
    md.manual_seed(args.seed)
    net = copy_parameters(torch_model("lenet5"), builders.build_model("lenet5", dataset))
    train = DataLoader(load_dataset("fashion-mnist", "train"), args.batch_size, shuffle=True, seed=args.seed,
                       transform=builders.train_transform(dataset, (1, 28, 28), ()))
    test = DataLoader(load_dataset("fashion-mnist", "test"), args.batch_size,
                      transform=builders.test_transform(dataset))
    optimizer = torch.optim.SGD(net.parameters(), lr=args.lr, momentum=0.9, weight_decay=5e-4)
    schedule = builders.build_schedule(args.schedule, optimizer, args.epochs)
    loss_fn = torch.nn.CrossEntropyLoss()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for epoch in range(args.epochs):
        epoch_start = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]
        net.train()
        loss_sum, correct, seen = 0.0, 0, 0
        for images, labels in train.batches(epoch):
            x, y = torch.from_numpy(images), torch.from_numpy(labels)
            logits = net(x)
            loss = loss_fn(logits, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(y)
            correct += int((logits.argmax(1) == y).sum())
            seen += len(y)
        train_seconds = time.perf_counter() - epoch_start
        net.eval()
        test_loss, test_correct = 0.0, 0
        with torch.no_grad():
            for images, labels in test.batches(0):
                logits = net(torch.from_numpy(images))
                y = torch.from_numpy(labels)
                test_loss += torch.nn.functional.cross_entropy(logits, y, reduction="sum").item()
                test_correct += int((logits.argmax(1) == y).sum())
        n = len(test.dataset)
        if isinstance(schedule, ReduceLROnPlateau):
            schedule.step(test_loss / n)
        elif schedule is not None:
            schedule.step()
        print(f"epoch {epoch + 1}/{args.epochs}: train loss {loss_sum / seen:.4f} acc {correct / seen:.2%} "
              f"| test loss {test_loss / n:.4f} acc {test_correct / n:.2%} | lr {lr:.4g} "
              f"| {time.perf_counter() - epoch_start:.1f} s ({seen / train_seconds:.0f} img/s training)")
    print(f"done: test accuracy {test_correct / n:.2%} after {args.epochs} epoch(s), "
          f"{time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
