"""Root fixtures shared by claims and tests."""

import pytest

from fixtures.digits import digits_split


@pytest.fixture(scope="session")
def digits():
    """sklearn digits as tensors: (x_train, y_train, x_test, y_test), a fixed stratified split."""
    return digits_split()
