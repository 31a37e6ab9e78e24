"""Step 02: load the pretrained backbone and record what it is.

Usage:
  python phase4a_02_load_pretrained.py [--run-dir DIR]

Weights come from the config: 'imagenet' (downloaded once by Keras into ~/.keras/models), 'none'
(random initialisation from the seed) or the path of a weights file. Writes
pretrained_inspection.json (layers, parameters, weights source), backbone_layers.csv (one row per
layer, with whether the config freezes it) and backbone.weights.h5 for steps 03 and 04: a hard link to
the one copy in the store (config shared_dir; default .phase4a_store beside the run directory, never
inside a folder the project reads data from), so runs with the same backbone weights store them once.
"""

from __future__ import annotations

from typing import Any

import keras
import pandas as pd

from .. import accel
from ..cli import exit_step, run_step, step_parser
from ..config import input_normalisation
from ..io import read_json, sha256_arrays, write_json, write_shared, write_text
from ..models.backbones import load_backbone
from ..models.freezing import initial_frozen_count
from ..models.simple_cnn import build_simple_cnn
from ..models.transfer import backbone_input_shape
from ..paths import backbone_store
from ..settings import sections
from ..stages import RunDir


def layer_table(backbone, frozen_layers: int) -> pd.DataFrame:
    """backbone_layers.csv: one row per layer, with whether the config freezes it."""
    rows = []
    for index, layer in enumerate(backbone.layers):
        rows.append(
            {
                "index": index,
                "name": layer.name,
                "type": type(layer).__name__,
                "output_shape": str(tuple(layer.output.shape[1:])),
                "parameters": layer.count_params(),
                "frozen_by_config": index < frozen_layers,
            }
        )
    return pd.DataFrame(rows)


def load_pretrained(run: RunDir, config: dict[str, Any]) -> dict[str, Any]:
    """Load the backbone the config names (the SimpleCNN for model_type simplecnn), store its weights
    and write step 02's artefacts; returns the inspection written to pretrained_inspection.json."""
    store = backbone_store(run.root, config)  # first: a refused store costs no backbone build
    summary = read_json(run.require("data_summary"))
    if config["model_type"] == "simplecnn":
        # No pretrained backbone: step 03 still reads backbone.weights.h5, so it holds the SimpleCNN's
        # seeded initial weights and the inspection says there is no backbone.
        input_shape = tuple(summary["patch_shape"])
        standardised = input_normalisation(config) == "standardise"  # the same layers as step 03 builds
        backbone = build_simple_cnn(
            input_shape, len(config["class_names"]), config["dropout"], standardise=standardised
        )
        source = {"kind": "none", "note": "model_type simplecnn: no pretrained backbone, initial SimpleCNN weights"}
        frozen = 0
    else:
        model_config = sections(config).model
        input_shape = backbone_input_shape(model_config, summary["patch_shape"])
        backbone, source = load_backbone(config["backbone"], config["weights"], input_shape)
        frozen = initial_frozen_count(config["backbone"], backbone, model_config)
    table = layer_table(backbone, frozen)
    inspection = {
        "backbone": config["backbone"] if config["model_type"] == "transfer" else "none",
        "keras_name": backbone.name,
        "weights": source,
        "input_shape": list(input_shape),
        "feature_map_shape": list(backbone.output.shape[1:]),
        "layers": len(backbone.layers),
        "parameters": backbone.count_params(),
        "frozen_layers_in_config": frozen,
    }
    inspection["backbone_weights_shared"] = write_shared(
        run.path("backbone_weights"),
        store,
        # Equal weights of the same architecture and Keras version make equal files: one per sweep seed.
        sha256_arrays([backbone.name, keras.__version__, *backbone.get_weights()]),
        backbone.save_weights,
    )
    accel.keep_saved_model(backbone, run.path("backbone_weights"), config)
    write_text(run.path("backbone_layers"), table.to_csv(index=False))
    write_json(run.path("pretrained_inspection"), inspection)
    return inspection


def main(argv: list[str] | None = None) -> int:
    args = step_parser(__doc__).parse_args(argv)

    def work(run: RunDir, config: dict[str, Any], _args) -> None:
        inspection = load_pretrained(run.for_stage("pretrained"), config)
        source = inspection["weights"]["kind"]
        print(
            f"{inspection['keras_name']}: {inspection['layers']} layers, {inspection['parameters']:,} parameters, "
            f"input {tuple(inspection['input_shape'])} -> features {tuple(inspection['feature_map_shape'])}"
        )
        if source == "none":
            print("weights: random initialisation (--weights none): no ImageNet features are transferred")
        else:
            print(f"weights: {source} {inspection['weights'].get('path', inspection['weights'].get('cache_dir', ''))}")

    return run_step("pretrained", args, work)


if __name__ == "__main__":
    exit_step(main())
