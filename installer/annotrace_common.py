"""What every PyInstaller spec of annotrace shares (Linux, Windows, macOS).

Imported by installer/annotrace*.spec at build time only (PyInstaller's hook utilities are
needed); never part of the application. Each item says why it is there: PyInstaller follows
``import`` statements, so everything found another way (entry points, module names in
strings, data files next to code, distribution metadata) must be named here.
"""

from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path

from PyInstaller.utils.hooks import collect_data_files, collect_submodules, copy_metadata

REPO = Path(__file__).resolve().parents[1]
INSTALLER = REPO / "installer"

#: Our packages: app.cli.main imports each command module by name (importlib), the GUI
#: installs optional features through guarded imports, the model registry names its runners
#: as "module:function" strings -- so every submodule is collected, not just the ones found.
OUR_PACKAGES = ("app", "viewers", "models", "compliance")

#: importlib.metadata lookups at run time need the .dist-info folders:
#: annotrace (``--version``), deepbet (the registry finds its weights through RECORD),
#: pylibjpeg plugins (pylibjpeg finds decoders through entry points), keyring (backends
#: through entry points), highdicom/dicomweb-client (versions), the rest for version checks.
METADATA = ("annotrace", "deepbet", "pydicom", "pylibjpeg", "pylibjpeg-libjpeg",
            "pylibjpeg-openjpeg", "pylibjpeg-rle", "pyjpegls", "highdicom", "dicomweb-client",
            "keyring", "monai", "torch", "numpy", "nibabel", "SimpleITK", "scipy",
            "scikit-image", "openvino", "matplotlib", "platformdirs", "cryptography", "PyYAML",
            "requests", "PySide6-Essentials", "shiboken6")

#: Modules reached only through entry points or strings.
PLUGIN_MODULES = (
    # pylibjpeg.utils.get_pixel_data_decoders(): entry points "pylibjpeg.pixel_data_decoders"
    # name these modules; pydicom.pixels.decoders.* import pylibjpeg/jpeg_ls lazily.
    "libjpeg", "libjpeg._libjpeg", "openjpeg", "openjpeg._openjpeg", "rle", "rle._rle",
    "jpeg_ls", "pylibjpeg", "pylibjpeg.utils",
    # keyring picks its backend from entry points at first use
    "keyring.backends", "keyring.backends.SecretService", "keyring.backends.kwallet",
    "keyring.backends.Windows", "keyring.backends.macOS", "keyring.backends.fail",
    "keyring.backends.null", "keyring.backends.chainer",
)

#: Test, development and unused optional packages that would otherwise be pulled in.
EXCLUDES = [
    "pytest", "_pytest", "pytestqt", "hypothesis", "importlinter", "grimp", "nilearn",
    "dcmqi", "pydicom_data", "IPython", "jupyter_client", "ipykernel", "notebook",
    "tkinter", "_tkinter", "customtkinter",
    # deepbet's own runner and its GUI (customtkinter, pandas, tqdm): we run its TorchScript
    # weights through MONAI (models/deepbet_model.py) and only need the weight files.
    "deepbet",
    "torch.utils.tensorboard", "tensorboard", "tensorboardX", "triton", "torchvision",
    "sphinx", "docutils", "matplotlib.backends.backend_tkagg", "matplotlib.backends._tkagg",
    "matplotlib.tests", "numpy.tests", "scipy.tests", "skimage.data.tests",
    # Only torch's C++-extension JIT (torch.utils.cpp_extension) and packaging tools use
    # setuptools; in the graph, PyInstaller's setuptools runtime hook imports it at every
    # start (~0.1 s) for nothing.
    "setuptools", "pkg_resources", "_distutils_hack", "distutils", "pip",
]

#: Modules as plain .pyc files in the folder, not in the PYZ archive inside the executable:
#: PyInstaller's frozen importer reopens the executable for every module it loads from the
#: archive, which cost ~1 s more than the venv at GUI start (~800 modules); from files, imports
#: run as fast as in a virtual environment.
NOARCHIVE = True


def our_hiddenimports() -> list[str]:
    names = []
    for package in OUR_PACKAGES:
        names += [m for m in collect_submodules(package) if ".tests" not in m]
    names += [m for m in PLUGIN_MODULES if _importable(m)]
    names += collect_submodules("pydicom.pixels")  # decoder/encoder plugins named in strings
    return names


