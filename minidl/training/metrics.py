"""``metrics.json``: the run's settings and one record per finished epoch.

    {"model": "lenet5", "dataset": "fashion-mnist", "config": {...the options...},
     "epochs": [{"epoch": 1, "train_loss": 0.52, "train_acc": 0.81, "test_loss": 0.40,
                 "test_acc": 0.85, "lr": 0.05, "seconds": 51.3}, ...]}

Accuracies are fractions in [0, 1]; ``lr`` is the rate the epoch trained with;
``seconds`` is the epoch's wall time, training and evaluation. The file is
rewritten whole (atomically) after every epoch.

>>> import json, os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "metrics.json")
>>> write_metrics(path, {"model": "lenet5"}, [{"epoch": 1, "test_acc": 0.9}])
>>> json.load(open(path))["epochs"][0]["test_acc"]
0.9
"""

import json

from minidl.atomic import write_atomically


def write_metrics(path, run, epochs):
    """Write ``run`` (model, dataset, config) with the list ``epochs`` to ``path`` as JSON."""
    document = dict(run, epochs=list(epochs))
    text = json.dumps(document, indent=2) + "\n"
    write_atomically(path, lambda f: f.write(text.encode("utf-8")))
