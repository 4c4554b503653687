"""sanic_service's pack_directory.sh: the archive name is the content, so only real changes deploy.

An unchanged app must give the same archive (or every converge would restart the service), and
bytecode, which the control node writes whenever it imports the app, must not count as a change.
"""

import os
import subprocess
import tarfile
from pathlib import Path

PACK = Path(__file__).resolve().parents[2] / "roles/sanic_service/files/pack_directory.sh"


def pack(source: Path, out: Path) -> Path:
    result = subprocess.run(
        [str(PACK), str(source), str(out)], capture_output=True, text=True, check=True
    )
    return Path(result.stdout.strip())


def make_app(root: Path) -> Path:
    (root / "app").mkdir(parents=True)
    (root / "app/__init__.py").write_text("")
    (root / "app/server.py").write_text("def create_app():\n    return None\n")
    (root / "requirements.txt").write_text("sanic\n")
    return root


def test_packing_the_same_content_twice_gives_the_same_archive(tmp_path):
    app = make_app(tmp_path / "src")
    first = pack(app, tmp_path / "out")
    os.utime(app / "app/server.py", (0, 1_700_000_000))
    (app / "app/server.py").chmod(0o600)
    second = pack(app, tmp_path / "out")
    assert first == second
    assert first.read_bytes() == second.read_bytes()


def test_a_changed_file_gives_a_new_archive(tmp_path):
    app = make_app(tmp_path / "src")
    first = pack(app, tmp_path / "out")
    (app / "app/server.py").write_text("def create_app():\n    return 1\n")
    assert pack(app, tmp_path / "out") != first


def test_bytecode_is_left_out_and_does_not_change_the_archive(tmp_path):
    app = make_app(tmp_path / "src")
    first = pack(app, tmp_path / "out")
    (app / "app/__pycache__").mkdir()
    (app / "app/__pycache__/server.cpython-311.pyc").write_bytes(b"\x00bytecode")
    second = pack(app, tmp_path / "out")
    assert second == first
    with tarfile.open(second) as archive:
        names = archive.getnames()
    assert sorted(names) == [
        ".",
        "./app",
        "./app/__init__.py",
        "./app/server.py",
        "./requirements.txt",
    ]


def test_members_are_readable_by_the_service_user_and_owned_by_root(tmp_path):
    app = make_app(tmp_path / "src")
    (app / "app/server.py").chmod(0o600)
    with tarfile.open(pack(app, tmp_path / "out")) as archive:
        server = archive.getmember("./app/server.py")
    assert (server.uid, server.gid, server.mode, server.mtime) == (0, 0, 0o644, 0)
