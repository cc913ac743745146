"""ArrayDataset: images and their labels held in memory as two arrays.

Indexing takes an int or an array of ints and returns (images, labels), so the
DataLoader fetches a whole batch with one fancy-indexing copy instead of a
Python loop over examples. The constructor checks that the labels match the
images: one label per image, whole numbers in [0, num_classes).

>>> import numpy as np
>>> data = ArrayDataset(np.zeros((4, 1, 2, 2), np.uint8), np.array([0, 1, 2, 1]), num_classes=3)
>>> images, labels = data[np.array([3, 0])]
>>> len(data), images.shape, labels.tolist()
(4, (2, 1, 2, 2), [1, 0])
"""

import numpy as np


class ArrayDataset:
    """ArrayDataset(images (N, C, H, W), labels (N,), num_classes=None, name="dataset", source=None).

    ``source``, when given, names where the labels were read from (a file) in errors.
    """

    def __init__(self, images, labels, num_classes=None, name="dataset", source=None):
        images, labels = np.asarray(images), np.asarray(labels)
        if images.ndim != 4:
            raise ValueError(f"{name}: images must have shape (N, C, H, W), got {images.shape}")
        if labels.ndim != 1 or len(labels) != len(images):
            raise ValueError(
                f"{name}: the labels do not match the images: {len(images)} images of shape "
                f"{images.shape[1:]} but labels of shape {labels.shape} (expected ({len(images)},))"
            )
        if labels.dtype.kind not in "iu":  # a TypeError, as in cross_entropy: the wrong kind of value
            raise TypeError(f"{name}: labels must be integers, got dtype {labels.dtype}")
        if num_classes is None:
            num_classes = int(labels.max()) + 1 if len(labels) else 0
        if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
            raise ValueError(
                (f"{source}: {name} " if source else f"{name}: ") + f"labels must be in [0, {num_classes}), "
                f"got values from {int(labels.min())} to {int(labels.max())}"
            )
        self.images = images
        self.labels = labels.astype(np.int64, copy=False)
        self.num_classes = int(num_classes)
        self.name = name

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        return self.images[index], self.labels[index]

    @property
    def image_shape(self):
        """(C, H, W) of one image."""
        return tuple(self.images.shape[1:])

    def head(self, count):
        """The first ``count`` examples (all of them when count is None), as a new dataset."""
        if count is None or count >= len(self):
            return self
        if count < 1:
            raise ValueError(f"{self.name}.head: count must be >= 1, got {count}")
        return ArrayDataset(self.images[:count], self.labels[:count], self.num_classes, self.name)

    def __repr__(self):
        return (f"ArrayDataset({self.name!r}, {len(self)} images of shape {self.image_shape}, "
                f"{self.num_classes} classes)")
