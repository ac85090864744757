"""Streaming digests of files and folders."""

from __future__ import annotations

import hashlib
import pathlib

from mlspec.client import digests
from mlspec.client.digests import file_digest, folder_digest


def test_file_digest_matches_hashlib(tmp_path: pathlib.Path) -> None:
    for size in (0, 1, digests.CHUNK_SIZE - 1, digests.CHUNK_SIZE, 3 * digests.CHUNK_SIZE + 7):
        data = bytes(i % 251 for i in range(size))
        path = tmp_path / f"f{size}"
        path.write_bytes(data)
        assert file_digest(path) == (hashlib.sha256(data).hexdigest(), size)


def test_file_digest_reads_in_chunks(tmp_path: pathlib.Path, monkeypatch: object) -> None:
    path = tmp_path / "big"
    path.write_bytes(b"x" * 10_000)
    reads: list[int] = []
    real_open = open

    class Spy:
        def __init__(self, handle: object) -> None:
            self.handle = handle

        def __enter__(self) -> Spy:
            return self

        def __exit__(self, *exc: object) -> None:
            self.handle.close()  # type: ignore[attr-defined]

        def read(self, size: int) -> bytes:
            reads.append(size)
            return self.handle.read(size)  # type: ignore[attr-defined,no-any-return]

    import builtins

    def spy_open(p: object, mode: str = "r") -> Spy:
        return Spy(real_open(p, mode))  # type: ignore[call-overload]

    old_chunk = digests.CHUNK_SIZE
    digests.CHUNK_SIZE = 1024
    builtins_open = builtins.open
    try:
        builtins.open = spy_open  # type: ignore[assignment]
        file_digest(path)
    finally:
        builtins.open = builtins_open
        digests.CHUNK_SIZE = old_chunk
    assert reads and max(reads) == 1024 and len(reads) == 11


def _expected_folder_digest(files: dict[str, bytes]) -> str:
    outer = hashlib.sha256()
    for name in sorted(files, key=lambda n: n.encode()):
        outer.update(name.encode() + b"\x00" + hashlib.sha256(files[name]).hexdigest().encode())
        outer.update(b"\n")
    return outer.hexdigest()


FILES = {"b.txt": b"bee", "a/z.bin": b"\x00\x01", "a/b/c.txt": b"deep", "A.txt": b"upper"}


def test_folder_digest_follows_its_definition(tmp_path: pathlib.Path) -> None:
    for name, data in FILES.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    (tmp_path / "empty-folder").mkdir()
    digest, size, count = folder_digest(tmp_path)
    assert digest == _expected_folder_digest(FILES)
    assert size == sum(len(d) for d in FILES.values()) and count == len(FILES)


def test_folder_digest_is_stable_under_creation_order(tmp_path: pathlib.Path) -> None:
    results = set()
    for order, names in enumerate([sorted(FILES), sorted(FILES, reverse=True)]):
        root = tmp_path / str(order)
        for name in names:
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(FILES[name])
        results.add(folder_digest(root)[0])
    assert len(results) == 1
    # A changed byte or a renamed file changes the digest.
    (tmp_path / "0" / "b.txt").write_bytes(b"bex")
    assert folder_digest(tmp_path / "0")[0] not in results
    (tmp_path / "1" / "b.txt").rename(tmp_path / "1" / "c.txt")
    assert folder_digest(tmp_path / "1")[0] not in results
