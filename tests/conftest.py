"""Fixtures shared by the whole suite.

- ``tiny_overrides``: step-01 options for a tiny, offline ResNet50 run (``TINY_OVERRIDES``);
  ``TINY_CNN_OVERRIDES`` is the same with the SimpleCNN preset, seconds instead of minutes.
- ``prepared_run`` / ``prepared_cnn_run``: session-scoped run directories after steps 01-03 (read-only:
  copy them with ``copy_run`` before changing anything); ``trained_cnn_run``: after steps 01-05.
- ``offline_keras``: KERAS_HOME in a tmp dir and Keras' downloader replaced by a stub that fails
  like an offline machine, so nothing ever touches the network.
- ``one_code_version`` (automatic): ``git describe`` runs once per session; ``keep_op_determinism``
  (automatic): TensorFlow's global op determinism is restored after each test.
- ``session_graph_cache`` (automatic): the traced-graph cache in a tmp dir, shared by the session.
- ``snapshot``: ``snapshot(dir)`` -> {relative path: (size, mtime_ns)}, to show that nothing changed.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import urllib.error
from pathlib import Path

import pytest

from phase4a import cli

TINY_OVERRIDES = [
    "--weights",
    "none",
    "--epochs",
    "1",
    "--mock_train_size",
    "40",
    "--mock_val_counts",
    "2,2,2,2,2",
    "--batch_size",
    "8",
]
TINY_CNN_OVERRIDES = ["--preset", "simplecnn", *TINY_OVERRIDES]


@pytest.fixture(scope="session", autouse=True)
def one_code_version():
    """One test session runs one checkout: ``git describe`` once, not per step (and a commit made by
    someone else mid-session cannot make two runs of the session differ)."""
    from phase4a import provenance

    version = provenance.code_version()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(provenance, "code_version", lambda: version)
        yield version


@contextlib.contextmanager
def op_determinism_kept():
    """Steps run in-process switch TensorFlow's global op determinism on (seed_everything); put it back
    as it was, so later tests (e.g. of jit_compile, which Keras turns off under determinism) see a clean state."""

    def tf_config():  # only when TensorFlow is loaded: tests that never import it stay fast
        if "tensorflow" not in sys.modules:
            return None
        from tensorflow.python.framework import config

        return config

    config = tf_config()
    was = bool(config and config.is_op_determinism_enabled())
    try:
        yield
    finally:
        config = tf_config()
        if config is not None and config.is_op_determinism_enabled() != was:
            (config.enable_op_determinism if was else config.disable_op_determinism)()


@pytest.fixture(autouse=True)
def keep_op_determinism():
    with op_determinism_kept():
        yield


@pytest.fixture(scope="session", autouse=True)
def session_graph_cache(tmp_path_factory):
    """Traced graphs (phase4a/graph_cache.py) go to one directory per test session, not the project's
    phase4a_outputs/; steps run in-process and in child processes share it, as runs of a checkout do."""
    with pytest.MonkeyPatch.context() as patch:
        directory = tmp_path_factory.mktemp("graph_cache")
        patch.setenv("PHASE4A_GRAPH_CACHE", str(directory))
        yield directory


@pytest.fixture(autouse=True)
def isolated_last_run(tmp_path_factory, monkeypatch):
    """Keep step 01's record of the last run directory out of the project's phase4a_outputs/."""
    monkeypatch.setattr(cli, "LAST_RUN_FILE", tmp_path_factory.mktemp("outputs") / "LAST_RUN")


@pytest.fixture
def tiny_overrides() -> list[str]:
    return list(TINY_OVERRIDES)


def run_steps(run_dir: Path, overrides: list[str], last_step: int, tmp_root: Path) -> Path:
    """Run steps 01..``last_step`` in-process (each script's main) into ``run_dir``; assert each succeeds."""
    from phase4a.steps import evaluate_compare, load_pretrained, modify_architecture, setup_config, train_transfer

    mains = [load_pretrained.main, modify_architecture.main, train_transfer.main, evaluate_compare.main]
    with pytest.MonkeyPatch.context() as patch, op_determinism_kept():
        patch.setattr(cli, "LAST_RUN_FILE", tmp_root / "LAST_RUN")
        assert setup_config.main(["--run-dir", str(run_dir), *overrides]) == 0
        for main in mains[: last_step - 1]:
            assert main(["--run-dir", str(run_dir)]) == 0
    return run_dir


@pytest.fixture(scope="session")
def prepared_run(tmp_path_factory) -> Path:
    """A tiny ResNet50 mock run after steps 01-03. Shared: do not modify, copy it with ``copy_run``."""
    root = tmp_path_factory.mktemp("prepared")
    return run_steps(root / "run", TINY_OVERRIDES, 3, root)


@pytest.fixture(scope="session")
def prepared_cnn_run(tmp_path_factory) -> Path:
    """A tiny SimpleCNN mock run after steps 01-03. Shared: do not modify, copy it with ``copy_run``."""
    root = tmp_path_factory.mktemp("prepared_cnn")
    return run_steps(root / "run", TINY_CNN_OVERRIDES, 3, root)


@pytest.fixture(scope="session")
def trained_cnn_run(tmp_path_factory) -> Path:
    """A tiny SimpleCNN mock run after all five steps. Shared: do not modify, copy it with ``copy_run``."""
    root = tmp_path_factory.mktemp("trained_cnn")
    return run_steps(root / "run", TINY_CNN_OVERRIDES, 5, root)


@pytest.fixture
def copy_run(tmp_path):
    """``copy_run(src)`` -> a private copy of a run directory under this test's tmp_path."""

    def copy(source: Path, name: str = "run") -> Path:
        return Path(shutil.copytree(source, tmp_path / name))

    return copy


def snapshot_files(root: Path) -> dict[str, tuple[int, int]]:
    root = Path(root)
    if not root.exists():
        return {}
    return {
        str(path.relative_to(root)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


@pytest.fixture
def snapshot():
    """``snapshot(dir)`` -> {relative path: (size, mtime_ns)} of every file under ``dir``."""
    return snapshot_files


@pytest.fixture
def offline_keras(tmp_path, monkeypatch) -> Path:
    """An empty Keras cache in tmp_path and a downloader that fails as when offline; returns KERAS_HOME."""
    import keras  # noqa: F401  (loads keras.src)
    from keras.src.backend import config as keras_config
    from keras.src.utils import file_utils

    home = tmp_path / "keras_home"
    home.mkdir()
    monkeypatch.setenv("KERAS_HOME", str(home))
    monkeypatch.setattr(keras_config, "_KERAS_DIR", str(home))

    def no_network(url, *args, **kwargs):
        raise urllib.error.URLError("no network in tests")

    monkeypatch.setattr(file_utils, "urlretrieve", no_network)
    return home
