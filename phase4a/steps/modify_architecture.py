"""Step 03: build the transfer model around the backbone and freeze its first layers.

Usage:
  python phase4a_03_modify_architecture.py [--run-dir DIR]

Input patches -> UpSampling2D (bilinear) -> band adapter (6 -> 3 bands) -> backbone ->
GlobalAveragePooling2D -> Dense(128, relu) -> Dropout(0.3) -> Dense(classes, softmax), as the report;
backbone, adapter, preprocessing, input size and freezing come from the config (README "Models and
presets"), and model_type=simplecnn builds the Week 3 SimpleCNN instead.
Writes model_untrained.keras, architecture.txt (readable summary) and architecture.json (counts).
"""

from __future__ import annotations

from typing import Any

from ..cli import exit_step, run_step, step_parser
from ..data import dataset as dataset_module
from ..io import read_json, save_keras_model, write_json, write_text
from ..models.freezing import backbone_call_kwargs
from ..models.transfer import build_untrained_model, layer_counts, parameter_counts
from ..stages import RunDir


def modify_architecture(run: RunDir, config: dict[str, Any]) -> dict[str, Any]:

    data = dataset_module.load(run.require("data"))
    inspection = read_json(run.require("inspection"))
    model, backbone = build_untrained_model(
        config, data.X_train.shape[1:], len(data.class_names), run.require("backbone_weights")
    )
    counts = {
        "model_type": config["model_type"],
        "freeze": config["freeze"],
        "backbone_called_with": backbone_call_kwargs(config) or "no training flag (the report)",
        "backbone": backbone.name,
        "backbone_layers": layer_counts(backbone),
        "backbone_parameters": parameter_counts(backbone),
        "model_parameters": parameter_counts(model),
        "input_shape": list(data.X_train.shape[1:]),
        "backbone_input_shape": inspection["input_shape"],
        "classes": data.class_names,
    }
    lines: list[str] = []
    model.summary(print_fn=lambda line, *_, **__: lines.append(line), expand_nested=False, line_length=110)
    layers, params = counts["backbone_layers"], counts["model_parameters"]
    lines += [
        "",
        f"Backbone {backbone.name}: {layers['layers']} layers, {layers['frozen']} frozen, "
        f"{layers['trainable']} trainable ({100 * layers['frozen'] / layers['layers']:.1f}% frozen)",
        f"Whole model: {params['trainable']:,} trainable and {params['non_trainable']:,} non-trainable parameters",
    ]
    save_keras_model(model, run.path("untrained_model"))
    write_text(run.path("architecture"), "\n".join(lines) + "\n")
    write_json(run.path("architecture_counts"), counts)
    return counts


def main(argv: list[str] | None = None) -> int:
    args = step_parser(__doc__).parse_args(argv)

    def work(run: RunDir, config: dict[str, Any], _args) -> None:
        counts = modify_architecture(run, config)
        layers, params = counts["backbone_layers"], counts["model_parameters"]
        print(
            f"{counts['backbone']}: {layers['frozen']} of {layers['layers']} layers frozen; model has "
            f"{params['trainable']:,} trainable of {params['total']:,} parameters"
        )

    return run_step("architecture", args, work)


if __name__ == "__main__":
    exit_step(main())
