"""The house rules of phase4a/, read from the source (AST only: fast, no TensorFlow import).

- No TensorFlow or Keras internals: no import of ``tensorflow.python`` or ``keras.src`` (nor by name
  through importlib), no underscore attribute of a TensorFlow or Keras object.
- ``types.MethodType`` (replacing a method of one Keras object) only behind the speed-up seam, accel/.
- No silent fallback: no ``except Exception: pass``.
- Imports of phase4a modules, and of TensorFlow and Keras, at module level, where they show the
  dependency graph (lint-imports checks its layers); only a module step 01 imports may defer them,
  since step 01 must start without TensorFlow. (Deferring another library, matplotlib or an optional
  one, hides nothing of the package's flow.)

Each failure names file:line.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from phase4a.paths import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "phase4a"
SOURCES = sorted(PACKAGE.rglob("*.py"))
PRIVATE_MODULES = ("tensorflow.python", "keras.src")
# Private-looking names of the standard library that are its documented API.
STDLIB_UNDERSCORE = {("os", "_exit"), ("sys", "_getframe")}
# Base classes that make a class a Keras object (as written in a class statement).
KERAS_BASES = {"Callback", "Model", "Layer", "Sequential", "EarlyStopping", "ReduceLROnPlateau", "Optimizer"}
# What only a module step 01 imports may import inside a function: TensorFlow, and what loads it.
STEP_01_DEFERS = {"tensorflow", "keras", "h5py"}
IMPORTERS = ("importlib.import_module", "import_module", "__import__")  # import a module named by a string


def where(path: Path, node: ast.AST) -> str:
    shown = path.relative_to(PROJECT_ROOT) if path.is_relative_to(PROJECT_ROOT) else path
    return f"{shown}:{node.lineno}"


def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def module_name(path: Path) -> str:
    """``phase4a.x.y`` for phase4a/x/y.py (in this project, or in a test's copy of a phase4a folder)."""
    root = PROJECT_ROOT
    if not path.is_relative_to(PROJECT_ROOT):
        root = next(folder for folder in path.parents if folder.name == "phase4a").parent
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_module(path: Path, node: ast.ImportFrom) -> str:
    """The absolute name of what ``from ... import`` imports from."""
    if not node.level:
        return node.module or ""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    package = package[: len(package) - node.level + 1]
    return ".".join([*package, *([node.module] if node.module else [])])


def is_private_module(name: str) -> bool:
    return any(name == private or name.startswith(private + ".") for private in PRIVATE_MODULES)


def dotted(node: ast.AST) -> str:
    """``a.b.c`` for a chain of attributes on a name, else ''."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted(node.value)
        return f"{base}.{node.attr}" if base else ""
    return ""


def is_single_underscore(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


@pytest.fixture(scope="module")
def trees() -> dict[Path, ast.Module]:
    return {path: parse(path) for path in SOURCES}


def test_the_scan_sees_the_package(trees):
    assert len(trees) > 40 and PACKAGE / "accel" / "__init__.py" in trees


# ------------------------------------------------------------------ (a) no private modules


def private_imports(path: Path, tree: ast.Module) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = imported_module(path, node)
            names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.Call) and dotted(node.func) in IMPORTERS:
            names = [arg.value for arg in node.args[:1] if isinstance(arg, ast.Constant) and isinstance(arg.value, str)]
        else:
            continue
        for name in names:
            if is_private_module(name):
                yield f"{where(path, node)} imports {name}"
                break


def test_no_module_imports_tensorflow_or_keras_internals(trees):
    found = [line for path, tree in trees.items() for line in private_imports(path, tree)]
    assert not found, "TensorFlow's and Keras' private modules change without notice:\n" + "\n".join(found)


def test_the_private_import_scan_catches_every_form(tmp_path):
    source = tmp_path / "phase4a_probe.py"
    source.write_text(
        "import tensorflow.python.framework.config\n"
        "from keras.src.saving import saving_lib\n"
        "from tensorflow import python\n"
        "import importlib\n"
        "importlib.import_module('keras.src.utils')\n"
        "import tensorflow as tf\n"
        "from keras import layers\n"
    )
    lines = [line.split(" imports ")[0].rsplit(":", 1)[1] for line in private_imports(source, parse(source))]
    assert lines == ["1", "2", "3", "5"]


# ------------------------------------------------------------------ (b) MethodType only in accel/


def method_type_uses(path: Path, tree: ast.Module) -> Iterator[str]:
    for node in ast.walk(tree):
        named = (isinstance(node, ast.Attribute) and node.attr == "MethodType") or (
            isinstance(node, ast.Name) and node.id == "MethodType"
        )
        imported = isinstance(node, ast.ImportFrom) and any(alias.name == "MethodType" for alias in node.names)
        if named or imported:
            yield f"{where(path, node)} uses types.MethodType"


def test_methods_of_keras_objects_are_replaced_only_behind_the_seam(trees):
    accel = PACKAGE / "accel"
    found = [line for path, tree in trees.items() if accel not in path.parents for line in method_type_uses(path, tree)]
    assert not found, "replace a Keras object's method only in phase4a/accel/ (the seam):\n" + "\n".join(found)


# ------------------------------------------------------------------ (c) no underscore attributes


def class_is_keras(node: ast.ClassDef, keras_classes: set[str]) -> bool:
    for base in node.bases:
        name = dotted(base)
        if "keras" in name or name.split(".")[-1] in KERAS_BASES | keras_classes:
            return True
    return False


def own_names(node: ast.ClassDef) -> set[str]:
    """What a class defines itself: its methods and class attributes, and attributes assigned on self."""
    names = set()
    for item in node.body:
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(item.name)
        elif isinstance(item, (ast.Assign, ast.AnnAssign)):
            targets = item.targets if isinstance(item, ast.Assign) else [item.target]
            names.update(target.id for target in targets if isinstance(target, ast.Name))
    for sub in ast.walk(node):
        targets = []
        if isinstance(sub, ast.Assign):
            targets = sub.targets
        elif isinstance(sub, (ast.AnnAssign, ast.AugAssign)):
            targets = [sub.target]
        for target in targets:
            for element in target.elts if isinstance(target, ast.Tuple) else [target]:
                if isinstance(element, ast.Attribute) and dotted(element.value) == "self":
                    names.add(element.attr)
    return names


def on_self_or_super(node: ast.Attribute) -> str | None:
    if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
        return node.value.id
    value = node.value
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "super":
        return "super()"
    return None


def underscore_accesses(path: Path, tree: ast.Module) -> Iterator[str]:
    keras_classes: set[str] = set()
    for node in tree.body:  # a class of this module that subclasses a Keras class is one too
        if isinstance(node, ast.ClassDef) and class_is_keras(node, keras_classes):
            keras_classes.add(node.name)

    def visit(node: ast.AST, keras_class: ast.ClassDef | None, defined: set[str]) -> Iterator[str]:
        if isinstance(node, ast.ClassDef):
            if node.name in keras_classes or class_is_keras(node, keras_classes):
                keras_class, defined = node, own_names(node)
            else:
                keras_class, defined = None, set()
        if isinstance(node, ast.Attribute) and is_single_underscore(node.attr):
            owner = on_self_or_super(node)
            if owner is None:
                if (dotted(node.value), node.attr) not in STDLIB_UNDERSCORE:
                    yield f"{where(path, node)} reads {dotted(node.value) or '<expression>'}.{node.attr}"
            elif keras_class is not None and (owner == "super()" or node.attr not in defined):
                yield f"{where(path, node)} reads {owner}.{node.attr}, which Keras' {keras_class.name} base defines"
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "setattr", "hasattr", "delattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and is_single_underscore(node.args[1].value)
        ):
            yield f"{where(path, node)} {node.func.id}(..., {node.args[1].value!r})"
        for child in ast.iter_child_nodes(node):
            yield from visit(child, keras_class, defined)

    yield from visit(tree, None, set())


def test_no_underscore_attribute_of_tensorflow_or_keras_objects(trees):
    found = [line for path, tree in trees.items() for line in underscore_accesses(path, tree)]
    assert not found, "underscore attributes are TensorFlow's and Keras' internals:\n" + "\n".join(found)


def test_the_underscore_scan_tells_a_class_own_attributes_from_keras(tmp_path):
    source = tmp_path / "probe.py"
    source.write_text(
        "import keras, os\n"
        "class Monitor(keras.callbacks.Callback):\n"
        "    def on_train_begin(self, logs=None):\n"
        "        self._seen = []\n"
        "        self._helper()\n"  # its own method
        "        return self._seen, self.model._layers\n"  # line 6: a Keras model's internal
        "    def _helper(self):\n"
        "        return self._epochs, super()._implements_train_batch_hooks()\n"  # line 8: both Keras'
        "class Plain:\n"
        "    def run(self):\n"
        "        os._exit(0)\n"  # allowed
        "        return self._anything, getattr(keras.config, '_KERAS_DIR')\n"  # line 12: the getattr
    )
    lines = [line.split(" ")[0].rsplit(":", 1)[1] for line in underscore_accesses(source, parse(source))]
    assert lines == ["6", "8", "8", "12"]


# ------------------------------------------------------------------ (d) no silent fallbacks


def silent_handlers(path: Path, tree: ast.Module) -> Iterator[str]:
    broad = {"Exception", "BaseException"}
    for node in ast.walk(tree):
        if not isinstance(node, ast.ExceptHandler):
            continue
        kinds = node.type.elts if isinstance(node.type, ast.Tuple) else [node.type]
        catches_all = node.type is None or any(dotted(kind) in broad for kind in kinds)
        does_nothing = all(
            isinstance(statement, (ast.Pass, ast.Continue))
            or (isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant))
            for statement in node.body
        )
        if catches_all and does_nothing:
            yield f"{where(path, node)} swallows every exception"


def test_no_exception_is_swallowed(trees):
    found = [line for path, tree in trees.items() for line in silent_handlers(path, tree)]
    assert not found, "say what went wrong, or catch what is expected:\n" + "\n".join(found)


# ------------------------------------------------------------------ (e) imports at module level


def module_imports(path: Path, tree: ast.Module) -> set[str]:
    """phase4a modules a module imports when it is imported (its module-level imports)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = imported_module(path, node)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def function_imports(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for statement in ast.walk(node):
                if isinstance(statement, (ast.Import, ast.ImportFrom)):
                    yield statement


def step_01_modules(trees: dict[Path, ast.Module]) -> set[str]:
    """Every phase4a module imported (at module level) before step 01 runs: by its script, and by the
    drivers' pipeline, which runs it first and imports the later steps only after it."""
    by_name = {module_name(path): path for path in trees}
    seen: set[str] = set()
    todo = ["phase4a.steps.setup_config", "phase4a.pipeline"]
    while todo:
        name = todo.pop()
        if name in seen or name not in by_name:
            continue
        seen.add(name)
        parts = name.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))  # its packages' __init__
        todo.extend(module_imports(by_name[name], trees[by_name[name]]))
    return seen


