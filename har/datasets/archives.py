"""Unpack the dataset archives (RAR4, RAR5, ZIP) safely and atomically.

Library: RAR goes through unrar-cffi 0.2.2, which compiles RARLAB's own UnRAR
library (5.80) into the package, so nothing is needed at run time. Measured on
../shared/fixtures/rar with Python 3.11 on Debian 12, it decoded every fixture:
RAR 2.9/3.x and RAR5, solid, a three-volume set (found next to part1), Unicode
names. Its cost: PyPI has only a source release, so pip compiles it (about 20 s,
needs make and a C++ compiler). Rejected:
- libarchive-c 5.3 over the system libarchive 3.6.2: reads the RAR5 and plain
  RAR4 fixtures, but fails on the second member of rar3-solid.rar ("RAR solid
  archive support unavailable", still missing upstream) and cannot take a
  volume list (part1 alone: "Truncated RAR file data");
- rarfile: parses headers only and runs unrar/unar/7z/bsdtar to decompress,
  and none of those installs with pip.
ZIP uses the standard zipfile module.

Safety rules, the same for every format (UnRAR only decodes, in its "test"
mode, and hands the bytes to this module, which writes every file itself):
- a member name with a `..` part, an absolute path, a drive letter or a NUL is
  refused (ArchiveError naming the archive and member); `\\` counts as `/`;
- links are never created: a symlink or hardlink member refuses the archive,
  because the datasets hold only files and folders. So no link exists in the
  tree, and nothing is written through one; files are created exclusively
  (O_EXCL), so a repeated name fails instead of overwriting;
- everything goes into `<dest>.partial-<hex>`, renamed to `dest` only once the
  archive is complete, and deleted on any error: an interrupted run never
  leaves a `dest` that looks complete;
- UnRAR takes many truncated archives for complete ones: it reports a normal
  end for 12 of the 605 prefixes of rar3-subdirs.rar and 509 of the 541 of
  rar5-subdirs.rar (measured). So each volume's block chain is walked first and
  must reach its end-of-archive block (RAR 2.x archives, which lack one, are
  refused);
- data is copied in blocks, never a whole member in memory.
"""

from __future__ import annotations

import contextlib
import glob
import re
import secrets
import shutil
import stat
import struct
import sys
import zipfile
import zlib
from pathlib import Path
from typing import Any, BinaryIO, Iterator

from har.errors import HarError

RAR4_MAGIC = b"Rar!\x1a\x07\x00"
RAR5_MAGIC = b"Rar!\x1a\x07\x01\x00"
ZIP_MAGIC = b"PK\x03\x04"
BLOCK = 1 << 20  # bytes per copy step when reading a ZIP member
INNER_SUFFIXES = (".rar", ".zip")  # files that extract_nested unpacks in turn

# From UnRAR's dll.hpp, the documented unrar.dll interface; unrar-cffi exports
# only some of these names.
_ERAR_END_ARCHIVE = 10
_ERAR_MESSAGES = {
    11: "out of memory", 12: "corrupt data (checksum error)", 13: "corrupt archive",
    14: "unknown archive format", 15: "cannot open the archive or one of its volumes",
    18: "read error", 22: "encrypted (a password is needed)", 24: "wrong password",
}
_UCM_CHANGEVOLUME, _UCM_PROCESSDATA, _UCM_CHANGEVOLUMEW = 0, 1, 3
_RAR_VOL_NOTIFY = 1  # the next volume is open (the other value asks for a missing one)
_RHDF_SPLITBEFORE, _RHDF_ENCRYPTED, _RHDF_DIRECTORY = 0x01, 0x04, 0x20
_HOST_UNIX = 3  # FileAttr then holds st_mode
_FSREDIR_NONE = 0
_REDIR_NAME_CHARS = 1024


class ArchiveError(HarError, RuntimeError):
    """An archive cannot be (safely) extracted; the message names the archive."""


def archive_format(archive: Path | str) -> str:
    """"rar4", "rar5" or "zip", from the first bytes (the extension is not trusted)."""
    archive = Path(archive)
    with open(archive, "rb") as f:
        head = f.read(8)
    if head.startswith(RAR5_MAGIC):
        return "rar5"
    if head.startswith(RAR4_MAGIC):
        return "rar4"
    if head.startswith(ZIP_MAGIC):
        return "zip"
    raise ArchiveError(f"{archive}: not a RAR or ZIP archive (it starts with {head!r})")


