"""The downloaded dataset archives, kept in data/archives/ (a DVC output, so `dvc push` shares them).

Layout: data/archives/<dataset>/<file name from the URL>, plus data/archives/current.json
recording what the current params asked for (file, URL, checksum, size).

The folder is `persist`ed in dvc.yaml: DVC does not delete it before the download
stage runs, and `har.download.fetch` skips a file that is present and passes its
checksum, so a params change never fetches gigabytes again. Within the current
dataset's folder, files the params no longer name (say, UCF101.rar after switching
to the zip mirror) are deleted, so DVC does not keep caching and pushing them.
Other datasets' folders are kept: switching from UCF101 to HMDB51 and back must
not download UCF101 again.
"""

from __future__ import annotations

from pathlib import Path

from har.config import ArchiveSource
from har.download import fetch, url_file_name
from har.errors import InputError
from har.fileio import write_json

RECORD = "current.json"


class ArchiveStoreError(InputError):
    """The params name archives that cannot be stored side by side."""


def fetch_archives(dataset: str, sources: dict[str, ArchiveSource], store: Path,
                   progress: bool = True) -> dict[str, Path]:
    """Fetch and verify every archive of `dataset`; returns role ("videos", "splits") -> path.

    Every archive is fetched and verified before this returns, so a bad checksum
    stops the stage before anything is unpacked.
    """
    folder = Path(store) / dataset
    names = {role: url_file_name(source.url) for role, source in sources.items()}
    if len(set(names.values())) != len(names):
        raise ArchiveStoreError(f"params.yaml: dataset.{dataset}: two archives have the same "
                                f"file name ({names}); they would overwrite each other")
    _remove_unwanted(folder, set(names.values()))
    paths = {}
    for role, source in sources.items():
        paths[role] = fetch(source.url, folder / names[role], sha256=source.sha256,
                            md5=source.md5, progress=progress)
    record_archives(store, dataset, {role: {"file": f"{dataset}/{names[role]}",
                                            "url": sources[role].url,
                                            "checksum": sources[role].checksum,
                                            "bytes": paths[role].stat().st_size}
                                     for role in sources})
    return paths


def record_archives(store: Path, dataset: str, archives: dict[str, dict]) -> None:
    """Write current.json; it also keeps the DVC output from being an empty folder."""
    write_json(Path(store) / RECORD, {"dataset": dataset, "archives": archives})


def _remove_unwanted(folder: Path, wanted: set[str]) -> None:
    if not folder.is_dir():
        return
    # A wanted file's .part is an interrupted download that fetch() resumes.
    keep = wanted | {f"{name}.part" for name in wanted}
    for path in folder.iterdir():
        if path.name not in keep and path.is_file():
            print(f"download: deleting {path}, which params.yaml no longer names")
            path.unlink()
