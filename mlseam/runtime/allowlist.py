"""The globals an artifact's pickle may name: classes of numpy, scipy, scikit-learn and mlseam, the service's own code.

A pickle calls whatever globals it names, so unpickling only what the platform controls keeps a
crafted artifact that got past the signature from running anything else. Classes are allowed by
package (an estimator's state is classes all the way down); functions only by name, since any
function a pickle may name is one it may call with arguments of its choosing.
"""

from __future__ import annotations

import builtins
import collections
import datetime
import importlib
import types
from typing import Any

import numpy as np

from mlseam.errors import UntrustedArtifactError
from mlseam.manifest import service_module_prefix

CLASS_PACKAGES = ("numpy", "scipy", "sklearn")
MLSEAM_CLASS_MODULES = ("mlseam.contract", "mlseam.tasks", "mlseam.errors")
"""What an ML author reaches through ``import mlseam``; the stores and processes are never model state."""

REFUSED_MODULES = (
    "numpy.testing",
    "numpy.f2py",
    "numpy.distutils",
    "numpy.ctypeslib",
    "numpy.lib.format",
    "numpy.lib.npyio",
    "numpy.lib._npyio_impl",
    "numpy.lib._datasource",
    "numpy._core.memmap",
    "numpy.core.memmap",
    "numpy._pytesttester",
    "scipy.io",
    "scipy.datasets",
    "scipy._lib._testutils",
    "sklearn.datasets",
    "sklearn.utils._testing",
)
"""Parts of the class packages whose classes read or write files or run code when built."""
REFUSED_CLASSES: frozenset[Any] = frozenset({np.memmap, np.lib.npyio.DataSource})
"""Classes that report a public module (``numpy``) but touch files when a pickle builds them."""

STDLIB_CLASSES: frozenset[Any] = frozenset(
    {
        builtins.object,
        builtins.bool,
        builtins.int,
        builtins.float,
        builtins.complex,
        builtins.str,
        builtins.bytes,
        builtins.bytearray,
        builtins.list,
        builtins.tuple,
        builtins.dict,
        builtins.set,
        builtins.frozenset,
        builtins.slice,
        builtins.range,
        collections.OrderedDict,
        collections.defaultdict,
        collections.deque,
        collections.Counter,
        datetime.date,
        datetime.datetime,
        datetime.timedelta,
        datetime.timezone,
    }
)
PLAIN_MODULES = frozenset({"builtins", "collections", "datetime", "copyreg", "numpy.random._pickle"})
"""Modules outside the class packages that a pickle of allowed objects names (imported before the check)."""


def _rebuilding_functions() -> frozenset[Any]:
    """The functions pickles of numpy objects call to rebuild them (arrays, scalars, random generators)."""
    multiarray = importlib.import_module("numpy._core.multiarray")
    numeric = importlib.import_module("numpy._core.numeric")
    random_pickle = importlib.import_module("numpy.random._pickle")
    copyreg = importlib.import_module("copyreg")
    return frozenset(
        {
            multiarray._reconstruct,
            multiarray.scalar,
            numeric._frombuffer,
            random_pickle.__randomstate_ctor,
            random_pickle.__bit_generator_ctor,
            random_pickle.__generator_ctor,
            copyreg._reconstructor,
        }
    )


REBUILDING_FUNCTIONS = _rebuilding_functions()


def _in(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == package or module.startswith(package + ".") for package in packages)


def _importable(module: str, service: str) -> bool:
    """Whether ``module`` may be imported at all: importing a module runs its code, so this is checked first."""
    return (
        _in(module, CLASS_PACKAGES + MLSEAM_CLASS_MODULES)
        or module in PLAIN_MODULES
        or module.startswith(service_module_prefix(service))
    ) and not _in(module, REFUSED_MODULES)


def _allowed(found: Any, service: str) -> bool:
    """Whether the object a pickle names may be used: judged by what it is, not by the path that named it."""
    if found in REBUILDING_FUNCTIONS or found in STDLIB_CLASSES:
        return True
    module = getattr(found, "__module__", None) or ""
    if module.startswith(service_module_prefix(service)):
        return isinstance(found, type | types.FunctionType)  # the author's classes and functions, not imports
    if _in(module, REFUSED_MODULES) or found in REFUSED_CLASSES:
        return False
    if _is_cython_rebuilder(found):
        return _in(module, CLASS_PACKAGES)
    return isinstance(found, type) and _in(module, CLASS_PACKAGES + MLSEAM_CLASS_MODULES)


def _is_cython_rebuilder(found: Any) -> bool:
    # Cython writes one per extension class (numpy's SeedSequence, ...): it only rebuilds that class.
    return callable(found) and not isinstance(found, type) and found.__name__.startswith("__pyx_unpickle_")


def find_allowed(module: str, name: str, *, service: str, where: str) -> Any:
    """The global ``module.name`` a pickle of ``service``'s model names, if allowed; else UntrustedArtifactError."""
    refused = UntrustedArtifactError(
        f"{where}: its pickle names {module}.{name}, which is not on the allow-list (classes of numpy, scipy, "
        "scikit-learn and mlseam, the service's own classes and functions); refusing to unpickle it"
    )
    own = module.startswith(service_module_prefix(service))
    if not _importable(module, service) or ("." in name and not own):
        raise refused
    try:
        found: Any = importlib.import_module(module)
        for part in name.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError):
        raise refused from None
    if not _allowed(found, service):
        raise refused
    return found
