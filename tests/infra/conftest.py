"""Terraform test fixtures: a small HCL evaluator that renders an env per service, and `terraform console`.

The evaluator reads the .tf files with python-hcl2 and evaluates the expressions the tests look at,
the way Terraform would before apply: variables, locals, `each`, module calls at any depth (an env
calls modules/environment, which calls modules/platform and modules/ml-service) with their outputs,
and the handful of functions the modules use. Anything only AWS can tell (resource attributes, data
sources) stays an ``Unknown`` carrying its reference, like "(known after apply)" in a plan.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import posixpath
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml
from lark import Token, Tree

from mlseam.scaffold import create_service

REPO = Path(__file__).resolve().parents[2]
TERRAFORM = REPO / "infra" / "terraform"
ENVS = ("dev", "prod")
# Root variables have no defaults (CI passes them); any well-formed value renders the same resources.
ROOT_VARIABLES = {
    "region": "eu-west-1",
    "certificate_arn": "arn:aws:acm:eu-west-1:123456789012:certificate/test",
    "image_tag": "0123abc",
}
# Services added to a copy of the repo to show a new folder is all it takes: name -> cron, or None
# for a manifest without schedule and resources (mlseam's defaults apply).
ADDED_SERVICES: dict[str, str | None] = {
    "added-weekdays": "30 2 * * 1-5",
    "added-monthly": "0 0 1 * *",
    "added-sundays": "15 4 * * 0",
    "added-defaults": None,
}

_OPTIONS = hcl2.SerializationOptions(with_comments=False)


class EvalError(Exception):
    """An expression Terraform would reject, or one this evaluator does not support."""


class Unknown:
    """A value known only after apply (a resource attribute, a data source), kept as its reference."""

    def __init__(self, ref: str) -> None:
        self.ref = ref

    def __str__(self) -> str:
        return "${" + self.ref + "}"

    __repr__ = __str__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Unknown) and other.ref == self.ref

    def __hash__(self) -> int:
        return hash(self.ref)


def parse_module(directory: Path) -> dict[str, list[Any]]:
    """Every top-level block of a module's .tf files, grouped by block type."""
    blocks: dict[str, list[Any]] = {}
    for path in sorted(directory.glob("*.tf")):
        with path.open() as file:
            for kind, items in hcl2.load(file, serialization_options=_OPTIONS).items():
                blocks.setdefault(kind, []).extend(items)
    return blocks


def unquote(label: str) -> str:
    return label[1:-1] if label.startswith('"') else label


def labelled(blocks: dict[str, list[Any]], kind: str) -> dict[str, Any]:
    """One-label blocks (variable, output, module) by name."""
    return {unquote(name): body for item in blocks.get(kind, []) for name, body in item.items()}


def typed(blocks: dict[str, list[Any]], kind: str) -> dict[tuple[str, str], Any]:
    """Two-label blocks (resource, data) by (type, name)."""
    return {
        (unquote(type_), unquote(name)): body
        for item in blocks.get(kind, [])
        for type_, named in item.items()
        for name, body in named.items()
    }


@functools.cache
def parse_expression(raw: str) -> Tree[Token]:
    """The syntax tree of one attribute value as python-hcl2 serialises it ("${expr}" or a quoted string)."""
    text = raw[2:-1] if raw.startswith("${") and raw.endswith("}") else raw
    attribute = hcl2.parses_to_tree(f"x = {text}\n").children[0].children[0]
    expression: Tree[Token] = attribute.children[-1]
    return expression


