"""Test configuration: hypothesis profiles and the device the op tests run on.

MINIDL_HYPOTHESIS_PROFILE picks the profile:
  dev      a few examples, for editing
  ci       the default and what CI runs: 300 examples per property (3x hypothesis's
           default; the whole suite takes about 3 minutes), derandomized, so landing
           never hinges on luck
  intense  1000 examples per property, to explore; turn each failure into an @example

MINIDL_TEST_DEVICE=cuda runs the device-parametrised tests on the GPU.
"""

import os

import pytest
from hypothesis import HealthCheck, settings

_COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("dev", max_examples=10, **_COMMON)
settings.register_profile("ci", max_examples=300, derandomize=True, print_blob=True, **_COMMON)
settings.register_profile("intense", max_examples=1000, **_COMMON)
settings.load_profile(os.environ.get("MINIDL_HYPOTHESIS_PROFILE", "ci"))

TEST_DEVICE = os.environ.get("MINIDL_TEST_DEVICE", "cpu")


@pytest.fixture(scope="session")
def device():
    """The device the op tests run on (MINIDL_TEST_DEVICE, default cpu).

    Session-scoped: it is a constant, and hypothesis refuses function-scoped
    fixtures in @given tests."""
    return TEST_DEVICE


def pytest_report_header(config):
    profile = os.environ.get("MINIDL_HYPOTHESIS_PROFILE", "ci")
    return f"minidl: hypothesis profile {profile!r} ({settings().max_examples} examples), device {TEST_DEVICE!r}"
