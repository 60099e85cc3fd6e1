"""Stage `split`: data/splits/{train,val,test}.csv from the dataset's split files.

Validation is carved out of train by group, and no group may cross sets (except where the
official test set itself shares groups with train: HMDB51).
"""


from har import paths
from har.config import load_params
from har.datasets.split_reader import read_dataset_split, test_shares_groups_with_train
from har.datasets.splits import (SplitError, assert_disjoint_groups, carve_validation,
                                 thin_class_warnings)
from har.fileio import read_csv, write_csv, write_text
from har.stage import run

FIELDS = ["id", "label", "class", "group", "frames", "frames_stored"]


def main() -> None:
    params = load_params()
    classes, train, test = read_dataset_split(params.dataset.name, paths.RAW_SPLITS,
                                              params.dataset.split)
    train, val = carve_validation(train, params.split.val_fraction, params.split.seed)
    sets = {"train": train, "val": val, "test": test}
    if test_shares_groups_with_train(params.dataset.name):
        assert_disjoint_groups({"train": train, "val": val})
        shared = {e.group for e in train + val} & {e.group for e in test}
        print(f"split: {len(shared)} groups of the official test set are also in train/val "
              "(the protocol allows it; see har/datasets/hmdb51.py)")
    else:
        assert_disjoint_groups(sets)

    for warning in thin_class_warnings(sets, classes):
        print(warning)
    manifest = {r["id"]: r for r in read_csv(paths.MANIFEST)}
    for name, entries in sets.items():
        rows, missing, failed = [], [], []
        for e in entries:
            m = manifest.get(e.video)
            if m is None:
                missing.append(e.video)
            elif m["status"] != "ok":
                failed.append(e.video)  # extraction already reported why
            else:
                rows.append({"id": e.video, "label": e.label, "class": classes[e.label],
                             "group": e.group, "frames": m["frames"],
                             "frames_stored": m["frames_stored"]})
        if missing:
            raise SplitError(f"{paths.RAW_SPLITS}: {len(missing)} {name} videos of split "
                             f"{params.dataset.split} are not in {paths.MANIFEST}, "
                             f"e.g. {missing[0]}")
        if not rows:
            raise SplitError(f"split {params.dataset.split}: the {name} set is empty")
        write_csv(paths.SPLITS / f"{name}.csv", FIELDS, rows)
        note = f" ({len(failed)} skipped: failed extraction)" if failed else ""
        print(f"split: {name} {len(rows)} videos in {len({r['group'] for r in rows})} groups{note}")
    write_text(paths.SPLITS / "classes.txt", "".join(f"{c}\n" for c in classes))


if __name__ == "__main__":
    run("split", main)