def text(value: Any) -> str:
    """A value inside a string template, as Terraform converts it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str | int | float | Unknown):
        return str(value)
    raise EvalError(f"cannot use {value!r} in a string")


def _fileset(base: str, pattern: str) -> list[str]:
    return sorted(p.relative_to(base).as_posix() for p in Path(base).glob(pattern) if p.is_file())


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "ceil": math.ceil,
    "dirname": lambda path: posixpath.dirname(path) or ".",
    "distinct": lambda items: list(dict.fromkeys(items)),
    "file": lambda path: Path(path).read_text(),
    "fileset": _fileset,
    "jsonencode": lambda value: json.dumps(value, default=str, sort_keys=True),
    "keys": sorted,
    "length": len,
    "merge": lambda *maps: {k: v for m in maps for k, v in m.items()},
    "min": min,
    "parseint": int,
    "regexall": lambda pattern, string: re.findall(pattern, string),  # the modules' patterns have no groups
    "replace": lambda string, old, new: string.replace(old, new),  # the "/regex/" form is not used
    "sha1": lambda string: hashlib.sha1(string.encode(), usedforsecurity=False).hexdigest(),
    "sha256": lambda string: hashlib.sha256(string.encode()).hexdigest(),
    "sort": sorted,
    "split": lambda separator, string: string.split(separator),
    "substr": lambda string, offset, length: string[offset : offset + length] if length >= 0 else string[offset:],
    "tostring": text,
    "toset": lambda items: sorted(set(items)),
    "values": lambda mapping: [mapping[key] for key in sorted(mapping)],
    "yamldecode": yaml.safe_load,
}
BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "%": lambda a, b: a % b,
    "<": lambda a, b: a < b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    ">=": lambda a, b: a >= b,
    "&&": lambda a, b: a and b,
    "||": lambda a, b: a or b,
}


def _trees(node: Tree[Token]) -> list[Tree[Token]]:
    return [c for c in node.children if isinstance(c, Tree) and c.data != "new_line_or_comment"]


def _name(node: Tree[Token] | Token) -> str:
    """The name of an identifier node (or of the identifier inside get_attr)."""
    while isinstance(node, Tree):
        node = node.children[-1] if node.data == "get_attr" else node.children[0]
    return str(node)


class Instance:
    """One instance of a module: variables bound, locals and child-module outputs evaluated on demand."""

    def __init__(self, directory: Path, arguments: Mapping[str, Any], address: str = "") -> None:
        self.directory = directory
        # e.g. 'module.environment.module.service["digits"].': prefixes its resources' references
        self.address = address
        self.blocks = parse_module(directory)
        self.modules: dict[str, Any] = {}  # `module.<name>` -> its outputs (a dict of them per key with for_each)
        self.children: list[_Outputs] = []
        self._locals_raw = {k: v for b in self.blocks.get("locals", []) for k, v in b.items() if k != "__is_block__"}
        self._locals: dict[str, Any] = {}
        declared = labelled(self.blocks, "variable")
        if undeclared := set(arguments) - set(declared):
            raise EvalError(f"{directory}: no variable declared for {sorted(undeclared)}")
        if missing := [n for n, body in declared.items() if n not in arguments and "default" not in body]:
            raise EvalError(f"{directory}: variables without a value: {missing}")
        self.variables = {n: arguments[n] if n in arguments else self.value(b["default"]) for n, b in declared.items()}

    def local(self, name: str) -> Any:
        if name not in self._locals:
            if name not in self._locals_raw:
                raise EvalError(f"{self.directory}: no local {name!r}")
            self._locals[name] = self.value(self._locals_raw[name])
        return self._locals[name]

    def output(self, name: str) -> Any:
        return self.value(labelled(self.blocks, "output")[name]["value"])

    def instances(self, body: dict[str, Any]) -> dict[Any, dict[str, Any]]:
        """Instance key -> the `each`/`count` a block's instance is evaluated with."""
        if "for_each" in body:
            items = self.value(body["for_each"])
            pairs = items.items() if isinstance(items, dict) else ((key, key) for key in items)
            return {key: {"each": {"key": key, "value": value}} for key, value in pairs}
        if "count" in body:
            return {index: {"count": {"index": index}} for index in range(self.value(body["count"]))}
        return {None: {}}

    def value(self, raw: Any, scope: Mapping[str, Any] | None = None) -> Any:
        """A python-hcl2 value (attribute, nested block, list, object) evaluated."""
        scope = scope or {}
        if isinstance(raw, str):
            return self.expr(parse_expression(raw), scope)
        if isinstance(raw, list):
            return [self.value(item, scope) for item in raw]
        if isinstance(raw, dict):
            return {unquote(k): self.value(v, scope) for k, v in raw.items() if k != "__is_block__"}
        return raw

    def _root(self, name: str, scope: Mapping[str, Any]) -> Any:
        if name in scope:
            return scope[name]
        roots: dict[str, Callable[[], Any]] = {
            "var": lambda: self.variables,
            "local": lambda: _Locals(self),
            "path": lambda: {"module": str(self.directory)},
            "module": lambda: self.modules,
        }
        return roots[name]() if name in roots else Unknown(self.address + name)

    def expr(self, node: Tree[Token], scope: Mapping[str, Any]) -> Any:
        rule, trees = node.data, _trees(node)
        if rule == "expr_term":
            return self.expr(trees[0], scope)
        if rule in ("int_lit", "float_lit"):
            return (int if rule == "int_lit" else float)(str(node.children[0]))
        if rule == "literal_value":
            return {"true": True, "false": False, "null": None}[str(node.children[0])]
        if rule == "string":
            parts = [self._part(part, scope) for part in trees]
            if len(trees) == 1 and isinstance(trees[0].children[0], Tree):  # "${x}" is x itself
                return parts[0]
            return "".join(text(part) for part in parts)
        if rule == "identifier":
            return self._root(str(node.children[0]), scope)
        if rule == "get_attr_expr_term":
            return _index(self.expr(trees[0], scope), _name(trees[1]), attribute=True)
        if rule == "index_expr_term":
            index = trees[1]
            key = self.expr(_trees(index)[0], scope) if index.data == "braces_index" else int(str(index.children[-1]))
            return _index(self.expr(trees[0], scope), key)
        if rule in ("attr_splat_expr_term", "full_splat_expr_term"):
            base = self.expr(trees[0], scope)
            if isinstance(base, Unknown):
                return Unknown(f"{base.ref}[*]")
            return [_index(item, _name(trees[1].children[-1]), attribute=True) for item in base]
        if rule == "function_call":
            return self._call(_name(trees[0]), _trees(trees[1]) if len(trees) > 1 else [], scope)
        if rule == "tuple":
            return [self.expr(item, scope) for item in trees]
        if rule == "object":
            return dict(self._element(element, scope) for element in trees)
        if rule == "binary_op":
            operator, right = _trees(trees[1])
            left_value, right_value = self.expr(trees[0], scope), self.expr(right, scope)
            if isinstance(left_value, Unknown) or isinstance(right_value, Unknown):
                return Unknown("(operation on an unknown value)")
            return BINARY[str(operator.children[0])](left_value, right_value)
        if rule == "unary_op":
            operand = self.expr(trees[0], scope)
            return (not operand) if str(node.children[0]) == "!" else -operand
        if rule == "conditional":
            condition = self.expr(trees[0], scope)
            if isinstance(condition, Unknown):
                return Unknown("(conditional on an unknown value)")
            return self.expr(trees[1] if condition else trees[2], scope)
        if rule in ("for_tuple_expr", "for_object_expr"):
            return self._for(rule, trees, scope)
        raise EvalError(f"unsupported HCL expression {rule!r}")

    def _part(self, part: Tree[Token], scope: Mapping[str, Any]) -> Any:
        child = part.children[0]
        if isinstance(child, Tree):  # interpolation
            return self.expr(_trees(child)[0], scope)
        if child.type == "ESCAPED_INTERPOLATION":
            return str(child)[1:]
        return json.loads(f'"{child}"')  # HCL's escapes (\" \\ \n \uNNNN) are JSON's

    def _element(self, element: Tree[Token], scope: Mapping[str, Any]) -> tuple[str, Any]:
        key_node, value_node = _trees(element)
        key_expr = _trees(key_node)[0]
        bare = key_expr.data == "expr_term" and _trees(key_expr)[0].data == "identifier"
        key = _name(key_expr) if bare else text(self.expr(key_expr, scope))
        return key, self.expr(value_node, scope)

    def _call(self, name: str, arguments: list[Tree[Token]], scope: Mapping[str, Any]) -> Any:
        if name == "try":
            for argument in arguments:
                try:
                    return self.expr(argument, scope)
                except (EvalError, KeyError, IndexError, TypeError):
                    continue
            raise EvalError("no argument of try() could be evaluated")
        if name not in FUNCTIONS:
            raise EvalError(f"function {name}() is not emulated")
        values = [self.expr(argument, scope) for argument in arguments]
        if name != "jsonencode" and any(isinstance(v, Unknown) for v in values):
            return Unknown(f"{name}(...)")
        return FUNCTIONS[name](*values)

    def _for(self, rule: str, trees: list[Tree[Token]], scope: Mapping[str, Any]) -> Any:
        intro, *body = trees
        *names, collection = _trees(intro)
        symbols = [_name(n) for n in names]
        condition = body.pop() if body[-1].data == "for_cond" else None
        items = self.expr(collection, scope)
        pairs = sorted(items.items()) if isinstance(items, dict) else list(enumerate(items))
        results: list[Any] = []
        for key, item in pairs:
            inner = {**scope, **dict(zip(symbols, [key, item] if len(symbols) == 2 else [item], strict=True))}
            if condition is None or self.expr(_trees(condition)[0], inner):
                results.append([self.expr(part, inner) for part in body])
        if rule == "for_tuple_expr":
            return [value for (value,) in results]
        return {text(key): value for key, value in results}