def extract(archive: Path | str, dest: Path | str) -> list[Path]:
    """Unpack `archive` into the new folder `dest`; return the files written, in archive order.

    For a multi-volume RAR pass the first volume (`x.part1.rar`); the others
    are read from beside it. `dest` must not exist: it appears only when the
    whole archive has been unpacked.
    """
    archive, dest = Path(archive), Path(dest)
    with _staging(dest) as root:
        files = _extract_into(archive, root)
    return [dest / f.relative_to(root) for f in files]


def extract_nested(archive: Path | str, dest: Path | str) -> list[Path]:
    """Like `extract`, then unpack every inner *.rar / *.zip into the folder holding it.

    For hmdb51_org.rar: its 51 `<class>.rar` become `dest/<class>/<video>.avi`.
    Inner archives follow the same safety rules, must be single-volume, and
    are deleted once unpacked. One level only: an archive inside an inner
    archive stays a file. Returns the files written, inner archives excluded.
    """
    archive, dest = Path(archive), Path(dest)
    with _staging(dest) as root:
        files = []
        for path in _extract_into(archive, root):
            if path.suffix.lower() in INNER_SUFFIXES:
                files += _extract_into(path, path.parent)
                path.unlink()
            else:
                files.append(path)
    return [dest / f.relative_to(root) for f in files]


@contextlib.contextmanager
def _staging(dest: Path) -> Iterator[Path]:
    """A fresh sibling folder of `dest`, renamed to `dest` if the block succeeds, else deleted."""
    if dest.exists() or dest.is_symlink():
        raise FileExistsError(f"{dest} already exists; delete it to extract again")
    dest.parent.mkdir(parents=True, exist_ok=True)
    # Left by a run that was killed (no cleanup ran): a dead copy, possibly gigabytes.
    for stale in dest.parent.glob(f"{glob.escape(dest.name)}.partial-*"):
        shutil.rmtree(stale, ignore_errors=True)
    root = dest.with_name(f"{dest.name}.partial-{secrets.token_hex(4)}")
    root.mkdir()
    try:
        yield root
        root.rename(dest)  # same parent, so atomic
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise


def _extract_into(archive: Path, root: Path) -> list[Path]:
    if archive_format(archive) == "zip":
        return _extract_zip(archive, root)
    _check_rar_volume(archive, archive)
    return _extract_rar(archive, root)


# --- member names and files, shared by both formats ---

def _member_path(archive: Path, root: Path, name: str) -> Path:
    """root / name, or ArchiveError if the name could leave root."""
    parts = name.replace("\\", "/").split("/")
    if (name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name) or ".." in parts
            or "\0" in name):
        raise ArchiveError(f"{archive}: refusing member {name!r}: its path leaves the target folder")
    parts = [p for p in parts if p not in ("", ".")]
    if not parts:
        raise ArchiveError(f"{archive}: refusing member {name!r}: empty path")
    return root.joinpath(*parts)


def _refuse_link(archive: Path, name: str, target: str) -> None:
    raise ArchiveError(f"{archive}: refusing member {name!r}: it is a link (-> {target!r}); "
                       "links are never extracted")


