"""Writes into the output folder: whole or not at all, and a full disk as one line."""

from __future__ import annotations

import errno
import os

import pytest

from qgpt_jax.storage import StorageError, atomic_write_bytes


def test_atomic_write_creates_and_overwrites_without_temp_files(tmp_path):
    target = tmp_path / "sub" / "file.bin"
    atomic_write_bytes(target, b"first")
    atomic_write_bytes(target, b"second")
    assert target.read_bytes() == b"second"
    assert [p.name for p in target.parent.iterdir()] == ["file.bin"]


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), "no space left on the device"),
        (OSError(errno.EIO, "Input/output error"), "Input/output error"),
    ],
)
def test_a_failed_write_is_one_line_and_keeps_the_old_file(tmp_path, monkeypatch, error, expected):
    target = tmp_path / "file.bin"
    atomic_write_bytes(target, b"old")

    def failing_replace(src, dst):
        raise error

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(StorageError, match=expected) as caught:
        atomic_write_bytes(target, b"new")
    assert str(target) in str(caught.value) and "\n" not in str(caught.value)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["file.bin"]
