"""Step 03: build the transfer model around the backbone and freeze its first layers.

Usage:
  python phase4a_03_modify_architecture.py [--run-dir DIR]

Input patches -> UpSampling2D (bilinear) -> band adapter (6 -> 3 bands) -> backbone ->
GlobalAveragePooling2D -> Dense(128, relu) -> Dropout(0.3) -> Dense(classes, softmax), as the report;
backbone, adapter, input normalisation, input size and freezing come from the config (docs/models.md),
and model_type=simplecnn builds the Week 3 SimpleCNN instead.
The input normalisation layers (config input_normalisation) are set from the training split only.
Writes model_untrained.weights.npz (the weights this step adds to step 02's backbone.weights.h5: step
04 rebuilds the model from the config and both files, so the frozen backbone is stored once),
architecture.txt (readable summary, the normalisation and the per-channel
mean and std of the tensor entering the backbone, measured on the training split) and architecture.json
(counts, BatchNorm layers, the same statistics).
"""

from __future__ import annotations

from typing import Any

from .. import accel
from ..cli import exit_step, run_step, step_parser
from ..data import dataset as dataset_module
from ..io import read_json, write_json, write_text
from ..models.freezing import backbone_call_kwargs
from ..models.inputs import model_inputs
from ..models.normalisation import adapt_normalisation, batchnorm_layers, stem_statistics
from ..models.transfer import build_untrained_model, layer_counts, parameter_counts, save_untrained_weights
from ..settings import sections
from ..stages import RunDir


def modify_architecture(run: RunDir, config: dict[str, Any]) -> dict[str, Any]:
    """Build the model around step 02's backbone, set its input normalisation from the training split,
    and write step 03's artefacts; returns the counts written to architecture.json."""
    data = dataset_module.load(run.require("data"))
    inspection = read_json(run.require("pretrained_inspection"))
    backbone_weights = run.require("backbone_weights")
    run_config = sections(config)
    model, backbone = build_untrained_model(
        run_config,
        data.X_train.shape[1:],
        len(data.class_names),
        backbone_weights,
        built=accel.take_saved_model(backbone_weights, config),
    )
    # Training split only: validation and test patches never shape the model's inputs.
    inputs = model_inputs(run_config.data)
    normalisation = adapt_normalisation(model, data.X_train, run_config.model, inputs)
    normalisation["stem"] = stem_statistics(model, data.X_train, run_config.model, inputs)
    counts = {
        "model_type": config["model_type"],
        "freeze": config["freeze"],
        "backbone_called_with": backbone_call_kwargs(run_config.model) or "no training flag (the report)",
        "backbone": backbone.name,
        "backbone_layers": layer_counts(backbone),
        "backbone_parameters": parameter_counts(backbone),
        "model_parameters": parameter_counts(model),
        "input_shape": list(data.X_train.shape[1:]),
        "backbone_input_shape": inspection["input_shape"],
        "classes": data.class_names,
        # The diagnosis names a BatchNorm cause only for a network that has BatchNorm layers.
        "batchnorm_layers": batchnorm_layers(model),
        "normalisation": normalisation,
    }
    save_untrained_weights(model, run.path("model_untrained_weights"))
    accel.keep_saved_model(model, run.path("model_untrained_weights"), config)
    write_text(run.path("architecture_txt"), "\n".join(architecture_lines(model, counts)) + "\n")
    write_json(run.path("architecture_json"), counts)
    return counts


def architecture_lines(model, counts: dict[str, Any]) -> list[str]:
    """architecture.txt: Keras' summary, then the frozen and trainable counts and the input normalisation."""
    lines: list[str] = []
    model.summary(print_fn=lambda line, *_, **__: lines.append(line), expand_nested=False, line_length=110)
    layers, params = counts["backbone_layers"], counts["model_parameters"]
    return [
        *lines,
        "",
        f"Backbone {counts['backbone']}: {layers['layers']} layers, {layers['frozen']} frozen, "
        f"{layers['trainable']} trainable ({100 * layers['frozen'] / layers['layers']:.1f}% frozen)",
        f"Whole model: {params['trainable']:,} trainable and {params['non_trainable']:,} non-trainable parameters",
        f"BatchNormalization layers: {counts['batchnorm_layers']}",
        *normalisation_lines(counts["normalisation"]),
    ]


def _numbers(values, digits: int = 4) -> str:
    # Rounded to 1e-4 first: a standardised mean of 6.6e-08 is 0 to the reader.
    return "(" + ", ".join(f"{round(value, 4) + 0.0:.{digits}g}" for value in values) + ")"


def normalisation_lines(record: dict[str, Any]) -> list[str]:
    """architecture.txt's account of the input normalisation and of what reaches the stem."""
    lines = [f"Input normalisation: {record['input_normalisation']}"]
    if "band_mean" in record:
        lines.append(
            f"  per-band mean {_numbers(record['band_mean'])} and std {_numbers(record['band_std'])} of the "
            f"{record['training_samples']} training patches (input_standardise layer, saved with the model)"
        )
    if "stem_match" in record:
        match = record["stem_match"]
        lines.append(
            f"  stem_match: adapter output mean {_numbers(match['adapter_output_mean'])}, std "
            f"{_numbers(match['adapter_output_std'])} mapped onto ImageNet's 0-255 mean "
            f"{_numbers(match['target_mean_0_255'])} and std {_numbers(match['target_std_0_255'])}"
        )
    stem = record["stem"]
    lines.append(
        f"Stem ({stem['entering']} input, after {stem['after_layer']}) on the training split: per-channel mean "
        f"{_numbers(stem['mean'])}, std {_numbers(stem['std'])}"
    )
    if "imagenet_target_mean" in stem:
        lines.append(
            f"  ImageNet images there: mean {_numbers(stem['imagenet_target_mean'])}, std "
            f"{_numbers(stem['imagenet_target_std'])}"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    args = step_parser(__doc__).parse_args(argv)

    def work(run: RunDir, config: dict[str, Any], _args) -> None:
        counts = modify_architecture(run.for_stage("architecture"), config)
        layers, params = counts["backbone_layers"], counts["model_parameters"]
        print(
            f"{counts['backbone']}: {layers['frozen']} of {layers['layers']} layers frozen; model has "
            f"{params['trainable']:,} trainable of {params['total']:,} parameters"
        )

    return run_step("architecture", args, work)


if __name__ == "__main__":
    exit_step(main())
