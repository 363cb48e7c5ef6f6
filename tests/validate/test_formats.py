"""Format detection from content, and the extension cross-check."""

from __future__ import annotations

from pathlib import Path

import pytest

from mdp.validate.errors import FileRejected
from mdp.validate.formats import Format, detect, sniff


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"a,b\n1,2\n", Format.CSV),
        (b"\xef\xbb\xbfa,b\r\n", Format.CSV),
        (b'  \n[{"a": 1}]', Format.JSON_ARRAY),
        (b"\xef\xbb\xbf[]", Format.JSON_ARRAY),
        (b'{"a": 1}\n{"a": 2}\n', Format.JSON_LINES),
    ],
)
def test_text_formats(head: bytes, expected: Format) -> None:
    assert sniff(head, head[-8:], len(head)) is expected


def test_parquet_needs_magic_at_both_ends() -> None:
    assert sniff(b"PAR1" + b"x" * 20, b"xxxxPAR1", 28) is Format.PARQUET
    with pytest.raises(FileRejected) as e:
        sniff(b"PAR1" + b"x" * 20, b"xxxxxxxx", 28)
    assert e.value.rule == "corrupt_parquet"


@pytest.mark.parametrize(
    ("head", "rule"),
    [
        (b"", "empty_file"),
        (b"   \n\t", "empty_file"),
        (b"\xff\xfea\x00,\x00", "encoding"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "unknown_format"),
    ],
)
def test_rejections(head: bytes, rule: str) -> None:
    with pytest.raises(FileRejected) as e:
        sniff(head, head[-8:], len(head))
    assert e.value.rule == rule


@pytest.mark.parametrize(
    ("ext", "content", "ok"),
    [
        ("csv", b"a,b\n", True),
        ("json", b"[]", True),
        ("json", b"{}\n", True),
        ("jsonl", b"[]", False),
        ("csv", b"{}\n", False),
        ("txt", b"{}\n", True),  # unknown extensions: content decides
        ("", b"a,b\n", True),
    ],
)
def test_extension_must_agree_with_content(
    tmp_path: Path, ext: str, content: bytes, ok: bool
) -> None:
    path = tmp_path / "f"
    path.write_bytes(content)
    if ok:
        detect(path, ext)
    else:
        with pytest.raises(FileRejected) as e:
            detect(path, ext)
        assert e.value.rule == "format_mismatch"
