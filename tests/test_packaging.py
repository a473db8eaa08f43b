"""The packaging metadata agrees with itself and with the tests (issue 23).

Fast: reads files, imports nothing heavy. The build itself (wheel, sdist,
`twine check`) is `.ci/run`'s package lane.
"""

import ast
import configparser
import os
import re
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Third-party modules the tests import that no extra brings, and why.
OPTIONAL = {
    "torch": "the PyTorch AdamP reference: its tests importorskip it",
    "adamp": "the PyTorch AdamP reference: its tests importorskip it",
    "tensorflow_addons": "LAMB on Keras 2 (the legacy extra); tests fall back without it",
    "jax": "the JAX backend (CI's jax lane): test_backends skips its JAX cases without it",
}
# What the README's block installs before its test command: the examples
# extra (with TensorFlow), then the tests extra.
README_EXTRAS = ("examples", "tests")
# Import name -> distribution name, where they differ.
DISTRIBUTION = {
    "sklearn": "scikit-learn",
    "tensorflow_probability": "tensorflow-probability",
    "tf_keras": "tf-keras",
    "h5py": "keras",  # Keras (3, and tf.keras 2) installs h5py
}


def _read(*path):
    with open(os.path.join(ROOT, *path), encoding="utf-8") as f:
        return f.read()


def _setup_cfg():
    config = configparser.ConfigParser(interpolation=None)
    config.read_string(_read("setup.cfg"))
    return config


def _requirements(value):
    """Distribution names (normalized) from a setup.cfg requirement list."""
    names = set()
    for line in value.splitlines():
        line = line.split("#")[0].strip()
        if line:
            names.add(re.split(r"[\s\[<>=!~;]", line, maxsplit=1)[0].lower().replace("_", "-"))
    return names


def _version():
    tree = ast.parse(_read("keras_autolr", "__init__.py"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                getattr(t, "id", None) == "__version__" for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError("keras_autolr/__init__.py sets no __version__ literal")


def test_the_version_lives_in_keras_autolr_init_only():
    version = _version()
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), version
    assert _setup_cfg()["metadata"]["version"] == "attr: keras_autolr.__version__"
    assert not re.search(r"^\s*version\s*=", _read("pyproject.toml"), re.M)
    assert re.search(r"^## \[%s\]" % re.escape(version), _read("CHANGELOG.md"), re.M), \
        f"CHANGELOG.md has no section for {version}"


def test_the_license_file_is_the_license_setup_cfg_names():
    metadata = _setup_cfg()["metadata"]
    assert metadata["license"] == "Apache-2.0"
    assert "License :: OSI Approved :: Apache Software License" in metadata["classifiers"]
    text = _read("LICENSE")
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text  # the full text


def test_python_requires_is_the_python_of_a_ci_lane():
    """The lowest Python allowed is the one the legacy lane runs, and is a classifier."""
    config = _setup_cfg()
    lowest = re.fullmatch(r">=\s*(3\.\d+)", config["options"]["python_requires"].strip()).group(1)
    assert f"find_python {lowest}" in _read(".ci", "run")
    classifiers = config["metadata"]["classifiers"]
    assert f"Programming Language :: Python :: {lowest}" in classifiers
    readme_python = re.search(r"python(3\.\d+) -m venv", _read("README.md")).group(1)
    assert f"Programming Language :: Python :: {readme_python}" in classifiers


def test_every_package_folder_has_an_init():
    """setuptools' `packages = find:` leaves a folder without __init__.py out of the wheel."""
    missing = []
    for folder, dirs, files in os.walk(os.path.join(ROOT, "keras_autolr")):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        if any(f.endswith(".py") for f in files) and "__init__.py" not in files:
            missing.append(os.path.relpath(folder, ROOT))
    assert not missing


def _local_modules():
    names = set()
    for folder in ("tests", "examples", "benchmarks", "keras_autolr"):
        for path, dirs, files in os.walk(os.path.join(ROOT, folder)):
            names.update(d for d in dirs)
            names.update(f[:-3] for f in files if f.endswith(".py"))
        names.add(folder)
    return names


def _imported_modules(folder):
    modules = set()
    for path, dirs, files in os.walk(os.path.join(ROOT, folder)):
        for f in files:
            if f.endswith(".py"):
                with open(os.path.join(path, f), encoding="utf-8") as source:
                    tree = ast.parse(source.read())
                for node in ast.walk(tree):
                    if isinstance(node, ast.Import):
                        modules.update(a.name.split(".")[0] for a in node.names)
                    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                        modules.add(node.module.split(".")[0])
    return modules


@pytest.mark.skipif(not hasattr(sys, "stdlib_module_names"), reason="needs Python >= 3.10")
def test_the_readme_extras_bring_every_package_the_tests_import():
    """The README's `pip install -e ".[examples]"` and `".[tests]"` are all a fresh machine gets."""
    config = _setup_cfg()
    provided = _requirements(config["options"]["install_requires"])
    for extra in README_EXTRAS:
        provided |= _requirements(config["options.extras_require"][extra])
    third_party = (_imported_modules("tests") - set(sys.stdlib_module_names)
                   - _local_modules() - set(OPTIONAL) - {"__future__"})
    missing = sorted(m for m in third_party
                     if DISTRIBUTION.get(m, m).lower().replace("_", "-") not in provided)
    assert not missing, f"tests import {missing}; add them to the tests extra in setup.cfg"
    # Keras' TensorBoard callback needs TensorBoard, which TensorFlow 2.21 no
    # longer installs; the tests use it without importing it.
    assert "tensorboard" in provided


def test_the_extras_a_user_is_told_about_exist():
    extras = _setup_cfg()["options.extras_require"]
    for name in ("plot", "tensorboard", "examples", "tests", "docs",
                 "tensorflow", "jax", "torch"):
        assert name in extras, name
    assert "matplotlib" in _requirements(extras["plot"])
    assert "tensorboard" in _requirements(extras["tensorboard"])
    assert {"mkdocs", "mkdocs-material", "mkdocstrings"} <= _requirements(extras["docs"])


def test_only_the_tensorflow_extras_bring_tensorflow():
    """`pip install keras_autolr[jax]` or `[torch]` installs no TensorFlow (issue 24)."""
    config = _setup_cfg()
    extras = config["options.extras_require"]
    base = _requirements(config["options"]["install_requires"])
    for name in ("jax", "torch", "tests", "plot", "tensorboard"):
        assert not {"tensorflow", "tf-keras"} & (base | _requirements(extras[name])), name
    assert {"jax", "keras"} <= _requirements(extras["jax"])
    assert {"torch", "keras"} <= _requirements(extras["torch"])
    # The README's main job runs on TensorFlow: its extra brings it.
    for name in ("tensorflow", "examples"):
        assert {"tensorflow", "tf-keras"} <= _requirements(extras[name]), name
