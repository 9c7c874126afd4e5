import pytest
from store_backends import BACKENDS, drop, new_location


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def location(backend, tmp_path):
    """A fresh collection location on each backend; server collections are dropped after."""
    made = []

    def make(name: str = "c") -> str:
        made.append(new_location(backend, tmp_path, name))
        return made[-1]

    yield make
    for loc in made:
        drop(loc)
