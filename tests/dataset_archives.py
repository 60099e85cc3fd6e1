"""Tiny UCF101- and HMDB51-shaped archives for tests: the real split-file formats, a few videos.

No RAR writer installs with pip, so the archives are ZIPs (the unpacking code detects
the format from the bytes; the RAR path is tested on ../shared/fixtures/rar). The
layouts are the real ones: UCF101.rar holds `UCF-101/<Class>/<file>.avi` (the zip
mirror one flat folder), hmdb51_org.rar one `<class>.rar` per class, each holding
`<class>/<video>.avi`.
"""

from __future__ import annotations

import hashlib
import io
import zipfile

# One class of each of the five UCF101 action types; HandstandPushups has UCF101's quirk
# (its files are named v_HandStandPushups_*).
UCF_CLASSES = ("ApplyEyeMakeup", "Archery", "Drumming", "Haircut", "HandstandPushups")
UCF_GROUPS = 4  # split k tests on group k, so every split has test and train groups

HMDB_TAGS = "u_nm_np1_fr_goo"  # body part, camera motion, people, viewpoint, quality
# Sources with every character the real names use; the first is shared by all classes' train
# clips, the second is in one class's test set and another class's train set (as in HMDB51).
HMDB_SOURCES = ("Film!#&()+;@[]~", "Shared_Film_2", "Other_Movie")


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def zip_bytes(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def ucf_file(cls: str, group: int, clip: int) -> str:
    stem = "HandStandPushups" if cls == "HandstandPushups" else cls
    return f"{cls}/v_{stem}_g{group:02d}_c{clip:02d}.avi"


def ucf101_archives(videos: dict[str, bytes] | None = None, *, flat: bool = False,
                    clips: int = 1) -> tuple[bytes, bytes, list[str]]:
    """(videos zip, splits zip, video paths `<Class>/<file>`) of a UCF101-shaped dataset.

    `videos` maps a class to its video bytes (default: a few placeholder bytes, for
    tests that never decode). flat=True lays the videos out like the zip mirror.
    """
    paths = [ucf_file(c, g, k) for c in UCF_CLASSES for g in range(1, UCF_GROUPS + 1)
             for k in range(1, clips + 1)]
    body = {p: (videos[p.split("/")[0]] if videos else f"video {p}".encode()) for p in paths}
    top = {p: f"UCF101/{p.split('/')[1]}" if flat else f"UCF-101/{p}" for p in paths}
    videos_zip = zip_bytes({top[p]: body[p] for p in paths})
    crlf = "\r\n"
    lists = {"classInd.txt": "".join(f"{i} {c}{crlf}" for i, c in enumerate(UCF_CLASSES, 1))}
    for k in (1, 2, 3):
        label = {c: i for i, c in enumerate(UCF_CLASSES, 1)}
        group = lambda p: int(p.split("_g")[1][:2])  # noqa: E731
        lists[f"trainlist{k:02d}.txt"] = "".join(f"{p} {label[p.split('/')[0]]}{crlf}"
                                                 for p in paths if group(p) != k)
        lists[f"testlist{k:02d}.txt"] = "".join(f"{p}{crlf}" for p in paths if group(p) == k)
    splits_zip = zip_bytes({f"ucfTrainTestlist/{name}": text.encode() for name, text in lists.items()})
    return videos_zip, splits_zip, paths


def hmdb_name(source: str, cls: str, n: int) -> str:
    return f"{source}_{cls}_{HMDB_TAGS}_{n}.avi"


def hmdb51_archives(classes: list[str], video: bytes) -> tuple[bytes, bytes, dict[str, dict[str, int]]]:
    """(nested videos zip, splits zip, class -> {file: split-1 mark}) of an HMDB51-shaped dataset.

    Per class: one train clip of a film all classes share, one test clip; a few classes
    also have an unused clip (mark 0) or a clip of a third film. Class 0 tests on a film
    that class 1 trains on: the official HMDB51 split allows that. The three split files
    of a class are identical here.
    """
    marks: dict[str, dict[str, int]] = {}
    for i, cls in enumerate(classes):
        test_source = HMDB_SOURCES[1] if i == 0 else f"Test_Source_{i}"
        marks[cls] = {hmdb_name(HMDB_SOURCES[0], cls, 0): 1, hmdb_name(test_source, cls, 1): 2}
        if i == 1:
            marks[cls][hmdb_name(HMDB_SOURCES[1], cls, 2)] = 1  # the film that test also uses
        if i % 10 == 0:
            marks[cls][hmdb_name(HMDB_SOURCES[2], cls, 3)] = 0
        if i % 10 == 1:
            marks[cls][hmdb_name(f"Solo_{i}", cls, 4)] = 1  # one more train group ("solo")
    inner = {f"{cls}.zip": zip_bytes({f"{cls}/{name}": video for name in names})
             for cls, names in marks.items()}
    splits = {f"testTrainMulti_7030_splits/{cls}_test_split{k}.txt":
              "".join(f"{name} {mark} \n" for name, mark in names.items()).encode()
              for cls, names in marks.items() for k in (1, 2, 3)}
    return zip_bytes(inner), zip_bytes(splits), marks
