import logging

import numpy as np
import pytest

logging.getLogger("sherpa").setLevel(logging.ERROR)

from sherpa_rim.response.library import ResponseLibrary, shared_data_dir  # noqa: E402

SHARED = shared_data_dir()


def pytest_collection_modifyitems(config, items):
    if SHARED is None:
        skip = pytest.mark.skip(reason="../shared/data/chandra not found (set SHERPA_RIM_DATA)")
        for it in items:
            if "requires_data" in it.keywords:
                it.add_marker(skip)


@pytest.fixture(scope="session")
def library():
    return ResponseLibrary.default()


@pytest.fixture(scope="session")
def shared_dir():
    if SHARED is None:
        pytest.skip("../shared/data/chandra not found")
    return SHARED


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture
def clean_session():
    """A fresh sherpa.astro.ui session, restored afterwards."""
    from sherpa.astro import ui

    import sherpa_rim
    ui.clean()
    sherpa_rim.register()          # clean() forgets the prior statistics
    yield ui
    ui.clean()
    sherpa_rim.register()
