"""Scaffolding of new services: ``services/<name>/`` rendered from a task kind's templates.

A task kind is offered once ``mlseam/scaffold/templates/<task kind>/`` exists: its files
(``service.yaml``, ``model.py``, ``seed.py``, ``README.md``, each optionally ending in ``.tmpl``
so that no linter reads the unrendered text) are rendered with ``string.Template`` and these
variables:

- ``$name``: the service name, e.g. ``receipt-totals``;
- ``$class_name``: its model class, e.g. ``ReceiptTotalsModel``;
- ``$title``: a heading for prose, e.g. ``Receipt totals``.

A literal dollar sign is written ``$$``.
"""

from mlseam.manifest import MAX_NAME_LENGTH
from mlseam.scaffold.create import TEMPLATES_DIR, create_service, render_service, template_kinds
from mlseam.scaffold.names import RESERVED_NAMES, check_service_name, class_name_for

__all__ = [
    "MAX_NAME_LENGTH",
    "RESERVED_NAMES",
    "TEMPLATES_DIR",
    "check_service_name",
    "class_name_for",
    "create_service",
    "render_service",
    "template_kinds",
]
