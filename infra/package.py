"""Package a stage for CloudFormation: ``python -m infra.package --stage prod`` (``make package``).

Writes ``build/<stage>/``:

* ``sam.yaml`` — Chalice's SAM template merged with ``infra/template.yaml``;
* ``deployment.zip`` — the app package: ``app.py``, ``chalicelib/`` and Chalice's runtime only.
  Chalice packages a staging copy of the app whose ``requirements.txt`` is empty, so no third-party
  code goes in and nothing is downloaded;
* ``layer.zip`` — the dependencies layer (``layers/build.py``, reproducible from the hashed lock),
  every function's ``Layers`` through ``Globals``;
* ``functions/`` — the code of the functions ``infra/`` deploys outside Chalice (a ``CodeUri`` such as
  ``functions/preprovision/`` resolves relative to ``sam.yaml``), without tests or byte code;
* ``parameters.json`` — the stage's parameter values (``infra/stages/<stage>.json``) for
  ``aws cloudformation deploy --parameter-overrides file://parameters.json``.

Offline once ``build/wheels/`` holds the locked wheels. Ends by printing the artefacts' sizes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from layers.build import LayerError, Sizes, build_layer, human, zip_sizes

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "infra" / "template.yaml"
STAGES_DIR = ROOT / "infra" / "stages"
CHALICE_CONFIG = ROOT / ".chalice" / "config.json"
BUILD = ROOT / "build"
#: the app package may hold only these top-level entries: the app and Chalice's runtime
APP_ENTRIES = frozenset({"app.py", "chalicelib", "chalice"})
APP_ZIP_LIMIT = 1_000_000
LAYER_ZIP = "layer.zip"
#: what the copy of functions/ leaves out
_NOT_CODE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", "tests", "test_*.py", "conftest.py",
                                   ".pytest_cache", ".mypy_cache")


class PackageError(RuntimeError):
    """The stage cannot be packaged as it is."""


@dataclass(frozen=True)
class Packaged:
    stage: str
    out: Path
    app: Sizes
    layer: Sizes

    @property
    def template(self) -> Path:
        return self.out / "sam.yaml"

    def report(self) -> str:
        return (f"{self.stage}: {self.out.relative_to(ROOT) if self.out.is_relative_to(ROOT) else self.out}/\n"
                f"  app package deployment.zip: {human(self.app.zipped)} zipped, {human(self.app.unzipped)} "
                f"unzipped ({self.app.files} files)\n"
                f"  dependencies layer {LAYER_ZIP}: {human(self.layer.zipped)} zipped, "
                f"{human(self.layer.unzipped)} unzipped ({self.layer.files} files)")


def stages() -> list[str]:
    config = json.loads(CHALICE_CONFIG.read_text(encoding="utf-8"))
    return sorted(config["stages"])


def stage_parameters(stage: str, template: Mapping[str, Any]) -> dict[str, str]:
    """``infra/stages/<stage>.json``'s values, checked against the template's Parameters (names, allowed
    values, number bounds) so a bad stage file fails here rather than half-way through a deploy."""
    path = STAGES_DIR / f"{stage}.json"
    if not path.exists():
        raise PackageError(f"no infra/stages/{path.name}: every stage names its parameter values")
    values: Mapping[str, Any] = json.loads(path.read_text(encoding="utf-8"))["Parameters"]
    declared: Mapping[str, Any] = template.get("Parameters", {})
    unknown = sorted(set(values) - set(declared))
    if unknown:
        raise PackageError(f"{path.name}: not parameters of the template: {unknown}")
    checked: dict[str, str] = {}
    for name, value in sorted(values.items()):
        spec = declared[name]
        text = str(value).lower() if isinstance(value, bool) else str(value)
        allowed = spec.get("AllowedValues")
        if allowed is not None and text not in {str(a) for a in allowed}:
            raise PackageError(f"{path.name}: {name}={text} is not one of {allowed}")
        if spec.get("Type") == "Number":
            number = float(text)
            if ("MinValue" in spec and number < float(spec["MinValue"])) or \
                    ("MaxValue" in spec and number > float(spec["MaxValue"])):
                raise PackageError(f"{path.name}: {name}={text} is outside "
                                   f"[{spec.get('MinValue')}, {spec.get('MaxValue')}]")
        checked[name] = text
    return checked


def _stage_app(staging: Path) -> None:
    """A copy of the app for ``chalice package``: no requirements, so no third-party code in the zip."""
    if staging.exists():
        shutil.rmtree(staging)
    (staging / ".chalice").mkdir(parents=True)
    shutil.copy2(ROOT / "app.py", staging / "app.py")
    shutil.copy2(CHALICE_CONFIG, staging / ".chalice" / "config.json")
    shutil.copytree(ROOT / "chalicelib", staging / "chalicelib", ignore=_NOT_CODE)
    (staging / "requirements.txt").write_text("", encoding="utf-8")


def _chalice_package(staging: Path, stage: str, out: Path) -> None:
    chalice = Path(sys.executable).parent / "chalice"
    env = dict(os.environ)
    # chalice needs a region to start; the template itself says ${AWS::Region}
    env.setdefault("AWS_DEFAULT_REGION", "cn-north-1")
    result = subprocess.run(  # noqa: S603 - the venv's own chalice, fixed arguments
        [str(chalice), "package", "--stage", stage, "--pkg-format", "cloudformation",
         "--merge-template", str(TEMPLATE), str(out)],
        cwd=staging, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise PackageError(f"chalice package failed:\n{result.stdout}\n{result.stderr}")


def check_app_zip(path: Path) -> Sizes:
    """The app package: under 1 MB, and nothing in it but the app and Chalice's runtime."""
    with zipfile.ZipFile(path) as archive:
        tops = {name.split("/", 1)[0] for name in archive.namelist()}
    stray = sorted(tops - APP_ENTRIES)
    if stray:
        raise PackageError(f"{path.name} holds more than the app: {stray}")
    sizes = zip_sizes(path)
    if sizes.zipped >= APP_ZIP_LIMIT:
        raise PackageError(f"{path.name} is {human(sizes.zipped)}: the app package must stay under 1 MB")
    return sizes


def package(stage: str, build: Path = BUILD) -> Packaged:
    if stage not in stages():
        raise PackageError(f"no stage {stage!r} in .chalice/config.json (stages: {stages()})")
    template = yaml.safe_load(TEMPLATE.read_text(encoding="utf-8"))
    parameters = stage_parameters(stage, template)
    layer = build_layer()
    out = build / stage
    staging = build / ".staging" / stage
    if out.exists():
        shutil.rmtree(out)
    _stage_app(staging)
    try:
        _chalice_package(staging, stage, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        with contextlib.suppress(OSError):  # another stage may be staging there meanwhile
            staging.parent.rmdir()
    app = check_app_zip(out / "deployment.zip")
    shutil.copy2(layer, out / LAYER_ZIP)
    functions = ROOT / "functions"
    if functions.is_dir():
        shutil.copytree(functions, out / "functions", ignore=_NOT_CODE)
    (out / "parameters.json").write_text(
        json.dumps([{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()], indent=2) + "\n",
        encoding="utf-8")
    return Packaged(stage=stage, out=out, app=app, layer=zip_sizes(out / LAYER_ZIP))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.package", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", action="append", required=True, help="dev or prod (repeatable)")
    args = parser.parse_args(argv)
    try:
        for stage in args.stage:
            print(package(stage).report())
    except (PackageError, LayerError) as exc:
        print(f"infra.package: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
