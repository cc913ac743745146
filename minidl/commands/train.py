"""``minidl train MODEL``: train a registered model on a dataset, with progress bars,
checkpoints, ``metrics.json`` and ``curves.png``.

With no options, ``minidl train lenet5`` trains LeNet-5 on Fashion-MNIST on the
CPU for 2 epochs of batch 128 with SGD (lr 0.05, momentum 0.9, weight decay
5e-4; the rate drops to 0.005 for the second epoch, the default ``step``
schedule) and writes its files to ``runs/lenet5-fashion-mnist``. The same
command with ``--resume`` continues from that directory's ``last.npz``.

``mpiexec -n N minidl train MODEL --distributed`` trains data-parallel on N
ranks (MPI on the CPU, NCCL with ``--device cuda``): ``--batch-size`` is the
global batch, each rank computes on its shard of it, gradients are averaged
over the global batch, so the run computes what one process computes (batch
norm aside: per-rank statistics). Rank 0 alone prints and writes the files.

Why a schedule by default: with a constant rate the last iterate's test
accuracy swings by two points from seed to seed (PyTorch, same recipe, seeds
0-3: 89.5, 89.5, 87.4, 87.7%); dropping the rate for the last epoch settles it
(89.7, 89.5, 89.9, 89.0%).
"""

import os
import sys
import time

from minidl.commands import builders

# The options that decide a run's numbers: a resumed run must use the same ones.
RUN_OPTIONS = ("model", "dataset", "batch_size", "lr", "momentum", "weight_decay", "optimizer", "schedule",
               "warmup", "augment", "seed", "limit_train", "limit_test")


def add_arguments(parser):
    parser.add_argument("model", help="a registered model name (see `minidl models`), e.g. lenet5")
    parser.add_argument("--dataset", default="fashion-mnist",
                        help="fashion-mnist (default), mnist, cifar10 or cifar100")
    parser.add_argument("--epochs", type=int, default=2, help="epochs to train (default 2)")
    parser.add_argument("--batch-size", type=int, default=128, help="batch size (default 128)")
    parser.add_argument("--lr", type=float, default=0.05, help="learning rate (default 0.05)")
    parser.add_argument("--momentum", type=float, default=0.9, help="SGD momentum (default 0.9)")
    parser.add_argument("--weight-decay", type=float, default=5e-4, help="weight decay (default 5e-4)")
    parser.add_argument("--optimizer", default="sgd", choices=builders.OPTIMIZERS, help="default sgd")
    parser.add_argument("--schedule", default="step", choices=builders.SCHEDULES,
                        help="learning-rate schedule, stepped each epoch (default step: x0.1 every "
                             "max(1, epochs // 3) epochs)")
    parser.add_argument("--warmup", type=int, default=0, help="warm-up epochs of --schedule cosine")
    parser.add_argument("--augment", nargs="?", const="crop,flip", default="none", metavar="LIST",
                        help="comma-separated augmentations from crop, flip, jitter "
                             "(--augment alone: crop,flip; default none)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="default cpu")
    parser.add_argument("--seed", type=int, default=0, help="seed of initialisation and data order (default 0)")
    parser.add_argument("--out", metavar="DIR", help="output directory (default runs/MODEL-DATASET)")
    parser.add_argument("--resume", nargs="?", const=True, default=None, metavar="CHECKPOINT",
                        help="continue from DIR/last.npz (or from CHECKPOINT)")
    parser.add_argument("--force", action="store_true", help="start afresh even if DIR holds a run")
    parser.add_argument("--data-dir", metavar="DIR",
                        help="look here first for the dataset (then $MINIDL_DATA, ~/.cache/minidl, "
                             "/usr/local/share/datasets, /usr/share/datasets)")
    parser.add_argument("--download", action="store_true",
                        help="download the dataset from its official source if it is not found")
    parser.add_argument("--limit-train", type=int, metavar="N", help="train on the first N images only")
    parser.add_argument("--limit-test", type=int, metavar="N", help="evaluate on the first N images only")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--distributed", action="store_true",
                        help="data-parallel over the ranks of a launcher: mpiexec -n N minidl train MODEL "
                             "--distributed (--batch-size is the global batch; needs pip install 'minidl[mpi]')")


