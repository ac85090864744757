"""The README's contract map gives every .proto file a home."""

from __future__ import annotations

from .catalog import PROTO_ROOT, ROOT


def test_every_proto_file_is_in_the_contract_map() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    map_section = readme.split("## Contract map", 1)[1].split("\n## ", 1)[0]
    missing = [
        p.relative_to(ROOT).as_posix()
        for p in sorted(PROTO_ROOT.rglob("*.proto"))
        if p.relative_to(ROOT).as_posix() not in map_section
    ]
    assert missing == []
