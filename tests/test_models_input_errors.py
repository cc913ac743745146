"""An input a model cannot take fails with a ValueError naming the layer where the
maps became smaller than the kernel, said once, with that layer's input shape."""

import numpy as np
import pytest

import minidl as md


def _zeros(shape):
    return md.tensor(np.zeros(shape, np.float32))


@pytest.fixture(scope="module")
def alexnet():
    return md.models.alexnet()


def test_16x16_into_alexnet_names_the_pool_where_the_maps_ran_out(alexnet):
    with pytest.raises(ValueError) as caught:
        alexnet(_zeros((1, 3, 16, 16)))
    message = str(caught.value)
    # conv1 11x11/4 pad 2: 16 -> 3; pool1 3x3/2: 3 -> 1; conv2 5x5 pad 2: 1 -> 1; pool2 3x3 on 1x1.
    assert "max_pool2d" in message and "kernel_size 3" in message
    assert "'features.5'" in message and "MaxPool2d" in message and "(1, 192, 1, 1)" in message
    assert message.count("raised in layer") == 1


def test_a_layer_deep_inside_nested_modules_is_named_by_its_full_path():
    model = md.models.googlenet(num_classes=10)
    model.train()
    with pytest.raises(ValueError) as caught:
        model(_zeros((1, 3, 32, 32)))  # 2x2 maps reach the first auxiliary head's 5x5 pool
    message = str(caught.value)
    assert "avg_pool2d" in message and "'aux1.pool'" in message and "(1, 512, 2, 2)" in message
    assert message.count("raised in layer") == 1


def test_alexnet_at_the_wrong_size_names_the_classifier_layer(alexnet):
    alexnet.eval()
    with pytest.raises(ValueError) as caught:
        alexnet(_zeros((1, 3, 100, 100)))  # 256x2x2 maps reach an fc layer built for 256x6x6
    message = str(caught.value)
    assert "'classifier.1'" in message and "Linear" in message and "(1, 1024)" in message


def test_calling_a_single_layer_adds_nothing_and_the_error_stays_a_value_error():
    conv = md.nn.Conv2d(3, 4, 5)
    with pytest.raises(ValueError) as caught:
        conv(_zeros((1, 3, 2, 2)))
    assert "raised in layer" not in str(caught.value)
    model = md.nn.Sequential(md.nn.Sequential(conv))
    with pytest.raises(ValueError, match=r"raised in layer '0\.0', Conv2d, on input \(1, 3, 2, 2\)"):
        model(_zeros((1, 3, 2, 2)))
    # The next call is independent: no state left behind from the failed one.
    assert model(_zeros((1, 3, 5, 5))).shape == (1, 4, 1, 1)
