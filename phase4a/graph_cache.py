"""Traced graphs kept on disk, so that a later process with the same model and settings skips tracing.

Before its first training step TensorFlow traces the step in Python (2.3-2.6 s for the report
model's 4,083 graph operations here) and optimises the graph on its first call (grappler, about
0.75 s): most of what the first epoch costs over a steady one, repeated by every process (a re-run,
a resumed run, step 05's prediction). TensorFlow keeps traced functions only in memory (its file
cache of optimised graphs takes only optimisations over 3 s; XLA's needs XLA).

A traced ``tf.function`` is a FunctionDef: a graph whose captured variables are extra inputs. The
first process saves it, with the position of each capture in the model's variable list, and on its
first call also the graph TensorFlow's optimiser made of it. A later process registers that
optimised graph with TensorFlow's runtime and calls it by name with its own variables, the optimiser
switched off for the call: what tf.function does with a graph it traced, without tracing or
optimising again. A run gives the same numbers whether its graphs were traced or read (tested).

A graph is stored under a hash of everything it depends on: TensorFlow's and Keras' versions, this
package's source, the machine and its devices, the model's layers, the methods replaced on them,
its variables and trainable flags, its optimizer and loss, the run's configuration
(``graph_settings``) and the input signature. Any change traces a new graph. A file that cannot be
read is traced again and replaced.

This uses TensorFlow's eager context directly (``add_function_def``, ``call_function``, graph
collection: the calls tf.function and its tools make), which its public API does not expose;
``graph_cache false`` turns it off.
"""

from __future__ import annotations

import functools
import hashlib
import os
import types
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import keras

from . import paths
from .config import uses_graph_cache
from .io import atomic_path, read_json, sha256_json, to_json

# Config keys a graph does not depend on: changing them keeps the cached graphs. Every other key,
# including any added later, is part of the hash.
RUN_CONTROL_KEYS = frozenset(
    {
        # How long the run trains and what steers or stops it. ``learning_rate`` is a variable in
        # Keras 3 optimizers (ReduceLROnPlateau assigns to it): an input of the graph, not part of it.
        "epochs",
        "learning_rate",
        "early_stopping_patience",
        "reduce_lr_patience",
        "reduce_lr_factor",
        "min_learning_rate",
        "monitor",
        "checkpoint_monitor",
        "target_accuracy",
        "collapse_stop",
        "flat_stop",
        "flat_tolerance",
        "flat_epochs",
        "train_baseline",
        "intra_op_threads",
        "inter_op_threads",
        "graph_cache",
        # Where the data come from and what fills the weights: what a graph sees of them (band and
        # class counts, patch size) reaches the key through the layers and the input signature, so
        # a real run reuses the graphs of a mock run with the same model.
        "data_source",
        "data_dir",
        "data_npz",
        "raster_path",
        "polygons_path",
        "label_column",
        "id_column",
        "raster_bands",
        "raster_band_names",
        "max_patches_per_polygon",
        "val_fraction",
        "ee_project",
        "ee_collection",
        "ee_start",
        "ee_end",
        "ee_cloud_mask",
        "ee_scale",
        "reflectance_scale",
        "reflectance_offset",
        "mock_train_size",
        "mock_val_counts",
        "weights",
    }
)


# The cache keeps the most recently used graphs up to this size: the report model's train step and
# prediction take about 2 MB a configuration, and every change to this package's code makes new ones.
MAX_CACHE_BYTES = 256 * 2**20


class GraphsAhead(Protocol):
    """Another process building this run's graphs (graph_warmup.Warmup)."""

    def wait_for(self, kind: str, key: str) -> bool:
        """Block until that process has written graph ``key`` of ``kind`` (True), or will not (False)."""


# Set by the drivers while a warm-up process builds the run's graphs (graph_warmup.py): a graph not
# in the cache yet is waited for, not traced a second time.
_ahead: GraphsAhead | None = None


def expect_graphs_from(ahead: GraphsAhead | None) -> None:
    global _ahead
    _ahead = ahead


def graph_settings(config: dict[str, Any]) -> dict[str, Any]:
    """The part of ``config`` that a cached graph is keyed by."""
    return {key: value for key, value in sorted(config.items()) if key not in RUN_CONTROL_KEYS}


@functools.cache
def _source_hash() -> str:
    package = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for source in sorted(package.rglob("*.py")):
        digest.update(str(source.relative_to(package)).encode())
        digest.update(source.read_bytes())
    return digest.hexdigest()


