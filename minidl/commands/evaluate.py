"""``minidl evaluate MODEL --checkpoint PATH``: test loss and accuracy of a saved model.

The dataset defaults to the one the checkpoint was trained on. A checkpoint of
another model is refused with the lists of missing, unexpected and
shape-mismatched parameter names.
"""

import sys


def add_arguments(parser):
    parser.add_argument("model", help="the registered model name the checkpoint was trained as")
    parser.add_argument("--checkpoint", required=True, metavar="PATH", help="a checkpoint from `minidl train`")
    parser.add_argument("--dataset", help="default: the checkpoint's dataset")
    parser.add_argument("--batch-size", type=int, default=256, help="default 256")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="default cpu")
    parser.add_argument("--data-dir", metavar="DIR", help="look here first for the dataset")
    parser.add_argument("--download", action="store_true", help="download the dataset if it is not found")
    parser.add_argument("--limit-test", type=int, metavar="N", help="evaluate on the first N images only")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args):
    try:
        return evaluate(args)
    except (ValueError, OSError, RuntimeError) as error:
        print(f"minidl evaluate: error: {error}", file=sys.stderr)
        return 1


def evaluate(args):
    from minidl.data import DataLoader, load_dataset, spec
    from minidl.commands import builders
    from minidl.training import load_checkpoint
    from minidl.training.checkpoint import load_model_state
    from minidl.training.trainer import evaluate as evaluate_model

    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.limit_test is not None and args.limit_test < 1:
        raise ValueError(f"--limit-test must be >= 1, got {args.limit_test}")
    state = load_checkpoint(args.checkpoint, require=("model",))
    run_info = state.get("run") or {}
    dataset_name = args.dataset or run_info.get("dataset") or "fashion-mnist"
    dataset = spec(dataset_name)
    model = builders.build_model(args.model, dataset).to(args.device)
    load_model_state(model, state, args.checkpoint, args.model)
    test_set = load_dataset(dataset_name, "test", args.data_dir, args.download, not args.no_progress)
    test_set = test_set.head(args.limit_test)
    builders.check_model_fits(model, args.model, dataset_name, test_set.image_shape, args.device)
    loader = DataLoader(test_set, args.batch_size, transform=builders.test_transform(dataset))
    loss, accuracy = evaluate_model(model, loader, args.device, progress=not args.no_progress)
    print(f"{args.model} from {args.checkpoint} (epoch {state.get('epoch')}) on the {dataset_name} test set "
          f"({len(test_set)} images): loss {loss:.4f}, accuracy {accuracy:.2%}")
    return 0