def _importable(name: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def our_datas() -> list[tuple[str, str]]:
    datas = []
    # The demo study and its licence, the brainmask-unet weights and model card.
    datas += [(str(p), "app/demo") for p in (REPO / "app" / "demo").glob("*.nii.gz")]
    datas += [(str(REPO / "app" / "demo" / "LICENSE-colin27.txt"), "app/demo")]
    datas += [(str(p), "models/weights") for p in (REPO / "models" / "weights").iterdir()
              if p.suffix in (".pt", ".json")]
    datas += deepbet_weights()
    datas += collect_data_files("highdicom")  # ICC profiles for colour images
    datas += collect_data_files("monai", includes=["**/*.json", "**/*.yaml"])
    for dist in METADATA:
        try:
            datas += copy_metadata(dist)
        except Exception:  # noqa: BLE001 - an optional distribution not installed here
            print(f"annotrace spec: no metadata for {dist} (not installed)", file=sys.stderr)
    return datas


def deepbet_weights() -> list[tuple[str, str]]:
    """deepbet's TorchScript files, at the place its RECORD names (``data/models/*.pt``).

    models.registry._deepbet_weights() resolves them with ``dist.locate_file`` relative to
    the folder holding ``deepbet-*.dist-info``; in the build that is the bundle root, so the
    files go to ``<root>/data/models/`` exactly as in site-packages.
    """
    dist = importlib.metadata.distribution("deepbet")
    out = []
    for f in dist.files or ():
        if f.name in ("model.pt", "bbox_model.pt") and "models" in f.parts:
            out.append((str(Path(dist.locate_file(f)).resolve()), str(Path(*f.parts[:-1]))))
    if len(out) != 2:
        raise SystemExit("annotrace spec: deepbet's weights (data/models/*.pt) not found")
    return out


#: OpenVINO loads its device plugins and model frontends with dlopen at run time (nothing
#: links them, and contrib has no openvino hook): name the ones ``--backend openvino`` needs --
#: the CPU plugin with its TBB/hwloc helpers, AUTO/HETERO/BATCH dispatch, the IR and PyTorch
#: frontends. GPU/NPU plugins (50 MB) and the ONNX/Paddle/TF Lite/GGUF frontends stay out.
OPENVINO_LIBS = ("libopenvino_intel_cpu_plugin.so", "libopenvino_auto_plugin.so",
                 "libopenvino_auto_batch_plugin.so", "libopenvino_hetero_plugin.so",
                 "libopenvino_ir_frontend.so.*", "libopenvino_pytorch_frontend.so.*",
                 "libhwloc.so.*", "libtbbbind_2_5.so.*", "libtbbmalloc.so.*")


def our_binaries() -> list[tuple[str, str]]:
    """OpenVINO's run-time plugins, next to libopenvino where it looks for them (Linux).

    Windows and macOS wheels name these files differently (``.dll``/``.dylib``, in
    ``openvino/libs``): the same patterns with their suffixes are tried there.
    """
    import importlib.util

    spec = importlib.util.find_spec("openvino")
    if spec is None or not spec.submodule_search_locations:
        return []  # built without openvino: --backend openvino then reports it is missing
    libs = Path(list(spec.submodule_search_locations)[0]) / "libs"
    out = []
    for pattern in OPENVINO_LIBS:
        stem = pattern.split(".so")[0]
        for found in sorted(set(libs.glob(pattern)) | set(libs.glob(stem + ".dll"))
                            | set(libs.glob(stem + "*.dylib"))):
            out.append((str(found), "openvino/libs"))
    if not any("intel_cpu_plugin" in src for src, _ in out):
        raise SystemExit(f"annotrace spec: OpenVINO's CPU plugin not found in {libs}")
    return out


#: TorchScript (torch.jit.script) and MONAI need Python source files next to the bytecode;
#: torch and monai hooks already ask for it, our models package too.
MODULE_COLLECTION_MODE = {"models": "pyz+py"}

RUNTIME_HOOKS = [str(INSTALLER / "startup_probe.py")]
ENTRY = str(INSTALLER / "annotrace_entry.py")