def _index(base: Any, key: Any, attribute: bool = False) -> Any:
    if isinstance(base, Unknown):
        return Unknown(f"{base.ref}.{key}" if attribute else f"{base.ref}[{json.dumps(key)}]")
    try:
        return base[key]
    except (KeyError, IndexError, TypeError) as exc:
        raise EvalError(f"no {key!r} in {base!r}") from exc


class _Locals(Mapping[str, Any]):
    def __init__(self, instance: Instance) -> None:
        self._instance = instance

    def __getitem__(self, name: str) -> Any:
        return self._instance.local(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._instance._locals_raw)

    def __len__(self) -> int:
        return len(self._instance._locals_raw)


class _Outputs(Mapping[str, Any]):
    """`module.<name>` as the caller reads it: the child instance's outputs, built on first use."""

    def __init__(self, build: Callable[[], Instance]) -> None:
        self._build = build

    @functools.cached_property
    def instance(self) -> Instance:
        return self._build()

    def __getitem__(self, name: str) -> Any:
        return self.instance.output(name)

    def __iter__(self) -> Iterator[str]:
        return iter(labelled(self.instance.blocks, "output"))

    def __len__(self) -> int:
        return len(labelled(self.instance.blocks, "output"))


class Plan(Mapping[str, dict[str, Any]]):
    """Every resource and data instance of an env (and its root outputs) by address, rendered when first read."""

    def __init__(self) -> None:
        self._pending: dict[str, Callable[[], dict[str, Any]]] = {}
        self._rendered: dict[str, dict[str, Any]] = {}

    def add(self, instance: Instance) -> None:
        for kind in ("resource", "data"):
            for (type_, name), body in typed(instance.blocks, kind).items():
                address = f"{instance.address}{'data.' if kind == 'data' else ''}{type_}.{name}"
                attributes = {k: v for k, v in body.items() if k not in ("for_each", "count")}
                for key, scope in instance.instances(body).items():
                    self._pending[address + _key(key)] = functools.partial(instance.value, attributes, scope)

    def add_outputs(self, instance: Instance) -> None:
        """Root outputs, as `output.<name>` -> {"value": ...} (the shape `terraform show -json` uses)."""
        for name in labelled(instance.blocks, "output"):
            self._pending[f"output.{name}"] = functools.partial(_output_value, instance, name)

    def __getitem__(self, address: str) -> dict[str, Any]:
        if address not in self._rendered:
            self._rendered[address] = self._pending[address]()
        return self._rendered[address]

    def __iter__(self) -> Iterator[str]:
        return iter(self._pending)

    def __len__(self) -> int:
        return len(self._pending)