def _variables(model: keras.Model) -> list:
    """The TensorFlow variables a step of ``model`` can capture, in a fixed order: the model's, its
    optimizer's, its metrics'."""
    optimizer = getattr(model, "optimizer", None)
    found, seen = [], set()
    for variable in [*model.variables, *(optimizer.variables if optimizer else []), *model.metrics_variables]:
        tf_variable = getattr(variable, "value", variable)
        if id(tf_variable) not in seen:
            seen.add(id(tf_variable))
            found.append((variable, tf_variable))
    return found


def _unnamed(config: dict[str, Any]) -> dict[str, Any]:
    # Keras numbers the names of a process's layers, optimizers and seed generators ("adam_1"), and a
    # graph captures its variables by position, not by name: names are left out of the key.
    return {key: value for key, value in config.items() if key != "name"}


def _layer_configs(model: keras.Model) -> list:
    """Every layer's class, trainable flag and configuration. How the layers connect is not listed
    (Keras' ``to_json`` takes 0.4 s for ResNet50): step 03 builds it from the settings and this
    package's source, which are part of the key. The flag of a layer without weights changes no graph
    and is not saved with the model (a frozen input layer loads as trainable): it is left out."""
    return [
        [type(layer).__name__, layer.trainable if layer.weights else None, _unnamed(layer.get_config())]
        for layer in model._flatten_layers(include_self=False)
        if not isinstance(layer, keras.Model)
    ]


def _method_overrides(objects) -> list:
    """Methods replaced on single instances (the fast convolution gradient, the fused BatchNorm and
    Adam): they change the graph without changing any configuration."""
    return [
        sorted(
            [name, value.__func__.__qualname__]
            for name, value in vars(item).items()
            if isinstance(value, types.MethodType)
        )
        for item in objects
    ]


def _optimizer_config(model: keras.Model) -> dict[str, Any] | None:
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return None
    config = _unnamed(optimizer.get_config())
    if isinstance(optimizer._learning_rate, keras.Variable):
        config.pop("learning_rate", None)  # a captured variable: see RUN_CONTROL_KEYS
    return config


def _compile_config(model: keras.Model) -> dict[str, Any] | None:
    """Loss, metrics and the like; the optimizer is keyed by _optimizer_config."""
    if not model.compiled:
        return None
    return {key: value for key, value in model.get_compile_config().items() if key != "optimizer"}


def _input_specs(args) -> list:
    import tensorflow as tf

    return [tf.TensorSpec(tensor.shape, tensor.dtype) for tensor in tf.nest.flatten(args)]


def _rename_functions(library, names: dict[str, str]) -> None:
    """Rename the functions in ``library`` (a FunctionDefLibrary) and every reference to them: names
    TensorFlow numbers per process could clash with another graph's in the process that loads them."""

    def rename_attr(attr) -> None:
        if attr.HasField("func") and attr.func.name in names:
            attr.func.name = names[attr.func.name]
        for func in attr.list.func:
            if func.name in names:
                func.name = names[func.name]

    for function in library.function:
        function.signature.name = names[function.signature.name]
        for node in function.node_def:
            for attr in node.attr.values():
                rename_attr(attr)
        for attr in function.attr.values():
            rename_attr(attr)


def _output_names(node) -> list[str]:
    """A node's outputs as a FunctionDef names them: ``output_arg:index``, from the op's definition."""
    from tensorflow.python.framework import op_def_registry

    names = []
    for arg in op_def_registry.get(node.op).output_arg:
        if arg.number_attr:
            count = node.attr[arg.number_attr].i
        elif arg.type_list_attr:
            count = len(node.attr[arg.type_list_attr].list.type)
        else:
            count = 1
        names += [f"{arg.name}:{index}" for index in range(count)]
    return names


