"""``minidl models``: the registered model names."""


def add_arguments(parser):
    pass


def run(args):
    from minidl import models

    for name in models.list_models():
        print(name)
    return 0
