"""The download stage's work for real datasets: fetch, verify, unpack by the split files."""

import io
import json
import zipfile
from pathlib import Path

import pytest
import yaml

from dataset_archives import hmdb51_archives, sha256, ucf101_archives, zip_bytes
from har.config import DatasetConfig, deep_merge, parse_params
from har.datasets.raw import DatasetError, prepare_raw
from har.download import DownloadError

ROOT = Path(__file__).resolve().parents[1]


def dataset(name: str, **section) -> DatasetConfig:
    """params.yaml's dataset section with `name` chosen and its sub-section overridden."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["dataset"] = deep_merge(params["dataset"], {"name": name, name: section})
    return parse_params(params).dataset


def source(url: str, data: bytes) -> dict:
    return {"url": url, "checksum": sha256(data)}


def file_url(path: Path, data: bytes) -> dict:
    path.write_bytes(data)
    return source(path.as_uri(), data)


def files_under(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_ucf101_download_resumes_after_a_dropped_connection(server, tmp_path):
    videos, splits, paths = ucf101_archives()
    server.files.update({"UCF101.zip": videos, "splits.zip": splits})
    server.drop_after["UCF101.zip"] = len(videos) // 2
    ds = dataset("ucf101", videos=source(server.url("UCF101.zip"), videos),
                 splits=source(server.url("splits.zip"), splits))
    store, raw = tmp_path / "archives", tmp_path / "raw"
    lines = prepare_raw(ds, store, raw, progress=False)

    ranges = [r.range for r in server.requests if r.path == "/UCF101.zip"]
    assert ranges == [None, f"bytes={len(videos) // 2}-"]  # the retry resumed, not restarted
    assert (store / "ucf101" / "UCF101.zip").read_bytes() == videos
    assert not list(store.rglob("*.part"))
    record = json.loads((store / "current.json").read_text())
    assert record["dataset"] == "ucf101" and record["archives"]["videos"]["bytes"] == len(videos)
    # Unpacked by the split files: UCF-101/<Class>/... becomes videos/<Class>/..., the
    # HandstandPushups folder keeps its v_HandStandPushups_* files.
    assert files_under(raw / "videos") == {p: f"video {p}".encode() for p in paths}
    assert "HandstandPushups/v_HandStandPushups_g01_c01.avi" in paths
    assert sorted(p.name for p in (raw / "splits").iterdir()) == sorted(
        ["classInd.txt"] + [f"{kind}list0{k}.txt" for kind in ("train", "test") for k in (1, 2, 3)])
    assert lines == [f"unpacked {len(paths)} videos from UCF101.zip"]


def test_a_checksum_mismatch_is_refused_before_anything_is_unpacked(server, tmp_path):
    videos, splits, _ = ucf101_archives()
    server.files.update({"UCF101.zip": videos, "splits.zip": splits})
    ds = dataset("ucf101", videos=source(server.url("UCF101.zip"), videos),
                 splits=source(server.url("splits.zip"), b"other bytes"))
    store, raw = tmp_path / "archives", tmp_path / "raw"
    (raw / "videos").mkdir(parents=True)
    (raw / "videos" / "from_the_last_run.avi").write_bytes(b"old")
    with pytest.raises(DownloadError, match=r"splits\.zip: sha256 mismatch"):
        prepare_raw(ds, store, raw, progress=False)
    assert files_under(raw) == {"videos/from_the_last_run.avi": b"old"}  # untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["archives", "raw"]  # no staging left
    assert sorted(p.name for p in (store / "ucf101").iterdir()) == ["UCF101.zip"]  # bad one deleted


def test_the_zip_mirror_from_file_urls_gives_the_same_layout(tmp_path):
    videos, splits, paths = ucf101_archives(flat=True)  # UCF101/v_*.avi, no class folders
    ds = dataset("ucf101", videos=file_url(tmp_path / "UCF101_videos.zip", videos),
                 splits=file_url(tmp_path / "splits.zip", splits))
    prepare_raw(ds, tmp_path / "archives", tmp_path / "raw", progress=False)
    assert sorted(files_under(tmp_path / "raw" / "videos")) == sorted(paths)


def test_switching_the_source_deletes_only_the_replaced_archive(tmp_path):
    videos, splits, _ = ucf101_archives()
    store = tmp_path / "archives"
    (store / "hmdb51").mkdir(parents=True)
    (store / "hmdb51" / "hmdb51_org.rar").write_bytes(b"kept")
    splits_source = file_url(tmp_path / "splits.zip", splits)
    for name in ("UCF101.zip", "mirror.zip"):
        ds = dataset("ucf101", videos=file_url(tmp_path / name, videos), splits=splits_source)
        prepare_raw(ds, store, tmp_path / "raw", progress=False)
    assert sorted(p.name for p in (store / "ucf101").iterdir()) == ["mirror.zip", "splits.zip"]
    assert (store / "hmdb51" / "hmdb51_org.rar").read_bytes() == b"kept"


def test_an_archive_without_a_listed_video_is_refused_by_name(tmp_path):
    videos, splits, paths = ucf101_archives()
    with zipfile.ZipFile(io.BytesIO(videos)) as full:
        partial = zip_bytes({i.filename: full.read(i) for i in full.infolist()[1:]})  # drops one
    ds = dataset("ucf101", videos=file_url(tmp_path / "partial.zip", partial),
                 splits=file_url(tmp_path / "splits.zip", splits))
    with pytest.raises(DatasetError, match=rf"partial\.zip: 1 of the {len(paths)} videos named by "
                                           rf"the split files are not in it, e\.g\. {paths[0]}"):
        prepare_raw(ds, tmp_path / "archives", tmp_path / "raw", progress=False)
    assert not (tmp_path / "raw").exists()


def test_hmdb51_nested_archive_unpacks_every_listed_video(tmp_path, fixtures):
    classes = sorted({p.name.rsplit("_test_split", 1)[0] for p in (fixtures / "hmdb51_splits").iterdir()})
    videos, splits, marks = hmdb51_archives(classes, b"avi")
    ds = dataset("hmdb51", videos=file_url(tmp_path / "hmdb51_org.zip", videos),
                 splits=file_url(tmp_path / "test_train_splits.zip", splits))
    raw = tmp_path / "raw"
    prepare_raw(ds, tmp_path / "archives", raw, progress=False)
    expected = {f"{cls}/{name}" for cls, names in marks.items() for name in names}
    assert set(files_under(raw / "videos")) == expected  # unused (mark 0) clips too
    assert any("!#&()+;@[]~" in path for path in expected)
    assert len(list((raw / "splits").iterdir())) == 3 * 51
    assert not (raw / "videos" / f"{classes[0]}.zip").exists()  # inner archives are gone