def load_module(directory: Path, arguments: Mapping[str, Any], address: str = "") -> Instance:
    """An instance of the module in `directory`, its module calls bound to (lazily built) child instances."""
    instance = Instance(directory, arguments, address)
    for name, call in labelled(instance.blocks, "module").items():
        source = (directory / instance.value(call["source"])).resolve()
        keyed = {
            key: _Outputs(
                functools.partial(_call_module, instance, source, call, scope, f"{address}module.{name}{_key(key)}.")
            )
            for key, scope in instance.instances(call).items()
        }
        instance.modules[name] = keyed[None] if list(keyed) == [None] else keyed
        instance.children.extend(keyed.values())
    return instance


def _call_module(caller: Instance, source: Path, call: dict[str, Any], scope: dict[str, Any], address: str) -> Instance:
    meta = {"source", "for_each", "count", "depends_on", "providers", "__is_block__"}
    return load_module(source, {k: caller.value(v, scope) for k, v in call.items() if k not in meta}, address)


def _add_with_descendants(plan: Plan, instance: Instance) -> None:
    plan.add(instance)
    for child in instance.children:
        _add_with_descendants(plan, child.instance)


@functools.cache
def render_environment(repo: Path, env: str) -> tuple[dict[str, Any], Plan]:
    """The env's services (`local.services` of module.environment) and its plan, as Terraform would build them.

    Resources and data sources of every module instance are keyed by their full address
    (module.environment.module.service["digits"].aws_ecs_service.api), root outputs as output.<name>.
    Cached: a plan renders each address once, on first read, and no test changes it.
    """
    root = load_module(repo / "infra" / "terraform" / "envs" / env, ROOT_VARIABLES)
    plan = Plan()
    _add_with_descendants(plan, root)
    plan.add_outputs(root)
    return root.modules["environment"].instance.local("services"), plan