def graph_to_function(graph_def, name: str):
    """The function graph TensorFlow ran (a GraphDef whose ``_Arg`` and ``_Retval`` nodes are its inputs
    and outputs) as a FunctionDef named ``name``. Nodes nothing consumes are kept as control outputs."""
    from tensorflow.core.framework import function_pb2

    function = function_pb2.FunctionDef()
    function.signature.name = name

    def by_index(op: str) -> list:
        return sorted((node for node in graph_def.node if node.op == op), key=lambda node: node.attr["index"].i)

    arguments = {}
    for index, node in enumerate(by_index("_Arg")):
        arg = function.signature.input_arg.add(name=f"phase4a_input_{index}", type=node.attr["T"].type)
        arguments[node.name] = arg.name
    body = [node for node in graph_def.node if node.op not in ("_Arg", "_Retval")]
    outputs = {node.name: _output_names(node) for node in body}

    def reference(edge: str) -> str | None:
        source, _, index = edge.lstrip("^").partition(":")
        if edge.startswith("^"):
            return None if source in arguments else edge  # an argument is always ready
        return arguments.get(source) or f"{source}:{outputs[source][int(index or 0)]}"

    consumed = {edge.lstrip("^").partition(":")[0] for node in graph_def.node for edge in node.input}
    for node in body:
        copy = function.node_def.add()
        copy.CopyFrom(node)
        del copy.input[:]
        copy.input.extend(ref for ref in map(reference, node.input) if ref is not None)
        if node.name not in consumed:
            function.signature.control_output.append(node.name)
            function.control_ret[node.name] = node.name
    for index, node in enumerate(by_index("_Retval")):
        output = function.signature.output_arg.add(name=f"phase4a_output_{index}", type=node.attr["T"].type)
        function.ret[output.name] = reference(node.input[0])
    return function


@functools.cache
def _without_grappler():
    """Call options that skip TensorFlow's graph optimizer, for graphs it has already optimised."""
    from tensorflow.core.protobuf import config_pb2
    from tensorflow.python.eager import context

    ctx = context.context()
    config = config_pb2.ConfigProto()
    config.CopyFrom(ctx.config)
    config.graph_options.rewrite_options.disable_meta_optimizer = True
    return context.FunctionCallOptions(executor_type=ctx.function_call_options.executor_type, config_proto=config)


class _Graph:
    """A registered FunctionDef, called with flat inputs and the model's variables in capture order.

    ``optimized``: the graph as TensorFlow's optimizer (grappler) left it, run without optimising it again.
    """

    def __init__(self, name: str, captures: list[int], outputs: list[str] | None, variables: list, optimized=False):
        self.name = name.encode()
        self.handles = [variables[index][1].handle for index in captures]
        self.outputs = outputs  # a dict's keys (sorted, as tf.function flattens them) or None: one tensor
        self.optimized = optimized

    def __call__(self, args):
        import tensorflow as tf
        from tensorflow.python.eager import context

        ctx = context.context()
        inputs = [*(tf.convert_to_tensor(tensor) for tensor in tf.nest.flatten(args)), *self.handles]
        previous = ctx.function_call_options
        if self.optimized:
            ctx.function_call_options = _without_grappler()
        try:
            results = ctx.call_function(self.name, inputs, len(self.outputs or [None]))
        finally:
            ctx.function_call_options = previous
        return results[0] if self.outputs is None else dict(zip(self.outputs, results, strict=True))

    def call_and_collect(self, args):
        """``self(args)``, and the graph TensorFlow optimised for the call (a GraphDef), or None."""
        import tensorflow as tf
        from tensorflow.python.eager import context

        ctx = context.context()
        ctx.enable_graph_collection()
        try:
            results = self(args)
            collected = ctx.export_run_metadata()
        finally:
            ctx.disable_graph_collection()
        inputs, outputs = len(self.handles) + len(tf.nest.flatten(args)), len(self.outputs or [None])
        graphs = [
            graph.post_optimization_graph
            for graph in (collected.function_graphs if collected else [])
            if _count(graph.post_optimization_graph, "_Arg") == inputs
            and _count(graph.post_optimization_graph, "_Retval") == outputs
        ]
        return results, (graphs[-1] if graphs else None)


def _count(graph_def, op: str) -> int:
    return sum(node.op == op for node in graph_def.node)


