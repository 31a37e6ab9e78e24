"""Speed-ups and alternatives that were measured, and what became of each: kept hand-written here, and
written into docs/performance.md's "Decisions" section by ``benchmarks.summarise``. Add an entry when
an alternative is tried; the figures are those measured when it was decided (git history has the runs).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Decision:
    name: str
    outcome: str  # kept | dropped | off
    why: str


DECISIONS: tuple[Decision, ...] = (
    Decision(
        "Fast Conv2D gradient (`fast_conv_gradient`)",
        "kept",
        "Behind phase4a/accel, auto: on on the CPU. TensorFlow's CPU kernel for convolution input "
        "gradients on ResNet50's 1x1 and 2x2 maps was most of a training step (about 1.7 s against 0.18 s "
        "per step on the AVX2 machine); 1x1 gradients run as matmuls, frozen kernels get no gradient. "
        "Gradients equal TensorFlow's to float rounding (tested). Unmeasured on GPUs, so off there.",
    ),
    Decision(
        "Fused Adam (`fused_adam`)",
        "kept",
        "Behind accel, auto: on on the CPU. Keras' Adam is about ten element-wise passes over the 10.3M "
        "trained weights (about 93 ms of operation time per step), TensorFlow's ResourceApplyAdam one (20 ms); "
        "same formula and state, the saved optimizer is plain Keras Adam.",
    ),
    Decision(
        "Fused frozen BatchNorm (`fused_batchnorm`)",
        "kept",
        "Behind accel, auto: on on the CPU. A frozen BatchNorm as FusedBatchNormV3 in inference mode: a "
        "quarter fewer graph operations to trace and optimise, the steady step the same. Not used for "
        "deterministic training on a GPU, where TensorFlow has no deterministic gradient for it.",
    ),
    Decision(
        "Cached backbone features (`cache_features`)",
        "kept",
        "Behind accel, auto: on on the CPU. Where everything up to the head is frozen, the features are "
        "computed once and the head trains on them, one call per epoch: later epochs 20-40x faster for "
        "the feature_extraction preset, same losses.",
    ),
    Decision(
        "Graph cache on disk",
        "dropped",
        "It called TensorFlow's private eager-context API on the default path (a TensorFlow upgrade could "
        "break training) to save 3-4 s of a first epoch, a few percent of a real 50-epoch run.",
    ),
    Decision(
        "Drivers' warm-up process",
        "dropped",
        "It started a second TensorFlow process on every driver run (about 1.1 GB more memory) to fill the "
        "graph cache while steps 02-03 ran, and repeated step 04's branching; without the cache it has "
        "nothing to do.",
    ),
    Decision(
        "XLA (`--jit_compile true`)",
        "off",
        "Keras disables it under deterministic kernels, which the default run needs to be bit-reproducible; "
        "with --deterministic false and the fast gradient it was slower, not faster (XLA's own "
        "convolutions on 1x1 and 2x2 maps).",
    ),
    Decision(
        "`TF_ENABLE_ONEDNN_OPTS=0` (TensorFlow's own kernels)",
        "dropped",
        "A faster step in isolation, but whole 5-epoch runs of step 04, alternated, gave first and steady "
        "epochs within the noise: TensorFlow's default stays.",
    ),
    Decision(
        "Sliced Adam (only the centre taps of 3x3 kernels on 1x1 maps)",
        "dropped",
        "A sliced update switches TensorFlow's variable to copy-on-read, so every later read copies the "
        "whole kernel: the step took 19 ms longer.",
    ),
    Decision(
        "Frozen BatchNorm's gradient as a custom gradient",
        "dropped",
        "The step 4% shorter, but 124 more graph operations, a trace 0.5 s and a first call 1.0 s longer.",
    ),
    Decision(
        "3x3 input gradients without flipping kernels",
        "dropped",
        "Per-tap batched matmuls, or one matmul and an overlap-add, were 1.2-4x slower than the flip and "
        "convolution; keeping flipped copies of frozen kernels would save at most 5% of a step and add "
        "copies that must never go stale.",
    ),
    Decision(
        "Grappler off",
        "dropped",
        "Switching TensorFlow's graph optimiser off saved 0.1-0.4 s of a first call and cost 25% of every step.",
    ),
    Decision(
        "Keras saving skip-set cache",
        "dropped",
        "It fixed a cache key inside Keras' saving code (0.1-0.3 s per save of the report model) through "
        "keras.src private API, which a Keras upgrade can change.",
    ),
    Decision(
        "The saved model handed to the next step in memory (`reuse_saved_model`)",
        "kept",
        "Behind accel, auto: on on the CPU. In the drivers' one process, step 03 built step 02's backbone "
        "again, step 04 rebuilt step 03's model, and steps 05 and 06 each read transfer_model.keras back: "
        "each a ResNet50 built layer by layer (1.5-2.5 s). While the file is the one this process wrote "
        "(device, inode, size, time), the model is handed over: the same weights, so the same metrics "
        "(tested, handed over against read back). The head is built, and step 04 trains, right after "
        "seeding again, so they draw the same random numbers either way. With it, and Keras' state cleared "
        "between steps without a full garbage collection, the mock driver went from 1.49x to 1.05x the "
        "pre-redesign baseline (benchmark 2026-12-02_030811, 3 pairs). Building it showed that assigning "
        "weights by position left Normalization layers applying stale statistics: "
        "models.normalisation.refresh_normalisation.",
    ),
    Decision(
        "Cached features cut inside the backbone",
        "dropped",
        "For the report model the cut would fall before the backbone: its 1x1 band adapter, in front of "
        "ResNet50, trains, so the backbone's input changes every step and no backbone feature can be cached.",
    ),
    Decision(
        "Backups bounded by time (`backup_every_s`, default 60)",
        "kept",
        "A backup after every epoch writes the trained weights (10.3M of the report model's 23.6M) and "
        "Adam's two moments, about 120 MB: 28.4% of a steady mock epoch (benchmark 2026-12-01_233824). "
        "Written once 60 s of training have passed (and when a fit ends), with the best checkpoint and "
        "early stopping's best weights in the same moment, it cost 1.8%; a kill loses at most 60 s of "
        "training plus the epoch in progress. `--backup_every_s 0` restores the per-epoch backup.",
    ),
    Decision(
        "Frozen weights stored once (shared backbone file, npz of what step 03 adds, trained-weights checkpoint)",
        "kept",
        "A finished mock run of the report model went from about 615 MB (a copy of the backbone, a full "
        "untrained model, a best checkpoint with optimizer state, transfer_model.keras with optimizer state) "
        "to 330 MB, 235 MB of it its own: the two models for prediction (96 MB each) and the best "
        "checkpoint's trained weights (41 MB). Step 02's backbone weights are hard links into a shared "
        "directory, so a sweep's runs of one seed store them once. 200 MB is not reached while both "
        "transfer_model.h5 and transfer_model.keras are kept and the checkpoint epoch differs from the final one.",
    ),
)