def _output_value(instance: Instance, name: str) -> dict[str, Any]:
    return {"value": instance.output(name)}


def _key(key: Any) -> str:
    return "" if key is None else f"[{json.dumps(key)}]"


def render_schedule(cron: str) -> str:
    """What modules/ml-service schedules for a manifest with this cron (its schedule_expression output)."""
    arguments = {
        "name": "cron",
        "manifest": {"schedule": cron},
        "image_tag": "test",
        "platform": Unknown("module.platform.service_platform"),
    }
    return str(Instance(TERRAFORM / "modules" / "ml-service", arguments).output("schedule_expression"))


def copy_repo_with_added_services(destination: Path) -> Path:
    """services/ and infra/ copied, plus one folder per ADDED_SERVICES, made as an author would (`mlseam new`)."""
    ignore = shutil.ignore_patterns(".terraform", "__pycache__", "*.tfstate*")
    for part in ("services", "infra"):
        shutil.copytree(REPO / part, destination / part, ignore=ignore)
    for name, cron in ADDED_SERVICES.items():
        folder = create_service(name, "image_classification", destination / "services")
        manifest = yaml.safe_load((folder / "service.yaml").read_text())
        if cron is None:
            del manifest["schedule"], manifest["resources"]
        else:
            manifest["schedule"] = cron
        (folder / "service.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    return destination


def find_cli_config(work: Path) -> Path | None:
    """A Terraform CLI config whose provider installation works offline, or None."""
    configured = os.environ.get("TF_CLI_CONFIG_FILE")
    if configured and Path(configured).is_file():
        return Path(configured)
    candidates = [
        Path.home() / ".terraform.d" / "plugins",
        Path("/usr/local/share/terraform/plugins"),
        Path("/usr/share/terraform/plugins"),
        *sorted(Path("/opt").glob("*/")),
    ]
    for mirror in candidates:
        if (mirror / "registry.terraform.io" / "hashicorp" / "aws").is_dir():
            config = work / "terraform.tfrc"
            config.write_text(f'provider_installation {{\n  filesystem_mirror {{\n    path = "{mirror}"\n  }}\n}}\n')
            return config
    return None


@pytest.fixture(scope="session")
def terraform_console(extended_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, str], Any]:
    """Evaluate an expression with the real `terraform console` in an env of the extended repo copy.

    Each env is initialised once (a local backend overrides S3 in the copy: no state, no network).
    """
    binary = shutil.which("terraform")
    if binary is None:
        pytest.skip("no terraform binary on PATH: the HCL emulation tests still ran")
    work = tmp_path_factory.mktemp("terraform")
    config = find_cli_config(work)
    if config is None:
        pytest.skip("no offline provider mirror with hashicorp/aws (TF_CLI_CONFIG_FILE, plugin dirs, /opt/*/)")
    environment = {**os.environ, "TF_CLI_CONFIG_FILE": str(config), "TF_IN_AUTOMATION": "1", "NO_COLOR": "1"}
    initialised: set[str] = set()

    def run(env: str, *args: str, stdin: str | None = None) -> str:
        env_dir = extended_repo / "infra" / "terraform" / "envs" / env
        environment["TF_DATA_DIR"] = str(work / env)
        command = [binary, *args, "-no-color"]
        result = subprocess.run(command, cwd=env_dir, env=environment, input=stdin, capture_output=True, text=True)
        if result.returncode != 0:
            pytest.fail(f"terraform {args[0]} in envs/{env} failed:\n{result.stderr}")
        return result.stdout

    def evaluate(env: str, expression: str) -> Any:
        if env not in initialised:
            override = extended_repo / "infra" / "terraform" / "envs" / env / "backend_override.tf"
            override.write_text('terraform {\n  backend "local" {}\n}\n')
            run(env, "init", "-input=false")
            initialised.add(env)
        variables = [f"-var={name}={value}" for name, value in ROOT_VARIABLES.items()]
        printed = run(env, "console", *variables, stdin=f"jsonencode({expression})\n")
        return json.loads(json.loads(printed))

    return evaluate


