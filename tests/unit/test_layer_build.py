"""layers/build.py: the lock, the offline cache, the reproducible zip, and packaging's stage checks."""

from __future__ import annotations

import hashlib
import json
import marshal
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from infra import package as packaging
from layers import build
from layers.build import LayerError, Pin


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tree(root: Path) -> None:
    (root / "pkg" / "__pycache__").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("x = 1\n")
    (root / "pkg" / "__pycache__" / "__init__.cpython-311.pyc").write_bytes(b"\x00compiled")
    (root / "pkg" / "stale.pyc").write_bytes(b"\x00")
    (root / "pkg" / "_native.cpython-311-x86_64-linux-gnu.so").write_bytes(b"\x7fELF")
    (root / "pkg-1.0.dist-info").mkdir()
    (root / "pkg-1.0.dist-info" / "RECORD").write_text("pkg/__init__.py,,\n")
    (root / "zeta.py").write_text("z = 26\n")


def test_the_zip_is_the_same_bytes_whatever_the_files_times_and_modes(tmp_path: Path) -> None:
    first_tree, second_tree = tmp_path / "a", tmp_path / "b"
    _tree(first_tree)
    _tree(second_tree)
    for path in second_tree.rglob("*"):
        if path.is_file():
            os.utime(path, (1_700_000_000, 1_700_000_000))
            path.chmod(0o600)
    first = build.deterministic_zip(first_tree, tmp_path / "one.zip")
    second = build.deterministic_zip(second_tree, tmp_path / "two.zip")
    assert _sha(tmp_path / "one.zip") == _sha(tmp_path / "two.zip")
    assert first == second
    assert (first.files, first.unzipped) == (5, len("x = 1\n") + len(b"\x00compiled") + 4
                                             + len("pkg/__init__.py,,\n") + len("z = 26\n"))
    with zipfile.ZipFile(tmp_path / "one.zip") as archive:
        infos = archive.infolist()
    names = [i.filename for i in infos]
    # the runtime's byte code stays, a stray .pyc outside __pycache__ does not
    assert names == ["python/pkg-1.0.dist-info/RECORD", "python/pkg/__init__.py",
                     "python/pkg/__pycache__/__init__.cpython-311.pyc",
                     "python/pkg/_native.cpython-311-x86_64-linux-gnu.so", "python/zeta.py"]
    assert {i.date_time for i in infos} == {build.ZIP_EPOCH}
    modes = {i.filename.rsplit("/", 1)[1]: i.external_attr >> 16 for i in infos}
    assert modes["_native.cpython-311-x86_64-linux-gnu.so"] == 0o100755
    assert modes["zeta.py"] == modes["RECORD"] == 0o100644


def test_byte_code_is_compiled_for_the_layer_path_and_the_same_twice(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name / "pkg").mkdir(parents=True)
        (tmp_path / name / "pkg" / "mod.py").write_text("def f() -> int:\n    return 1 // 0\n")
        build.compile_tree(tmp_path / name)
    compiled = [tmp_path / name / "pkg" / "__pycache__" / "mod.cpython-311.pyc" for name in ("a", "b")]
    assert compiled[0].read_bytes() == compiled[1].read_bytes()
    flags = int.from_bytes(compiled[0].read_bytes()[4:8], "little")
    assert flags == 0b01  # hash-based, not checked against the source at import
    code = marshal.loads(compiled[0].read_bytes()[16:])  # noqa: S302 - our own freshly compiled file
    assert code.co_filename == build.LAMBDA_LAYER_PATH + "/pkg/mod.py"


def test_a_changed_file_changes_the_zip(tmp_path: Path) -> None:
    _tree(tmp_path / "a")
    build.deterministic_zip(tmp_path / "a", tmp_path / "one.zip")
    (tmp_path / "a" / "zeta.py").write_text("z = 27\n")
    build.deterministic_zip(tmp_path / "a", tmp_path / "two.zip")
    assert _sha(tmp_path / "one.zip") != _sha(tmp_path / "two.zip")


