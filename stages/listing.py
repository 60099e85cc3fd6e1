"""Stage `listing`: list a folder dataset's videos into data/listing.tsv (path, size and
modification time, found with lstat: no video is opened), which the download stage depends
on. Adding, removing, renaming or replacing a video changes the list, so `dvc repro` re-runs
download and whatever its output changes. With another dataset the file says so and never
changes.

It runs on every `dvc repro` (always_changed in listing/dvc.yaml): DVC cannot see inside a folder
that is not a dependency, and the folder cannot be one (DVC would read every file in it to
hash it, and a named pipe there would block it forever). The same bytes as before leave
download up to date.
"""

from har import paths
from har.config import load_params
from har.datasets.folder import dataset_listing
from har.fileio import write_text
from har.stage import run


def main() -> None:
    write_text(paths.LISTING, dataset_listing(load_params().dataset))


if __name__ == "__main__":
    run("listing", main)
