from pathlib import Path

import har  # noqa: F401  before any test imports torch: pins the CPU kernels (har/cpu_kernels.py)

import pytest

from loopback import serve

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT.parent / "shared" / "fixtures"


# pytest runs on two workers (pyproject.toml: -n 2, --dist loadgroup), a group at a time. The
# tests that share the tiny `dvc repro` (the `tiny_repo` fixture, minutes) form one group, so
# it is built once; every other test is grouped with its file, so that a file's module-scoped
# fixtures (a UCF101 repro, a benchmark run) are built once too. One worker takes the tiny
# group while the other works through the files.
SHARED_REPRO = {"tiny_repo", "restore"}


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(items):
    first = []
    for item in items:
        shared = SHARED_REPRO & set(getattr(item, "fixturenames", ()))
        item.add_marker(pytest.mark.xdist_group("tiny_repo" if shared else item.path.name))
        first.append(not shared)
    # The longest group first (a stable sort keeps each file's order): it is the run's
    # critical path, so it must not wait behind the files.
    items[:] = [item for _, item in sorted(zip(first, items), key=lambda pair: pair[0])]


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