class GraphCache:
    """Steps of Keras models as graphs, read from ``directory`` or traced and written there.

    Each graph is kept twice: as traced, and as TensorFlow's optimizer left it on its first call. A
    process that finds the second skips both tracing and optimising: the report model's first
    training step then takes about 0.5 s instead of 4-6 s here.
    """

    def __init__(self, directory: Path, settings: dict[str, Any]):
        self.directory = Path(directory)
        self.settings = settings
        self._graphs: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> {signature: callable}
        self.traced = 0  # graphs this instance traced ...
        self.read = 0  # ... read as traced (then optimised on their first call) ...
        self.read_optimized = 0  # ... and read as optimised
        self.ready: list[tuple[str, str]] = []  # (kind, key) of every graph this instance has made callable

    def key(self, model: keras.Model, kind: str, specs: list) -> str:
        import platform

        import tensorflow as tf

        return sha256_json(
            {
                "kind": kind,
                "tensorflow": tf.__version__,
                "keras": keras.__version__,
                "source": _source_hash(),
                # What TensorFlow's optimizer and kernels depend on besides the graph.
                "machine": platform.machine(),
                "devices": [device.name for device in tf.config.list_logical_devices()],
                "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
                "layers": _layer_configs(model),
                "overrides": _method_overrides(
                    [*model._flatten_layers(include_self=True), *filter(None, [getattr(model, "optimizer", None)])]
                ),
                "variables": [
                    [list(variable.shape), str(variable.dtype), bool(variable.trainable)]
                    for variable, _ in _variables(model)
                ],
                "optimizer": _optimizer_config(model),
                "compile": _compile_config(model),
                "settings": self.settings,
                "inputs": [[spec.shape.as_list(), spec.dtype.name] for spec in specs],
            }
        )

    def call(self, model: keras.Model, kind: str, step: Callable, args, relax_batch: bool = False):
        """``step(args)`` (one of ``model``'s step methods) as a graph: for the signature of ``args``,
        read from the cache, or traced and written to it. ``relax_batch``: one graph for every batch size."""
        import tensorflow as tf

        specs = _input_specs(args)
        if relax_batch:
            specs = [tf.TensorSpec([None, *spec.shape[1:]], spec.dtype) for spec in specs]
        signature = (kind, tuple((tuple(spec.shape.as_list()), spec.dtype.name) for spec in specs))
        graphs = self._graphs.setdefault(model, {})
        if signature in graphs:
            return graphs[signature](args)
        entry = _Entry(self.directory, kind, self.key(model, kind, specs))
        variables = _variables(model)
        graph = entry.load(variables)
        if graph is None and _ahead is not None and _ahead.wait_for(kind, entry.key):
            graph = entry.load(variables)
        if graph is None:
            structure = tf.nest.pack_sequence_as(args, specs)
            concrete = tf.function(step).get_concrete_function(structure)
            graph = entry.save_traced(concrete, variables)
            self.traced += 1
            if graph is None:  # not cacheable: TensorFlow's own function
                graphs[signature] = concrete
                return concrete(args)
        elif graph.optimized:
            self.read_optimized += 1
        else:
            self.read += 1
        graphs[signature] = graph
        if graph.optimized:
            results = graph(args)
        else:
            results, optimized = graph.call_and_collect(args)
            if optimized is not None:
                entry.save_optimized(optimized)
        self.ready.append((kind, entry.key))
        return results


class _Entry:
    """One cached graph's files: ``<kind>-<key>.pb`` (as traced), ``.optimized.pb`` and ``.json``."""

    def __init__(self, directory: Path, kind: str, key: str):
        self.kind, self.key = kind, key
        self.meta_path = directory / f"{kind}-{key[:24]}.json"

    def _read(self, meta: dict, part: str):
        from tensorflow.core.framework import function_pb2

        data = (self.meta_path.parent / meta[part]["file"]).read_bytes()
        if hashlib.sha256(data).hexdigest() != meta[part]["sha256"]:
            raise ValueError(f"{meta[part]['file']} does not match its hash")
        return function_pb2.FunctionDefLibrary.FromString(data)

    def load(self, variables: list) -> _Graph | None:
        """The optimised graph when there is one, else the traced one; None when neither can be read."""
        try:
            meta = read_json(self.meta_path)
            optimized = "optimized" in meta
            name = meta["optimized"]["function"] if optimized else meta["function"]
            captures, outputs = meta["captures"], meta["outputs"]
            if max(captures, default=-1) >= len(variables):
                return None
            libraries = [self._read(meta, part) for part in ("traced", "optimized")[: 1 + optimized]]
        except (OSError, ValueError, KeyError, TypeError):
            return None  # missing or unreadable: traced again
        if not _register(*libraries):
            return None
        self.meta = meta
        _touch(self.meta_path)
        return _Graph(name, captures, outputs, variables, optimized=optimized)

    def save_traced(self, concrete, variables: list) -> _Graph | None:
        """Register and write ``concrete``'s graph; None when it captures something other than the
        model's variables, or returns more than a tensor or a dict of them (then it is not cached)."""
        from tensorflow.core.framework import function_pb2

        position = {id(tf_variable.handle): index for index, (_, tf_variable) in enumerate(variables)}
        captures = [position.get(id(tensor)) for tensor in concrete.captured_inputs]
        outputs = concrete.structured_outputs
        if None in captures or not (_is_tensor(outputs) or _is_flat_dict(outputs)):
            return None
        library = function_pb2.FunctionDefLibrary()
        library.function.extend(concrete.graph.as_graph_def().library.function)
        library.function.append(concrete.function_def)
        # Named by key and content: a process that traces the same key twice (tests, sweeps) gets
        # graphs that differ in their operations' names, and TensorFlow keeps one graph per name.
        content = hashlib.sha256(library.SerializeToString()).hexdigest()
        self.function = f"phase4a_{self.kind}_{self.key[:24]}_{content[:12]}"
        names = {function.signature.name: f"{self.function}_{i}" for i, function in enumerate(library.function)}
        names[concrete.function_def.signature.name] = self.function
        _rename_functions(library, names)
        if not _register(library):
            return None
        self.meta = {
            "function": self.function,
            "captures": captures,
            "outputs": None if _is_tensor(outputs) else sorted(outputs),
        }
        self._write("traced", library)
        return _Graph(self.function, captures, self.meta["outputs"], variables)

    def save_optimized(self, graph_def) -> None:
        from tensorflow.core.framework import function_pb2

        library = function_pb2.FunctionDefLibrary()
        name = f"{self.meta['function']}_optimized"
        try:
            library.function.append(graph_to_function(graph_def, name))
        except (KeyError, AttributeError, ValueError):
            return  # an operation this conversion does not know: later processes optimise the traced graph
        self.meta["optimized"] = {"function": name}
        self._write("optimized", library)

    def _write(self, part: str, library) -> None:
        """Write ``library`` as ``part`` and then the metadata that lists it: a graph is only read once
        both are whole. An unwritable cache only costs the next process a trace."""
        data = library.SerializeToString()
        name = self.meta_path.with_suffix(".optimized.pb" if part == "optimized" else ".pb").name
        self.meta[part] = {**self.meta.get(part, {}), "file": name, "sha256": hashlib.sha256(data).hexdigest()}
        try:
            with atomic_path(self.meta_path.parent / name) as tmp:
                tmp.write_bytes(data)
            with atomic_path(self.meta_path) as tmp:
                tmp.write_text(to_json(self.meta), encoding="utf-8")
            prune(self.meta_path.parent, keep=self.meta_path)
        except Exception:  # noqa: BLE001
            pass


