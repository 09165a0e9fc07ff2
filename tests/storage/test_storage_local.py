"""Atomic local writes: whole file or nothing, usual permissions, no temp files left."""
import os
import stat

from deepaug.storage.atomic import atomic_write_bytes


def test_atomic_write_replaces_whole_file_with_umask_permissions(tmp_path):
    target = tmp_path / "sub" / "f.bin"
    atomic_write_bytes(target, b"old")
    atomic_write_bytes(target, b"new contents")
    assert target.read_bytes() == b"new contents"
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask
    assert [p.name for p in target.parent.iterdir()] == ["f.bin"]


# ---------------------------------------------------------------- the folder listing rule (walk_folder)

def _files(walk):
    return [key for key, _ in walk.files]


def test_two_links_to_one_folder_list_it_once_under_the_first_name_and_skip_the_other_with_why(tmp_path, caplog):
    from deepaug.storage import walk_folder

    (tmp_path / "store" / "cat").mkdir(parents=True)
    (tmp_path / "store" / "cat" / "1.png").write_bytes(b"x")
    root = tmp_path / "src"
    root.mkdir()
    os.symlink(tmp_path / "store" / "cat", root / "kitten")  # created first: directory order must not matter
    os.symlink(tmp_path / "store" / "cat", root / "cat")
    walk = walk_folder(root)
    assert _files(walk) == ["cat/1.png"] and walk.folders == ("cat",)
    [skip] = walk.skipped
    assert (skip.folder, skip.listed_as, skip.target) == ("kitten", "cat", str((tmp_path / "store" / "cat").resolve()))
    assert "'kitten'" in skip.reason and "'cat'" in skip.reason and skip.target in skip.reason
    assert skip.reason in caplog.text


def test_a_folder_inside_the_tree_is_listed_at_its_own_place_not_at_a_link_that_sorts_first(tmp_path):
    from deepaug.storage import walk_folder

    (tmp_path / "dog" / "pups").mkdir(parents=True)
    (tmp_path / "dog" / "pups" / "1.png").write_bytes(b"x")
    os.symlink(tmp_path / "dog", tmp_path / "animals")
    os.symlink(tmp_path / "dog" / "pups", tmp_path / "dog" / "a-link")
    walk = walk_folder(tmp_path)
    assert _files(walk) == ["dog/pups/1.png"]
    assert [(s.folder, s.listed_as) for s in walk.skipped] == [("animals", "dog"), ("dog/a-link", "dog/pups")]


def test_link_cycles_end(tmp_path):
    from deepaug.storage import walk_folder

    root, a, b = tmp_path / "src", tmp_path / "a", tmp_path / "b"
    for folder in (root / "cat", a, b):
        folder.mkdir(parents=True)
    (a / "1.png").write_bytes(b"x")
    (b / "2.png").write_bytes(b"y")
    os.symlink(a, root / "cat" / "a")
    os.symlink(b, a / "b")  # a -> b -> a, outside the tree
    os.symlink(a, b / "a")
    os.symlink(root, root / "cat" / "up")  # and back up the tree
    walk = walk_folder(root)
    assert _files(walk) == ["cat/a/1.png", "cat/a/b/2.png"]
    assert [(s.folder, s.listed_as) for s in walk.skipped] == [("cat/a/b/a", "cat/a"), ("cat/up", ".")]
    assert "link back up the tree" in walk.skipped[1].reason
