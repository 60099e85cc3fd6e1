from pathlib import Path

import har  # noqa: F401  before any test imports torch: pins the CPU kernels (har/cpu_kernels.py)

import pytest

from loopback import serve

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT.parent / "shared" / "fixtures"


# pytest runs on two workers (pyproject.toml: -n 2, --dist loadgroup). The tests that share the
# tiny `dvc repro` (the `tiny_repo` fixture, built once per worker that asks for it, minutes)
# go to one worker together; the other worker takes everything else meanwhile.
SHARED_REPRO = {"tiny_repo", "restore"}


def pytest_collection_modifyitems(items):
    for item in items:
        if SHARED_REPRO & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.xdist_group("tiny_repo"))


@pytest.fixture(scope="session")
def fixtures() -> Path:
    """../shared/fixtures: real files no one here made. Missing is a failure, never a skip."""
    if not (FIXTURES / "README.md").is_file():
        pytest.fail(f"{FIXTURES} not found: the tests need ../shared/fixtures beside the project")
    return FIXTURES


@pytest.fixture(scope="session")
def videos(fixtures) -> Path:
    return fixtures / "videos"


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """A small cnn3d trained on three synthetic classes the pipeline's way (tests/tiny_model.py)."""
    from tiny_model import build

    return build(tmp_path_factory.mktemp("tiny_model"))


@pytest.fixture(scope="session")
def tiny_repo(tmp_path_factory) -> Path:
    """One `dvc repro` of the tiny preset in a scratch copy, shared by the end-to-end tests
    (tests/scratch_repo.py). A test that changes it restores params.yaml, dvc.lock and outputs."""
    from scratch_repo import tiny_repro

    return tiny_repro(tmp_path_factory.mktemp("repo"))


@pytest.fixture
def server():
    """A loopback HTTP server (tests/loopback.py) serving the files a test puts in it."""
    with serve() as state:
        yield state