@contextlib.contextmanager
def _writing(archive: Path, name: str, path: Path) -> Iterator[BinaryIO]:
    """A new file at `path`, with file-system errors reported against the member."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "xb") as out:  # exclusive: never overwrites, never opens a link
            yield out
    except OSError as e:
        raise ArchiveError(f"{archive}: cannot write member {name!r}: {e}") from e


def _make_dir(archive: Path, name: str, path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ArchiveError(f"{archive}: cannot create folder {name!r}: {e}") from e


# --- ZIP ---

def _extract_zip(archive: Path, root: Path) -> list[Path]:
    files = []
    try:
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                name = info.filename
                path = _member_path(archive, root, name)
                if info.flag_bits & 0x1:
                    raise ArchiveError(f"{archive}: member {name!r} is encrypted")
                mode = info.external_attr >> 16
                if info.create_system == _HOST_UNIX and stat.S_ISLNK(mode):
                    _refuse_link(archive, name, zf.read(info).decode(errors="replace"))
                if info.is_dir():
                    _make_dir(archive, name, path)
                    continue
                with zf.open(info) as src, _writing(archive, name, path) as out:
                    shutil.copyfileobj(src, out, BLOCK)
                files.append(path)
    except (zipfile.BadZipFile, EOFError, zlib.error, NotImplementedError) as e:
        # The last includes compression methods zipfile lacks (e.g. Deflate64).
        raise ArchiveError(f"{archive}: corrupt, truncated or unsupported ZIP ({e})") from e
    return files


# --- RAR ---

def _unrar(archive: Path) -> tuple[Any, Any]:
    """(ffi, lib) of unrar-cffi, or an ArchiveError that says how to install it."""
    try:
        # unrarlib registers the C callback stub that forwards to our handle.
        from unrar.cffi import unrarlib  # noqa: F401
        from unrar.cffi._unrarlib import ffi, lib
    except ImportError as e:  # not installed, or its compiled library cannot load
        raise ArchiveError(
            f"{archive}: extracting RAR needs the package unrar-cffi "
            "(pip install -r requirements.txt). pip compiles it from source, which needs "
            "make and a C++ compiler: `apt-get install build-essential` on Debian/Ubuntu, "
            f"`xcode-select --install` on macOS. ({e})") from e
    return ffi, lib


def _extract_rar(archive: Path, root: Path) -> list[Path]:
    ffi, lib = _unrar(archive)
    out: BinaryIO | None = None  # the file UnRAR's data goes to
    failure: BaseException | None = None  # raised in the callback, re-raised outside C

    def on_event(msg: int, p1: int, p2: int) -> int:
        """UnRAR's callback: 1 continues, -1 aborts the current call."""
        nonlocal failure
        try:
            if msg == _UCM_PROCESSDATA:
                out.write(ffi.buffer(ffi.cast("char *", p1), p2))
            elif msg == _UCM_CHANGEVOLUMEW:
                volume = Path(ffi.string(ffi.cast("wchar_t *", p1)))
                if p2 != _RAR_VOL_NOTIFY:
                    raise ArchiveError(f"{archive}: volume {volume.name} not found beside it")
                _check_rar_volume(archive, volume)
            elif msg != _UCM_CHANGEVOLUME:  # the same event again, as char *
                raise ArchiveError(f"{archive}: encrypted (a password is needed)")
            return 1
        except BaseException as e:  # an exception cannot cross the C code
            failure = e
            return -1

    def check(code: int, name: str | None) -> None:
        if failure is not None:
            raise failure
        if code != 0:
            where = f"member {name!r}: " if name else ""
            raise ArchiveError(f"{archive}: {where}{_ERAR_MESSAGES.get(code, f'UnRAR error {code}')}")

    arc_name = ffi.new("wchar_t[]", str(archive))
    open_data = ffi.new("struct RAROpenArchiveDataEx *",
                        {"ArcNameW": arc_name, "OpenMode": lib.C_RAR_OM_EXTRACT})
    handle = lib.RAROpenArchiveEx(open_data)
    check(open_data.OpenResult, None)
    callback = ffi.new_handle(on_event)  # kept alive until the archive is closed
    lib.RARSetCallbackPtr(handle, lib.PyUNRARCALLBACKStub, callback)
    files = []
    try:
        while True:
            link_target = ffi.new("wchar_t[]", _REDIR_NAME_CHARS)
            header = ffi.new("struct RARHeaderDataEx *",
                             {"RedirName": link_target, "RedirNameSize": _REDIR_NAME_CHARS})
            code = lib.RARReadHeaderEx(handle, header)
            if code == _ERAR_END_ARCHIVE:
                break
            check(code, None)
            try:
                name = _wide_string(ffi, header.FileNameW)
            except UnicodeDecodeError as e:
                raise ArchiveError(f"{archive}: corrupt member name ({e})") from e
            path = _member_path(archive, root, name)
            unix_link = header.HostOS == _HOST_UNIX and stat.S_ISLNK(header.FileAttr)
            if header.RedirType != _FSREDIR_NONE or unix_link:
                # A RAR4 symlink keeps its target as the data, RAR5 in the header.
                target = _wide_string(ffi, link_target, errors="replace")
                _refuse_link(archive, name, target or "target stored as data")
            if header.Flags & _RHDF_ENCRYPTED:
                raise ArchiveError(f"{archive}: member {name!r} is encrypted")
            if header.Flags & _RHDF_SPLITBEFORE:
                raise ArchiveError(f"{archive}: member {name!r} starts in a previous volume; "
                                   "extract the first volume (.part1.rar) instead")
            if header.Flags & _RHDF_DIRECTORY:
                _make_dir(archive, name, path)
                check(lib.RARProcessFileW(handle, lib.C_RAR_SKIP, ffi.NULL, ffi.NULL), name)
                continue
            with _writing(archive, name, path) as out:
                # "Test" decodes and verifies the checksum, sending the data to on_event.
                check(lib.RARProcessFileW(handle, lib.C_RAR_TEST, ffi.NULL, ffi.NULL), name)
            files.append(path)
    finally:
        lib.RARCloseArchive(handle)
    return files


