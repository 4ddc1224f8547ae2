"""lungseg_lib.files: atomic writes leave the old file or the new one, with a plain file's
permissions, never a half-written file or a private one."""

from __future__ import annotations

import os
import stat

import pytest

from lungseg_lib import files


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_an_error_while_writing_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "result.json"
    files.write_json(path, {"dice": 0.9})
    with pytest.raises(RuntimeError), files.replacing(path) as tmp:
        tmp.write_text("half a fi", encoding="utf-8")
        raise RuntimeError("killed")
    assert files.read_json(path) == {"dice": 0.9}
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]


def test_written_files_and_folders_get_the_permissions_open_and_mkdir_give(tmp_path):
    files.atomic_write_text(tmp_path / "card.md", "# card")
    with open(tmp_path / "plain.md", "w", encoding="utf-8") as f:
        f.write("# plain")
    assert mode(tmp_path / "card.md") == mode(tmp_path / "plain.md") == files.FILE_MODE
    stage = tmp_path / ".stage"
    stage.mkdir(mode=0o700)
    files.atomic_write_text(stage / "a.txt", "new")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.txt").write_text("old", encoding="utf-8")
    files.replace_folder(stage, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.txt"]
    assert mode(tmp_path / "out") == files.FOLDER_MODE and not stage.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["card.md", "out", "plain.md"]
    with pytest.raises(NotADirectoryError, match="card.md: not a folder"):
        files.replace_folder(tmp_path / "card.md", tmp_path / "out")
