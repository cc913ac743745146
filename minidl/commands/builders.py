"""From the names and numbers of a command line to the objects of a training run.

    --augment crop,flip,jitter   RandomCrop (padding 2 on 28x28 images, 4 on 32x32), RandomHorizontalFlip,
                                 ColorJitter(0.3, 0.3, 0.3); then, always, Normalize with the
                                 dataset's per-channel mean and std
    --optimizer sgd|adam|adamw   SGD(lr, momentum, weight_decay) | Adam(lr, weight_decay) | AdamW(...)
    --schedule none|step|multistep|cosine|plateau
        step:      StepLR, x0.1 every max(1, epochs // 3) epochs
        multistep: MultiStepLR, x0.1 at 50% and 75% of the epochs
        cosine:    CosineAnnealingLR to 0 at the last epoch, after --warmup epochs of warm-up
        plateau:   ReduceLROnPlateau on the test loss, x0.1 after 2 epochs without improvement

>>> parse_augment("flip,crop")
('crop', 'flip')
"""

import numpy as np

from minidl import models, optim
from minidl.autograd import no_grad
from minidl.data import transforms
from minidl.optim import lr_scheduler
from minidl.tensor import tensor

AUGMENTATIONS = ("crop", "flip", "jitter")
OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("none", "step", "multistep", "cosine", "plateau")


def build_model(name, dataset):
    """Model ``name`` with one output per class of ``dataset`` (a DatasetSpec)."""
    return models.get(name, num_classes=dataset.num_classes)


def check_model_fits(model, name, dataset_name, image_shape, device):
    """Run one blank image through the model, so a model that cannot take these images fails now."""
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            model(tensor(np.zeros((1,) + tuple(image_shape), np.float32), device=device))
    except (ValueError, TypeError) as error:
        raise ValueError(
            f"model {name!r} does not take {dataset_name} images of shape {tuple(image_shape)}: {error}"
        ) from error
    finally:
        model.train(was_training)


def parse_augment(text):
    """The augmentations named in a comma-separated list ("" or "none": none)."""
    names = [part.strip() for part in (text or "").split(",") if part.strip() and part.strip() != "none"]
    unknown = [name for name in names if name not in AUGMENTATIONS]
    if unknown:
        raise ValueError(f"unknown augmentation {', '.join(unknown)}; known: {', '.join(AUGMENTATIONS)}")
    return tuple(name for name in AUGMENTATIONS if name in names)


def train_transform(dataset, image_shape, augment):
    """The training batches' transform: the chosen augmentations, then Normalize."""
    steps = []
    if "crop" in augment:
        steps.append(transforms.RandomCrop(image_shape[1:], padding=4 if image_shape[1] >= 32 else 2))
    if "flip" in augment:
        steps.append(transforms.RandomHorizontalFlip())
    if "jitter" in augment:
        steps.append(transforms.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3))
    steps.append(test_transform(dataset))
    return transforms.Compose(steps)


def test_transform(dataset):
    return transforms.Normalize(dataset.mean, dataset.std)


def build_optimizer(name, params, lr, momentum=0.0, weight_decay=0.0):
    if name == "sgd":
        return optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "adam":
        return optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}; known: {', '.join(OPTIMIZERS)}")


def build_schedule(name, optimizer, epochs, warmup=0):
    """The learning-rate schedule called ``name`` (None for "none"), stepped once per epoch."""
    if warmup and name != "cosine":
        raise ValueError(f"--warmup works with --schedule cosine, not {name!r}")
    if name == "none":
        return None
    if name == "step":
        return lr_scheduler.StepLR(optimizer, step_size=max(1, epochs // 3), gamma=0.1)
    if name == "multistep":
        milestones = sorted({m for m in (epochs // 2, epochs * 3 // 4) if m >= 1})
        return lr_scheduler.MultiStepLR(optimizer, milestones=milestones, gamma=0.1)
    if name == "cosine":
        return lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(epochs, warmup + 1), warmup=warmup)
    if name == "plateau":
        return lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=0.1, patience=2)
    raise ValueError(f"unknown schedule {name!r}; known: {', '.join(SCHEDULES)}")
