"""Streaming sha256 digests of local files and folders.

Files are read in chunks of ``CHUNK_SIZE`` bytes, so a file or folder of any size is
digested in constant memory.

The digest of a **folder** is defined as follows (and never changes between releases):

1. walk the folder recursively and take every regular file (symbolic links to files are
   followed; links to folders are not descended into, so cycles cannot occur);
2. for each file, its *relative path*: the path below the folder with ``/`` as the
   separator, encoded as UTF-8;
3. sort the files by relative path (byte order of the UTF-8 encoding);
4. the folder digest is the sha256 of the concatenation, over the sorted files, of
   ``<relative path> NUL <lowercase hex sha256 of the file content> LF``.

So the digest depends only on the names and contents of the files, never on the order
in which they were created, their timestamps or permissions; empty folders do not count.

Example:
    >>> import pathlib, tempfile
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (root / "a.txt").write_bytes(b"hello")
    >>> file_digest(root / "a.txt")[0][:16]
    '2cf24dba5fb0a30e'
    >>> len(folder_digest(root)[0])
    64
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

from google.protobuf import message as protobuf_message

CHUNK_SIZE = 1024 * 1024
"""Bytes read at a time."""


def file_digest(path: str | os.PathLike[str]) -> tuple[str, int]:
    """The lowercase hex sha256 of a file's content and its size in bytes, streamed."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_SIZE):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def folder_files(path: str | os.PathLike[str]) -> list[tuple[str, Path]]:
    """Every regular file below a folder as (relative posix path, path), sorted."""
    root = Path(path)
    found: list[tuple[bytes, str, Path]] = []
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs.sort()
        for name in files:
            full = Path(folder) / name
            if not full.is_file():
                continue
            relative = full.relative_to(root).as_posix()
            found.append((relative.encode("utf-8", "surrogateescape"), relative, full))
    found.sort(key=lambda item: item[0])
    return [(relative, full) for _, relative, full in found]


def folder_digest(path: str | os.PathLike[str]) -> tuple[str, int, int]:
    """The folder digest defined above, the total size in bytes and the file count."""
    outer = hashlib.sha256()
    total = 0
    count = 0
    for relative, full in folder_files(path):
        hexdigest, size = file_digest(full)
        outer.update(relative.encode("utf-8", "surrogateescape"))
        outer.update(b"\x00")
        outer.update(hexdigest.encode("ascii"))
        outer.update(b"\n")
        total += size
        count += 1
    return outer.hexdigest(), total, count


def path_digest(path: str | os.PathLike[str]) -> tuple[str, int]:
    """The sha256 and size of a file, or the folder digest and total size of a folder."""
    if Path(path).is_dir():
        hexdigest, size, _ = folder_digest(path)
        return hexdigest, size
    return file_digest(path)


def message_digest(message: protobuf_message.Message, *, clear: Iterable[str] = ()) -> str:
    """The lowercase hex sha256 of a message's deterministic binary serialization.

    The fields named in ``clear`` (top-level, typically the message's own digest field)
    are left out, so that a message can carry the digest of the rest of itself. The
    serialization is protobuf's deterministic one (map entries sorted by key), so equal
    messages give equal digests with this protobuf runtime.

    Example:
        >>> from mlspec.common.v1.digest_pb2 import DigestSet
        >>> message_digest(DigestSet()) == hashlib.sha256(b"").hexdigest()
        True
    """
    copy = type(message)()
    copy.CopyFrom(message)
    for name in clear:
        copy.ClearField(name)
    return hashlib.sha256(copy.SerializeToString(deterministic=True)).hexdigest()