def _register(*libraries) -> bool:
    """Add the FunctionDefs of ``libraries`` to TensorFlow's runtime; False when it refuses one."""
    from tensorflow.python.eager import context

    try:
        for library in libraries:
            for function in library.function:
                context.context().add_function_def(function)
    except Exception:  # noqa: BLE001 - e.g. a different graph of that name in this process
        return False
    return True


def _touch(path: Path) -> None:
    """Mark a graph as just used: pruning goes by the metadata file's modification time."""
    try:
        os.utime(path)
    except OSError:
        pass  # a read-only cache is still read


def prune(directory: Path, keep: Path) -> None:
    """Delete the least recently used graphs beyond MAX_CACHE_BYTES (never ``keep``'s)."""
    total = 0
    for meta in sorted(directory.glob("*.json"), key=lambda path: path.stat().st_mtime, reverse=True):
        files = [meta, meta.with_suffix(".pb"), meta.with_suffix(".optimized.pb")]
        total += sum(path.stat().st_size for path in files if path.is_file())
        if total > MAX_CACHE_BYTES and meta != keep:
            for path in files:
                path.unlink(missing_ok=True)


def _is_tensor(value) -> bool:
    import tensorflow as tf

    return isinstance(value, tf.Tensor)


def _is_flat_dict(value) -> bool:
    return isinstance(value, dict) and all(_is_tensor(item) for item in value.values())


def graph_cache_for(config: dict[str, Any]) -> GraphCache | None:
    """The run's graph cache (in ``paths.graph_cache_dir()``), or None when ``graph_cache`` is off or
    Keras would not run the step as one plain graph (XLA, a distribution strategy)."""
    if not uses_graph_cache(config):
        return None
    return GraphCache(paths.graph_cache_dir(), graph_settings(config))


def use_cached_train_step(model: keras.Model, cache: GraphCache | None) -> None:
    """Have ``fit`` run ``model``'s train step through ``cache`` (call after ``compile``, which resets
    it); Keras' own function when there is no cache or several steps run per call."""
    if cache is None or model.steps_per_execution != 1:
        return

    model.train_function = lambda iterator: train_step(model, cache, next(iterator))


def train_step(model: keras.Model, cache: GraphCache, batch):
    """One of ``fit``'s training steps on ``batch`` through ``cache``: one graph for every batch size."""
    return cache.call(model, "train", model.train_step, batch, relax_batch=True)