@pytest.fixture(scope="session")
def extended_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the repo where services were added by adding folders, and nothing else."""
    return copy_repo_with_added_services(tmp_path_factory.mktemp("repo"))


@pytest.fixture(scope="module", params=ENVS)
def tf_env(request: pytest.FixtureRequest) -> str:
    """Each environment under infra/terraform/envs."""
    name: str = request.param
    return name


@pytest.fixture(scope="module")
def env_blocks(tf_env: str) -> dict[str, list[Any]]:
    """The env's root module as python-hcl2 reads it."""
    return parse_module(TERRAFORM / "envs" / tf_env)


@pytest.fixture(scope="session")
def module_blocks() -> Callable[[str], dict[str, list[Any]]]:
    """A module of infra/terraform (e.g. "modules/environment", "envs/prod") as python-hcl2 reads it."""
    return lambda relative: parse_module(TERRAFORM / relative)


@pytest.fixture(scope="module")
def rendered(tf_env: str) -> tuple[dict[str, Any], Plan]:
    """The env's services and plan, rendered from this repository."""
    return render_environment(REPO, tf_env)


@pytest.fixture(scope="module")
def rendered_extended(tf_env: str, extended_repo: Path) -> tuple[dict[str, Any], Plan]:
    """The env's services and plan, rendered from the copy with ADDED_SERVICES."""
    return render_environment(extended_repo, tf_env)


@pytest.fixture(scope="session")
def added_services() -> dict[str, str | None]:
    """Services the extended copy adds, name -> cron."""
    return dict(ADDED_SERVICES)


@pytest.fixture(scope="session")
def schedule_for() -> Callable[[str], str]:
    """What modules/ml-service schedules for a manifest cron, evaluated by the emulator."""
    return render_schedule
