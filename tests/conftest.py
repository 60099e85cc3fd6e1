from pathlib import Path

import har  # noqa: F401  before any test imports torch: pins the CPU kernels (har/cpu_kernels.py)

import pytest

from loopback import serve

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT.parent / "shared" / "fixtures"


# pytest runs on two workers (pyproject.toml: -n 2), a file at a time, except that the files
# sharing the tiny `dvc repro` (the `tiny_repo` fixture, minutes) go to one worker together,
# so that it is built once; they start first, being the run's longest path, while the other
# worker works through the other files. (xdist's own grouping, --dist loadgroup, does nothing
# under pytest 9: it renames test ids through an attribute pytest no longer reads.)
TINY_REPO_FILES = {"tests/test_pipeline.py", "tests/test_team.py", "tests/test_grid.py"}


def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class FilesAndTinyRepo(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return "tiny_repo" if path in TINY_REPO_FILES else path

    return FilesAndTinyRepo(config, log)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    for item in items:
        path = item.nodeid.split("::", 1)[0]
        if "tiny_repo" in getattr(item, "fixturenames", ()) and path not in TINY_REPO_FILES:
            raise pytest.UsageError(f"{path} uses the tiny_repo fixture: add it to "
                                    "TINY_REPO_FILES in tests/conftest.py")
    # The tiny repro's files first (a stable sort keeps the rest in order).
    items.sort(key=lambda item: item.nodeid.split("::", 1)[0] not in TINY_REPO_FILES)


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
