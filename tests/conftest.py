"""Fixtures shared by the whole suite.

- ``tiny_overrides``: step-01 options for a tiny, offline ResNet50 run (``TINY_OVERRIDES``);
  ``TINY_CNN_OVERRIDES`` is the same with the SimpleCNN preset, seconds instead of minutes.
- ``prepared_run`` / ``prepared_cnn_run``: session-scoped run directories after steps 01-03 (read-only:
  copy them with ``copy_run`` before changing anything); ``trained_cnn_run``: after steps 01-05;
  ``traced_cnn_run``: the same run with the artefacts each step asked for (``artefacts_asked_for``).
- ``offline_keras``: KERAS_HOME in a tmp dir and Keras' downloader replaced by a stub that fails
  like an offline machine, so nothing ever touches the network.
- ``snapshot``: ``snapshot(dir)`` -> {relative path: (size, mtime_ns)}, to show that nothing changed.
- ``make_config``, ``PATCH_SHAPE``, ``N_CLASSES``, ``patches``: configs and patches for small models
  (random weights, no download); ``tiny_transfer_model()``: step 03's model shape in miniature. Used
  by the tests of models/, accel/ and train/.

Steps run in-process switch TensorFlow's op determinism on (seeding.seed_everything), for the rest of
the session: TensorFlow has no public API to switch it off again. A test that needs it off runs its
TensorFlow code in a fresh process (tests/train/test_fit.py).
"""

from __future__ import annotations

import shutil
import urllib.error
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from phase4a import cli
from phase4a import config as config_module

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


@pytest.fixture(autouse=True)
def isolated_last_run(tmp_path_factory, monkeypatch):
    """Keep step 01's record of the last run directory out of the project's phase4a_outputs/."""
    monkeypatch.setattr(cli, "LAST_RUN_FILE", tmp_path_factory.mktemp("outputs") / "LAST_RUN")


@pytest.fixture
def tiny_overrides() -> list[str]:
    return list(TINY_OVERRIDES)


PATCH_SHAPE = (8, 8, 6)
N_CLASSES = 5


def make_config(preset: str = "report", **overrides) -> dict:
    """A resolved config for a small model: random weights (no download), no XLA."""
    return config_module.resolve(preset, {"weights": "none", "jit_compile": False, **overrides})


def model_parts(config: dict) -> tuple:
    """What the model builders take from a config: its model section and the inputs its data section names."""
    from phase4a.models.inputs import model_inputs
    from phase4a.settings import sections

    run = sections(config)
    return run.model, model_inputs(run.data)


def tiny_transfer_model(adapter_trainable=False, backbone_trainable=False, random_front=False, classes=3):
    """The step-03 shape in miniature: upsample, 1x1 adapter, nested backbone with BN, GAP, head."""
    import keras

    keras.utils.set_random_seed(1)
    b_in = keras.Input((8, 8, 3))
    b = keras.layers.Conv2D(4, 3, padding="same", name="b_conv")(b_in)
    b = keras.layers.BatchNormalization(name="b_bn")(b)
    backbone = keras.Model(b_in, keras.layers.ReLU()(b), name="tiny_backbone")
    for layer in backbone.layers:
        layer.trainable = backbone_trainable
    inputs = keras.Input((4, 4, 2), name="patches")
    x = keras.layers.UpSampling2D(2, name="upsample")(inputs)
    if random_front:
        x = keras.layers.GaussianNoise(0.1, name="noise")(x)
    adapter = keras.layers.Conv2D(3, 1, name="band_reduction")
    x = adapter(x)
    adapter.trainable = adapter_trainable
    x = backbone(x)
    x = keras.layers.GlobalAveragePooling2D(name="global_pool")(x)
    x = keras.layers.Dense(8, activation="relu", name="head_dense")(x)
    x = keras.layers.Dropout(0.3, name="head_dropout")(x)
    outputs = keras.layers.Dense(classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs)


@pytest.fixture
def patches():
    """Eight 8x8x6 reflectance patches and their labels, every class present."""
    rng = np.random.default_rng(0)
    return rng.uniform(0, 0.4, size=(8, *PATCH_SHAPE)).astype("float32"), np.arange(8) % N_CLASSES


def run_steps(run_dir: Path, overrides: list[str], last_step: int, tmp_root: Path) -> Path:
    """Run steps 01..``last_step`` in-process (each script's main) into ``run_dir``; assert each succeeds."""
    from phase4a.steps import evaluate_compare, load_pretrained, modify_architecture, setup_config, train_transfer

    mains = [load_pretrained.main, modify_architecture.main, train_transfer.main, evaluate_compare.main]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cli, "LAST_RUN_FILE", tmp_root / "LAST_RUN")
        assert setup_config.main(["--run-dir", str(run_dir), *overrides]) == 0
        for main in mains[: last_step - 1]:
            assert main(["--run-dir", str(run_dir)]) == 0
    return run_dir


def untrained_model_of(run: Path):
    """Step 03's model of a run directory, rebuilt as step 04 rebuilds it (not compiled)."""
    from phase4a.models.transfer import load_run_untrained_model
    from phase4a.stages import RunDir

    return load_run_untrained_model(RunDir(run), config_module.sections(config_module.load(run / "config.json")))


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


@contextmanager
def artefacts_asked_for() -> Iterator[dict[str, set[str]]]:
    """Record, per stage, every artefact key the steps' code asks its stage-bound run directory for."""
    from phase4a.stages import RunDir

    asked: dict[str, set[str]] = defaultdict(set)
    unrecorded = RunDir.path

    def recorded(run: RunDir, artefact: str) -> Path:
        if run.stage is not None:
            asked[run.stage].add(artefact)
        return unrecorded(run, artefact)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(RunDir, "path", recorded)
        yield asked


@pytest.fixture(scope="session")
def traced_cnn_run(tmp_path_factory) -> tuple[Path, dict[str, set[str]]]:
    """``trained_cnn_run`` and the artefacts each of its steps asked for (``artefacts_asked_for``)."""
    root = tmp_path_factory.mktemp("trained_cnn")
    with artefacts_asked_for() as asked:
        run = run_steps(root / "run", TINY_CNN_OVERRIDES, 5, root)
    return run, dict(asked)


@pytest.fixture(scope="session")
def trained_cnn_run(traced_cnn_run) -> Path:
    """A tiny SimpleCNN mock run after all five steps. Shared: do not modify, copy it with ``copy_run``."""
    return traced_cnn_run[0]


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
