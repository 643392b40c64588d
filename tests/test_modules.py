"""House rules every module of the package keeps."""

from __future__ import annotations

import ast
import builtins
import re
from pathlib import Path

import mlseam

PACKAGE = Path(mlseam.__file__).parent


def test_every_module_opens_with_a_docstring() -> None:
    undocumented = [
        str(path.relative_to(PACKAGE))
        for path in sorted(PACKAGE.rglob("*.py"))
        if not ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert undocumented == [], "each needs a one-line docstring saying what it is for"


MAX_MODULE_LINES = 300


def _modules() -> list[tuple[str, ast.Module]]:
    return [
        (str(path.relative_to(PACKAGE)), ast.parse(path.read_text(encoding="utf-8")))
        for path in sorted(PACKAGE.rglob("*.py"))
    ]


def _classes() -> list[tuple[str, ast.ClassDef]]:
    return [(where, node) for where, tree in _modules() for node in ast.walk(tree) if isinstance(node, ast.ClassDef)]


def test_no_two_classes_share_a_name() -> None:
    places: dict[str, list[str]] = {}
    for where, node in _classes():
        places.setdefault(node.name, []).append(where)
    shared = [f"{name}: {', '.join(found)}" for name, found in places.items() if len(found) > 1]
    assert shared == [], "one name, one meaning; rename all but one of:\n" + "\n".join(shared)


def _module_level_names(tree: ast.Module) -> set[str]:
    """The functions, classes and imports a module binds at its top level."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return names


def _loop_targets(tree: ast.Module) -> list[ast.Name]:
    """Every name bound by a for-loop or a comprehension anywhere in the module."""
    targets: list[ast.expr] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.For | ast.AsyncFor | ast.comprehension):
            targets.append(node.target)
    return [name for target in targets for name in ast.walk(target) if isinstance(name, ast.Name)]


def test_no_loop_variable_shadows_a_function_or_import_of_its_module() -> None:
    shadowing = [
        f"{where}:{name.lineno}: {name.id}"
        for where, tree in _modules()
        for name in _loop_targets(tree)
        if name.id in _module_level_names(tree)
    ]
    assert shadowing == [], "rename each loop variable, it hides the module's own name:\n" + "\n".join(shadowing)


def _exception_classes() -> list[tuple[str, str]]:
    """(module, class) for every class of the package that derives, however indirectly, from an exception."""
    bases = {node.name: [ast.unparse(base).split(".")[-1] for base in node.bases] for _, node in _classes()}
    builtin = {name for name, value in vars(builtins).items() if isinstance(value, type)}
    builtin = {name for name in builtin if issubclass(getattr(builtins, name), BaseException)}

    def is_exception(name: str, seen: frozenset[str] = frozenset()) -> bool:
        if name in builtin:
            return True
        return name not in seen and any(is_exception(base, seen | {name}) for base in bases.get(name, []))

    return [(where, node.name) for where, node in _classes() if is_exception(node.name)]


def test_every_exception_class_is_drawn_in_the_error_tree() -> None:
    tree = ast.get_docstring(ast.parse((PACKAGE / "errors.py").read_text(encoding="utf-8"))) or ""
    drawn = set(re.findall(r"^[\s│├└─]*([A-Z]\w+)\s", tree, flags=re.MULTILINE))
    missing = [f"{where}: {name}" for where, name in _exception_classes() if name not in drawn]
    assert missing == [], "draw each in mlseam/errors.py's docstring tree, under its base:\n" + "\n".join(missing)


def test_no_module_is_longer_than_the_limit() -> None:
    long = [
        f"{path.relative_to(PACKAGE)}: {lines} lines"
        for path in sorted(PACKAGE.rglob("*.py"))
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    ]
    assert long == [], f"split each into modules of at most {MAX_MODULE_LINES} lines:\n" + "\n".join(long)


def test_the_shadowing_check_sees_loop_and_comprehension_variables() -> None:
    tree = ast.parse(
        "from time import time\n"
        "def ms(seconds): return seconds * 1000\n"
        "def report(stages):\n"
        "    for stage, ms in stages: print(stage, ms)\n"
        "    return {time: seconds for time, seconds in stages}\n"
    )
    hidden = {name.id for name in _loop_targets(tree)} & _module_level_names(tree)
    assert hidden == {"ms", "time"}
