"""Extract every video of a dataset into one frames file each, plus a manifest CSV."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from har.datasets.ucf101 import GROUP_RE
from har.errors import HarError, MissingFileError
from har.fileio import file_digest, write_csv
from har.frames import SUFFIX, save_frames
from har.video import VideoError, read_frames

# frames_md5: the md5 of the video's frames file. The stages that read frames (features,
# train, evaluate) depend on this one file instead of the frames folder: DVC would hash the
# folder's 13,320 files once per stage on every `dvc repro` (most of a no-op run's time), and
# the manifest changes whenever any frames file does.
MANIFEST_FIELDS = ["id", "class", "group", "source", "fps", "width", "height", "frame_count",
                   "duration", "status", "error", "rotation", "codec", "frames_stored", "frames",
                   "frames_md5", "note"]


class ExtractionError(HarError, RuntimeError):
    """Too many videos failed to decode."""


@dataclass(frozen=True)
class ExtractSettings:
    frames: int
    short_side: int
    jpeg_quality: int
    max_failed_fraction: float
    workers: int  # 0 = one per CPU core


def find_videos(root: Path) -> list[Path]:
    """Every file under `root` except hidden ones (editors', macOS's `._x.avi`, our `.tmp`s).

    No extension filter: the download stage puts only videos in data/raw/videos, and
    decides what a video is (a folder dataset's `extensions` may name any container
    ffmpeg reads). A stray non-video is recorded as failed, never silently skipped.
    """
    root = Path(root)
    if not root.is_dir():
        raise MissingFileError(f"{root}: video folder not found (did the download stage run?)")
    return sorted(p for p in root.rglob("*")
                  if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts))


def extract_one(video: Path, root: Path, out_dir: Path, s: ExtractSettings) -> dict:
    """Extract one video; never raises for a bad video, the row says what went wrong."""
    rel = video.relative_to(root)
    vid = rel.with_suffix("").as_posix()
    group = GROUP_RE.search(video.stem)
    row = {k: "" for k in MANIFEST_FIELDS}
    row.update({"id": vid, "class": rel.parts[0] if len(rel.parts) > 1 else "",
                "group": f"g{int(group.group(1)):02d}" if group else "",
                "source": rel.as_posix()})
    try:
        result = read_frames(video, s.frames, s.short_side)
        frames_rel = rel.with_suffix(SUFFIX).as_posix()
        save_frames(out_dir / frames_rel, result.array, s.jpeg_quality)
        frames_md5 = file_digest(out_dir / frames_rel, "md5")
    except (VideoError, OSError) as e:
        row.update({"status": "failed", "error": str(e)})
        return row
    except Exception as e:  # noqa: BLE001 - one odd video must not abort thousands
        row.update({"status": "failed", "error": f"{video}: unexpected {type(e).__name__}: {e}"})
        return row
    info = result.info
    row.update({"fps": f"{info.fps:.3f}", "width": info.width, "height": info.height,
                "frame_count": result.decoded, "duration": f"{info.duration:.3f}",
                "status": "ok", "rotation": info.rotation, "codec": info.codec,
                "frames_stored": len(result.array), "frames": frames_rel, "frames_md5": frames_md5,
                "note": "; ".join(result.notes)})
    return row


def extract_all(root: Path, out_dir: Path, manifest: Path, s: ExtractSettings) -> list[dict]:
    videos = find_videos(root)
    if not videos:
        raise MissingFileError(f"{root}: no video files")
    workers = s.workers or os.cpu_count() or 1
    # Threads, not processes: PyAV releases the GIL while FFmpeg decodes and scales, and
    # Pillow while it encodes the JPEGs, so `workers` single-threaded decoders keep the cores
    # busy (measured by the scaling benchmark, since dropped: benchmarks/README.md) without a process per video or pickled frame arrays.
    with ThreadPoolExecutor(max_workers=workers) as pool:
        rows = list(tqdm(pool.map(lambda v: extract_one(v, root, out_dir, s), videos),
                         total=len(videos), desc="extract", unit="video"))
    write_csv(manifest, MANIFEST_FIELDS, rows)
    failed = [r for r in rows if r["status"] != "ok"]
    if len(failed) > s.max_failed_fraction * len(rows):
        listing = "\n".join(f"  {r['source']}: {r['error']}" for r in failed[:50])
        more = f"\n  ... and {len(failed) - 50} more" if len(failed) > 50 else ""
        raise ExtractionError(
            f"{len(failed)} of {len(rows)} videos failed to decode "
            f"({len(failed) / len(rows):.1%} > extract.max_failed_fraction "
            f"{s.max_failed_fraction:.1%}); see {manifest}:\n{listing}{more}")
    return rows
