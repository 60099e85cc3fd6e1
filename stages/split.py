"""Stage `split`: data/splits/{train,val,test}.csv from the official split files.

Validation is carved out of train by group, and no group may cross sets.
"""


from har import paths
from har.config import load_params
from har.fileio import read_csv, write_csv, write_text
from har.splits import SplitError, assert_disjoint_groups, carve_validation, read_ucf_split
from har.stage import run

FIELDS = ["id", "label", "class", "group", "frames", "frames_stored"]


def main() -> None:
    params = load_params()
    classes, train, test = read_ucf_split(paths.RAW_SPLITS, params.dataset.split)
    train, val = carve_validation(train, params.split.val_fraction, params.split.seed)
    sets = {"train": train, "val": val, "test": test}
    assert_disjoint_groups(sets)

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
