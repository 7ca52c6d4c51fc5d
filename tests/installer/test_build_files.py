"""Static checks of the self-contained build (the build itself is too slow for the suite:
installer/build_app.sh and installer/smoke_app.sh are run by hand, see docs/install.md)."""

from __future__ import annotations

import ast
import importlib.metadata
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
INSTALLER = REPO / "installer"
SPECS = ("annotrace.spec", "annotrace-windows.spec", "annotrace-macos.spec")
SCRIPTS = ("build_app.sh", "smoke_app.sh", "build_kit.sh", "kit_install.sh", "verify_kit.sh")


def _literal(module: Path, name: str):
    """The literal value assigned to ``name`` at the top of ``module`` (without importing it:
    annotrace_common needs PyInstaller, which only the build environment has)."""
    tree = ast.parse(module.read_text(), str(module))
    for node in tree.body:
        target = getattr(node, "targets", [getattr(node, "target", None)])[0]
        if isinstance(target, ast.Name) and target.id == name:
            return ast.literal_eval(node.value)
    raise AssertionError(f"{module.name}: no literal {name}")


@pytest.mark.parametrize("script", SCRIPTS)
def test_shell_scripts_parse(script):
    bash = shutil.which("bash")
    result = subprocess.run([bash, "-n", str(INSTALLER / script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("spec", SPECS)
def test_specs_are_python_and_use_the_shared_collection(spec):
    text = (INSTALLER / spec).read_text()
    tree = ast.parse(text, spec)
    calls = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call)
             and isinstance(n.func, ast.Name)}
    assert {"Analysis", "PYZ", "EXE", "COLLECT"} <= calls
    for needed in ("common.ENTRY", "common.our_datas()", "common.our_hiddenimports()",
                   "common.EXCLUDES", "common.RUNTIME_HOOKS"):
        assert needed in text, f"{spec} does not use {needed}"


def test_macos_spec_builds_an_app_bundle():
    tree = ast.parse((INSTALLER / "annotrace-macos.spec").read_text())
    bundles = [n for n in ast.walk(tree) if isinstance(n, ast.Call)
               and isinstance(n.func, ast.Name) and n.func.id == "BUNDLE"]
    assert len(bundles) == 1
    names = {k.arg: ast.literal_eval(k.value) for k in bundles[0].keywords
             if k.arg in ("name", "bundle_identifier")}
    assert names["name"] == "annotrace.app"
    assert names["bundle_identifier"].count(".") >= 2


def test_entry_and_runtime_hook_files_exist():
    source = (INSTALLER / "annotrace_common.py").read_text()
    for name in ("annotrace_entry.py", "startup_probe.py"):
        assert f'"{name}"' in source
        assert (INSTALLER / name).is_file()
    entry = (INSTALLER / "annotrace_entry.py").read_text()
    assert "from app.cli.main import main" in entry  # the console script's own entry point


def test_data_files_the_build_collects_exist():
    demo = sorted(p.name for p in (REPO / "app" / "demo").glob("*.nii.gz"))
    assert demo == ["ch2.nii.gz", "ch2bet.nii.gz"]
    assert (REPO / "app" / "demo" / "LICENSE-colin27.txt").is_file()
    assert (REPO / "models" / "weights" / "brainmask_unet.pt").is_file()


def test_deepbet_weights_lie_where_the_spec_puts_them():
    # The spec copies them to <bundle>/data/models/ because the registry resolves them through
    # deepbet's RECORD relative to its .dist-info folder; a new deepbet layout breaks that.
    from models.registry import _deepbet_weights

    bbox, model = _deepbet_weights()
    dist = importlib.metadata.distribution("deepbet")
    record = {str(f) for f in dist.files if f.name.endswith(".pt")}
    assert record == {"data/models/bbox_model.pt", "data/models/model.pt"}
    assert bbox.name == "bbox_model.pt" and model.name == "model.pt"
    assert bbox.is_file() and model.is_file()


def test_test_only_packages_are_excluded_and_runtime_ones_are_not():
    excludes = set(_literal(INSTALLER / "annotrace_common.py", "EXCLUDES"))
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    dev = {d.split(">")[0].split("=")[0].split("[")[0].strip().lower()
           for d in project["optional-dependencies"]["dev"]}
    module_of = {"pytest-qt": "pytestqt", "pytest-timeout": "pytest_timeout",
                 "import-linter": "importlinter", "pydicom-data": "pydicom_data"}
    # pytest-timeout is a pytest plugin: excluding pytest leaves nothing to import it
    missing = {module_of.get(d, d) for d in dev} - excludes - {"pytest_timeout"}
    assert not missing, f"dev-only packages not excluded from the build: {sorted(missing)}"
    runtime = {"numpy", "pydicom", "torch", "monai", "PySide6", "SimpleITK", "nibabel",
               "highdicom", "cryptography", "openvino", "scipy", "skimage", "matplotlib",
               "keyring", "dicomweb_client", "platformdirs", "yaml", "pylibjpeg"}
    assert not runtime & excludes


def test_entry_point_plugins_and_their_metadata_are_collected():
    # pylibjpeg finds its decoders through entry points, which need both the module and the
    # distribution's metadata in the build.
    plugins = set(_literal(INSTALLER / "annotrace_common.py", "PLUGIN_MODULES"))
    metadata = set(_literal(INSTALLER / "annotrace_common.py", "METADATA"))
    for dist in ("pylibjpeg-libjpeg", "pylibjpeg-openjpeg", "pylibjpeg-rle"):
        assert dist in metadata
        eps = importlib.metadata.distribution(dist).entry_points
        modules = {ep.value.split(":")[0] for ep in eps
                   if ep.group == "pylibjpeg.pixel_data_decoders"}
        assert modules and modules <= plugins, (dist, modules)
    assert {"annotrace", "deepbet", "keyring"} <= metadata