def test_the_lock_round_trips_and_refuses_unhashed_lines(tmp_path: Path) -> None:
    pins = [Pin("boto3", "1.44.5", ("a" * 64,)), Pin("annotated-types", "0.8.0", ("b" * 64, "c" * 64)),
            Pin("pure-thing", "2.0", ("d" * 64,), source=True)]
    lock = tmp_path / "requirements.lock"
    lock.write_text(build.render_lock(pins))
    assert sorted(build.read_lock(lock), key=lambda p: p.name) == sorted(pins, key=lambda p: p.name)
    assert "#source: pure-thing==2.0 --hash=sha256:" + "d" * 64 in lock.read_text()
    lock.write_text("stripe==16.1.0\n")
    with pytest.raises(LayerError, match="not a pinned, hashed requirement"):
        build.read_lock(lock)


def test_the_committed_lock_pins_the_runtime_requirements_but_not_chalice() -> None:
    pins = {p.name: p for p in build.read_lock()}
    wanted = {build.normalize(line.split("[")[0].split("==")[0]) for line in build.layer_requirements()}
    assert wanted <= set(pins)
    assert "chalice" not in pins
    assert all(len(p.sha256) >= 1 and not p.source for p in pins.values())
    requirements = {build.normalize(line.split("[")[0].split("==")[0]): line.split("==")[1]
                    for line in build.layer_requirements()}
    assert all(pins[name].version == version for name, version in requirements.items())


class _FakePip:
    """Stands in for pip: records the calls, and 'downloads' by writing the files it was given."""

    def __init__(self, files: dict[str, bytes] | None = None) -> None:
        self.calls: list[Sequence[str]] = []
        self.files = files or {}

    def __call__(self, args: Sequence[str], *, check: bool = True, isolated: bool = False) -> Any:
        self.calls.append(list(args))
        if args[0] == "download":
            dest = Path(args[list(args).index("--dest") + 1])
            for name, data in self.files.items():
                (dest / name).write_bytes(data)
        return None


def _wheel(cache: Path, name: str, data: bytes) -> Pin:
    cache.mkdir(parents=True, exist_ok=True)
    (cache / f"{name}-1.0-py3-none-any.whl").write_bytes(data)
    return Pin(name, "1.0", (hashlib.sha256(data).hexdigest(),))


def test_a_complete_cache_is_used_without_the_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pins = [_wheel(tmp_path, "alpha", b"alpha wheel"), _wheel(tmp_path, "beta", b"beta wheel")]
    pip = _FakePip()
    monkeypatch.setattr(build, "_pip", pip)
    wheels = build.fetch(pins, tmp_path)
    assert pip.calls == []
    assert wheels == {"alpha": tmp_path / "alpha-1.0-py3-none-any.whl", "beta": tmp_path / "beta-1.0-py3-none-any.whl"}