def _wide_string(ffi: Any, chars: Any, errors: str = "strict") -> str:
    """A NUL-terminated wchar_t array as str. Not ffi.string: given a corrupt name
    (measured: a flipped byte in rar3-subdirs.rar) it builds a str holding code
    points past U+10FFFF, which later crashes Python with SystemError."""
    size = ffi.sizeof("wchar_t")  # 4 on Linux and macOS, 2 on Windows
    encoding = f"utf-{8 * size}-{'le' if sys.byteorder == 'little' else 'be'}"
    raw = ffi.buffer(chars)
    units = memoryview(raw).cast("I" if size == 4 else "H").tolist()
    end = units.index(0) if 0 in units else len(units)
    return raw[:end * size].decode(encoding, errors)


def _check_rar_volume(archive: Path, volume: Path) -> None:
    """ArchiveError unless `volume`'s blocks chain intact up to its end-of-archive block."""
    reaches_end = _rar5_reaches_end if archive_format(volume) == "rar5" else _rar4_reaches_end
    with open(volume, "rb") as f:
        ends = reaches_end(archive, f, f.seek(0, 2))
    if not ends:
        raise ArchiveError(f"{archive}: {volume.name} is truncated or corrupt "
                           "(its blocks do not reach an end-of-archive block)")


def _rar4_reaches_end(archive: Path, f: BinaryIO, size: int) -> bool:
    # Block: crc u16, type u8, flags u16, header size u16, then (flags & 0x8000)
    # a u32 data size; file and service blocks (0x74, 0x7a) with flag 0x100 add
    # the high 32 bits of the data size at byte 32 of the header.
    pos = len(RAR4_MAGIC)
    while pos + 7 <= size:
        f.seek(pos)
        head = f.read(36)
        _, kind, flags, head_size = struct.unpack_from("<HBHH", head)
        if kind == 0x7B:
            return pos + head_size <= size
        if kind == 0x73 and flags & 0x80:
            raise ArchiveError(f"{archive}: encrypted (a password is needed)")
        if head_size < 7:
            return False
        try:
            data_size = struct.unpack_from("<I", head, 7)[0] if flags & 0x8000 else 0
            if kind in (0x74, 0x7A) and flags & 0x100:
                data_size += struct.unpack_from("<I", head, 32)[0] << 32
        except struct.error:  # cut inside the header
            return False
        pos += head_size + data_size
    return False


def _rar5_reaches_end(archive: Path, f: BinaryIO, size: int) -> bool:
    # Block: crc u32, header size, then the header: type, flags, extra-area size
    # (flags & 1), data size (flags & 2); all but the crc are variable-length ints.
    pos = len(RAR5_MAGIC)
    while pos < size:
        f.seek(pos)
        head = f.read(4 + 5 * 10)  # a vint takes at most 10 bytes
        try:
            head_size, i = _vint(head, 4)
            start = i
            kind, i = _vint(head, i)
            flags, i = _vint(head, i)
            if flags & 1:
                _, i = _vint(head, i)
            data_size = _vint(head, i)[0] if flags & 2 else 0
        except IndexError:  # cut inside the header
            return False
        if kind == 4:
            raise ArchiveError(f"{archive}: encrypted (a password is needed)")
        pos += start + head_size + data_size
        if kind == 5:
            return pos <= size
    return False


def _vint(data: bytes, i: int) -> tuple[int, int]:
    """RAR5 variable-length integer at data[i]: (value, index after it)."""
    value = shift = 0
    while True:
        byte = data[i]
        value |= (byte & 0x7F) << shift
        i += 1
        if not byte & 0x80:
            return value, i
        shift += 7