def deferred_imports(path: Path, tree: ast.Module) -> Iterator[str]:
    """Imports inside functions of phase4a modules (relative or absolute) or of what step 01 defers."""
    for node in function_imports(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            names = [imported_module(path, node)]
        hidden = [name for name in names if name.split(".")[0] in STEP_01_DEFERS | {"phase4a"}]
        if hidden:
            yield f"{where(path, node)} imports {', '.join(hidden)} inside a function"


def test_imports_are_at_module_level_except_where_step_01_must_start_without_them(trees):
    step_01 = step_01_modules(trees)
    assert {"phase4a.steps.setup_config", "phase4a.cli", "phase4a.config", "phase4a.seeding"} <= step_01
    assert not {"phase4a.train.fit", "phase4a.accel", "phase4a.models.transfer"} & step_01
    found = [
        line
        for path, tree in trees.items()
        if module_name(path) not in step_01  # deferring TensorFlow there is what keeps step 01 fast
        for line in deferred_imports(path, tree)
    ]
    assert not found, "import at module level, so the dependency graph shows:\n" + "\n".join(found)


def test_the_deferred_import_scan_ignores_other_libraries(tmp_path):
    source = tmp_path / "phase4a" / "sweep" / "probe.py"
    source.parent.mkdir(parents=True)
    source.write_text(
        "def plot():\n"
        "    import matplotlib.pyplot as plt\n"  # fine: not the package's flow, not TensorFlow
        "    from ..io import write_json\n"  # line 3
        "    import tensorflow as tf\n"  # line 4
        "    from keras import layers\n"  # line 5
    )
    lines = [line.split(" ")[0].rsplit(":", 1)[1] for line in deferred_imports(source, parse(source))]
    assert lines == ["3", "4", "5"]