def run(args):
    from minidl.training import TrainingInterrupted

    try:
        if args.distributed:
            _join_world(args)
        return train(args)
    except TrainingInterrupted:
        raise
    except (ValueError, OSError, RuntimeError) as error:
        return _failed(error)
    except BaseException as error:
        _abort_if_alone(error)
        raise


def _config(args):
    config = {key: getattr(args, key) for key in RUN_OPTIONS}
    config["augment"] = ",".join(builders.parse_augment(args.augment)) or "none"
    return config


def _check_resumable(state, config, path):
    saved = state.get("run", {}).get("config", {})
    differences = [
        f"--{key.replace('_', '-')}: checkpoint {saved.get(key)!r}, now {config[key]!r}"
        for key in RUN_OPTIONS if saved.get(key) != config[key]
    ]
    if differences:
        raise ValueError(
            f"{path} was trained with other options; resume with the same ones (or start afresh in "
            "another --out):\n  " + "\n  ".join(differences)
        )


def train(args):
    import minidl as md
    from minidl.data import DataLoader, DistributedLoader, load_dataset, spec
    from minidl.nn.parallel import DistributedDataParallel
    from minidl import distributed
    from minidl.training import Trainer, load_checkpoint
    from minidl.training.checkpoint import load_model_state

    started = time.perf_counter()
    lead = distributed.get_rank() == 0  # the rank that prints and writes
    say = print if lead else _silent
    dataset = spec(args.dataset)
    for name in ("epochs", "batch_size", "limit_train", "limit_test"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    config = _config(args)
    md.manual_seed(args.seed)
    model = builders.build_model(args.model, dataset).to(args.device)

    out = args.out or os.path.join("runs", f"{args.model}-{args.dataset}")
    last = os.path.join(out, "last.npz")
    state = None
    if args.resume:
        path = last if args.resume is True else args.resume
        state = load_checkpoint(path, require=Trainer.STATE_KEYS)
        load_model_state(model, state, path, args.model)  # before any data is loaded: a mismatch costs nothing
        _check_resumable(state, config, path)
    elif os.path.exists(last) and not args.force:
        raise ValueError(f"{out} already holds a run ({last}); continue it with --resume, "
                         "start it again with --force, or pick another --out")

    show = lead and not args.no_progress
    train_set = load_dataset(args.dataset, "train", args.data_dir, args.download, show)
    test_set = load_dataset(args.dataset, "test", args.data_dir, args.download, show)
    train_set, test_set = train_set.head(args.limit_train), test_set.head(args.limit_test)
    builders.check_model_fits(model, args.model, args.dataset, train_set.image_shape, args.device)

    augment = builders.parse_augment(args.augment)
    Loader = DataLoader
    if args.distributed:
        Loader = DistributedLoader
        _check_shards(args.batch_size, len(train_set), len(test_set))
        model = DistributedDataParallel(model)
    train_loader = Loader(train_set, args.batch_size, shuffle=True, seed=args.seed,
                          transform=builders.train_transform(dataset, train_set.image_shape, augment))
    test_loader = Loader(test_set, args.batch_size, transform=builders.test_transform(dataset))
    optimizer = builders.build_optimizer(args.optimizer, model.parameters(), args.lr, args.momentum,
                                         args.weight_decay)
    schedule = builders.build_schedule(args.schedule, optimizer, args.epochs, args.warmup)
    run_info = {"model": args.model, "dataset": args.dataset, "device": args.device, "config": config}
    if args.distributed:
        run_info["world_size"] = distributed.get_world_size()
    trainer = Trainer(model, optimizer, train_loader, test_loader, schedule, args.device, out if lead else None,
                      run_info, progress=show, verbose=lead)
    if state is not None:
        trainer.load_progress(state)  # the model's weights are in already
        say(f"resuming {last if args.resume is True else args.resume}: "
            f"epoch {trainer.epoch + 1}, step {trainer.step} of {len(train_loader)}")

    params = sum(p.size for p in model.parameters())
    ranks = f" on {distributed.get_world_size()} ranks" if args.distributed else ""
    say(f"{args.model} ({params:,} parameters) on {args.dataset}: {len(train_set)} training and "
        f"{len(test_set)} test images of shape {train_set.image_shape}, {args.device}; "
        f"{args.optimizer} lr {args.lr}, {args.epochs} epoch(s) of {len(train_loader)} batches of "
        f"{args.batch_size}{ranks}; writing to {out}")
    if trainer.epoch >= args.epochs:
        say(f"nothing to do: the run in {out} has already trained {trainer.epoch} epochs "
            "(ask for more with --epochs)")
        return 0
    final = trainer.fit(args.epochs)[-1]
    say(f"done: test accuracy {final['test_acc']:.2%} after {final['epoch']} epoch(s), "
        f"{time.perf_counter() - started:.1f} s; wrote metrics.json, curves.png, last.npz and best.npz in {out}")
    return 0


# ---- --distributed -----------------------------------------------------------
def _join_world(args):
    from minidl import distributed, threads

    size = distributed.launcher_world_size()
    if size is None:
        raise ValueError("--distributed needs the world of a launcher: run `mpiexec -n N minidl train "
                         f"{args.model} --distributed ...` (mpiexec comes with pip install 'minidl[mpi]')")
    distributed.init_process_group("nccl" if args.device == "cuda" else "mpi")
    # The ranks on one host share its cores: a rank with as many threads as cores would oversubscribe.
    threads.set_num_threads(max(1, threads.get_num_threads() // distributed.local_world_size()))
    if distributed.get_world_size() == 1 and distributed.get_rank() == 0:
        print("minidl train: warning: --distributed in a world of one process: training as one process "
              "(start more with mpiexec -n N)", file=sys.stderr)


def _check_shards(batch_size, *sizes):
    """Every rank needs at least one image of every global batch, the last one included."""
    from minidl import distributed

    world = distributed.get_world_size()
    for size in sizes:
        smallest = min(batch_size, size % batch_size or batch_size)
        if smallest < world:
            raise ValueError(
                f"--distributed: a batch of {smallest} image(s) ({size} images in batches of {batch_size}) "
                f"cannot give each of {world} ranks an image; pick a --batch-size or --limit-train/--limit-test "
                "that leaves at least one image per rank in every batch"
            )


def _silent(*args, **kwargs):
    pass


def _failed(error):
    """Report an error; in a world of several ranks, end them all unless every rank stops with it."""
    from minidl import distributed
    from minidl.training import TrainingDiverged

    rank, world = distributed.get_rank(), distributed.get_world_size()
    # The loss is agreed over all ranks, so every rank stops at the same step. Any other error
    # may be one rank's alone (a file, a host without the dataset): the others would wait for
    # it inside their next collective forever, so it ends them all.
    shared = isinstance(error, TrainingDiverged)
    if rank == 0 or not shared:
        where = f" (rank {rank} of {world})" if world > 1 else ""
        print(f"minidl train: error{where}: {error}", file=sys.stderr, flush=True)
    if world > 1 and not shared:
        distributed.abort(1)
    return 1


def _abort_if_alone(error):
    """An unexpected error on one rank would leave the others waiting in a collective: end them."""
    from minidl import distributed

    if distributed.get_world_size() > 1 and not isinstance(error, (KeyboardInterrupt, SystemExit)):
        import traceback

        traceback.print_exc()
        distributed.abort(1)
