"""Training: the Trainer loop, checkpoints, metrics.json and curves.png.

>>> import numpy as np, minidl as md
>>> from minidl.data import ArrayDataset, DataLoader
>>> md.manual_seed(0)
>>> data = ArrayDataset(np.random.default_rng(0).random((8, 1, 2, 2)), np.arange(8) % 2)
>>> model = md.nn.Sequential(md.nn.Flatten(), md.nn.Linear(4, 2))
>>> trainer = Trainer(model, md.optim.SGD(model.parameters(), lr=0.1),
...                   DataLoader(data, 4, shuffle=True, seed=0), DataLoader(data, 4),
...                   progress=False, verbose=False)
>>> [sorted(record) for record in trainer.fit(epochs=1)]
[['epoch', 'lr', 'seconds', 'test_acc', 'test_loss', 'train_acc', 'train_loss']]
"""

from minidl.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from minidl.training.trainer import Trainer, TrainingDiverged, TrainingInterrupted

__all__ = [
    "CheckpointError", "Trainer", "TrainingDiverged", "TrainingInterrupted", "load_checkpoint", "save_checkpoint",
]