def test_only_missing_wheels_are_downloaded_by_hash_for_the_lambda_platform(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cached = _wheel(tmp_path, "alpha", b"alpha wheel")
    missing = Pin("gamma", "3.0", (hashlib.sha256(b"gamma wheel").hexdigest(),))
    pip = _FakePip({"gamma-3.0-py3-none-any.whl": b"gamma wheel"})
    monkeypatch.setattr(build, "_pip", pip)
    wheels = build.fetch([cached, missing], tmp_path)
    assert wheels["gamma"].read_bytes() == b"gamma wheel"
    (call,) = pip.calls
    assert call[0] == "download"
    for flag in ("--no-deps", "--require-hashes", "--only-binary=:all:", "manylinux2014_x86_64", "3.11", "cp"):
        assert flag in call
    requirements = Path(call[call.index("-r") + 1])
    assert not requirements.exists()  # a temporary file, gone after the call


def test_a_cached_file_that_does_not_match_the_lock_is_not_used(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    pin = _wheel(tmp_path, "alpha", b"alpha wheel")
    (tmp_path / "alpha-1.0-py3-none-any.whl").write_bytes(b"tampered")
    monkeypatch.setattr(build, "_pip", _FakePip({"alpha-1.0-py3-none-any.whl": b"still tampered"}))
    with pytest.raises(LayerError, match="matches the lock's hash"):
        build.fetch([pin], tmp_path)


def _project(root: Path, binary: bool) -> Path:
    root.mkdir()
    (root / "tinypkg.py").write_text("VALUE = 1\n")
    distclass = ("from setuptools.dist import Distribution\n"
                 "class Binary(Distribution):\n    def has_ext_modules(self):\n        return True\n") if binary else ""
    (root / "setup.py").write_text("from setuptools import setup\n" + distclass +
                                   "setup(name='tinypkg', version='1.0', py_modules=['tinypkg']"
                                   + (", distclass=Binary" if binary else "") + ")\n")
    return root


def test_a_source_only_package_is_built_into_a_pure_wheel_offline(tmp_path: Path) -> None:
    wheel = build.build_wheel(_project(tmp_path / "pure", binary=False), tmp_path / "built")
    assert wheel.name == "tinypkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        assert "tinypkg.py" in archive.namelist()


def test_a_source_package_that_builds_a_platform_wheel_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LayerError, match="needs a manylinux wheel"):
        build.build_wheel(_project(tmp_path / "native", binary=True), tmp_path / "built")
    assert list((tmp_path / "built").glob("*.whl")) == []


# ------------------------------------------------------------------------------ stage parameters


def _stage_file(directory: Path, values: dict[str, Any]) -> None:
    directory.mkdir(exist_ok=True)
    (directory / "prod.json").write_text(json.dumps({"Parameters": values}))


TEMPLATE = {"Parameters": {"Rate": {"Type": "Number", "MinValue": 1, "MaxValue": 30},
                           "Level": {"Type": "String", "AllowedValues": ["INFO", "DEBUG"]}}}


def test_stage_parameters_are_checked_against_the_template(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(packaging, "STAGES_DIR", tmp_path)
    _stage_file(tmp_path, {"Rate": 20, "Level": "INFO"})
    assert packaging.stage_parameters("prod", TEMPLATE) == {"Level": "INFO", "Rate": "20"}
    for bad, message in (({"Rate": 31}, "outside"), ({"Rate": 0}, "outside"), ({"Level": "TRACE"}, "not one of"),
                         ({"Nope": "x"}, "not parameters of the template")):
        _stage_file(tmp_path, bad)
        with pytest.raises(packaging.PackageError, match=message):
            packaging.stage_parameters("prod", TEMPLATE)
    with pytest.raises(packaging.PackageError, match="every stage names"):
        packaging.stage_parameters("staging", TEMPLATE)


def test_the_app_zip_check_refuses_third_party_code_and_size(tmp_path: Path) -> None:
    ok, stray, big = tmp_path / "ok.zip", tmp_path / "stray.zip", tmp_path / "big.zip"
    with zipfile.ZipFile(ok, "w") as z:
        z.writestr("app.py", "app = 1\n")
        z.writestr("chalicelib/__init__.py", "")
        z.writestr("chalice/app.py", "")
    assert packaging.check_app_zip(ok).files == 3
    with zipfile.ZipFile(stray, "w") as z:
        z.writestr("app.py", "")
        z.writestr("botocore/__init__.py", "")
    with pytest.raises(packaging.PackageError, match="botocore"):
        packaging.check_app_zip(stray)
    with zipfile.ZipFile(big, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr("app.py", os.urandom(packaging.APP_ZIP_LIMIT))
    with pytest.raises(packaging.PackageError, match="under 1 MB"):
        packaging.check_app_zip(big)
