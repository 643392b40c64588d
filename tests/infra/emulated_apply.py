"""Apply an env of infra/terraform the way an operator would, against moto's server on loopback."""

from __future__ import annotations

import datetime
import http.client
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mlseam.local.ports import free_port

REPO = Path(__file__).resolve().parents[2]
REGION = "eu-west-1"
PROVIDER_MIRROR = Path(os.environ.get("MLSEAM_TF_PLUGIN_MIRROR", "/opt/tf-plugins"))
# Every AWS API the envs call, by the provider's endpoint name: each one goes to the emulator.
ENDPOINTS = (
    "acm",
    "appautoscaling",
    "cloudwatch",
    "dynamodb",
    "ec2",
    "ecr",
    "ecs",
    "elbv2",
    "events",
    "iam",
    "kms",
    "logs",
    "rds",
    "s3",
    "scheduler",
    "secretsmanager",
    "sns",
    "sqs",
    "sts",
)
_MOTO_START_TIMEOUT_S = 30.0
# moto takes any credentials; Terraform and boto3 both need some.
DUMMY_KEY = "testing"


def find_prerequisites() -> tuple[str, Path] | str:
    """The terraform binary and the offline provider mirror, or one line saying which is missing."""
    binary = shutil.which("terraform")
    if binary is None:
        return "no terraform binary on PATH"
    if not (PROVIDER_MIRROR / "registry.terraform.io" / "hashicorp" / "aws").is_dir():
        return f"no hashicorp/aws provider mirror at {PROVIDER_MIRROR} (MLSEAM_TF_PLUGIN_MIRROR)"
    return binary, PROVIDER_MIRROR


@contextmanager
def run_moto_server(log: Path) -> Iterator[str]:
    """moto_server in its own process on a free loopback port; yields its endpoint URL."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    # AWS-managed policies (the RDS monitoring role attaches one) exist only when loaded.
    environment = {**os.environ, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true"}
    moto_server = Path(sys.executable).with_name("moto_server")
    with log.open("w") as output:
        process = subprocess.Popen(
            [str(moto_server), "-H", "127.0.0.1", "-p", str(port)], env=environment, stdout=output, stderr=output
        )
    try:
        _wait_until_answering(endpoint, process)
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_answering(endpoint: str, process: subprocess.Popen[bytes]) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + _MOTO_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto_server exited with {process.returncode} before answering")
        try:
            with opener.open(f"{endpoint}/moto-api/data.json", timeout=2):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.1)
    raise RuntimeError(f"moto_server on {endpoint} did not answer within {_MOTO_START_TIMEOUT_S:.0f}s")


class _ScalingTagsHandler(http.server.BaseHTTPRequestHandler):
    """Application Auto Scaling calls passed on to moto, but for the tag calls moto 5.2 lacks, kept here."""

    upstream: str
    tags: dict[str, dict[str, str]]
    lock: threading.Lock
    _TAG_ACTIONS = ("ListTagsForResource", "TagResource", "UntagResource")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        action = self.headers.get("X-Amz-Target", "").rpartition(".")[2]
        if action in self._TAG_ACTIONS:
            self._reply(
                200, {"Content-Type": "application/x-amz-json-1.1"}, json.dumps(self._tag(action, body)).encode()
            )
            return
        status, headers, payload = self._forward(body)
        if action == "RegisterScalableTarget" and status == 200:
            arn = json.loads(payload).get("ScalableTargetARN")
            with self.lock:
                self.tags.setdefault(arn, {}).update(json.loads(body).get("Tags") or {})
        self._reply(status, headers, payload)

    def _tag(self, action: str, body: bytes) -> dict[str, Any]:
        request = json.loads(body or b"{}")
        arn = request["ResourceARN"]
        with self.lock:
            stored = self.tags.setdefault(arn, {})
            if action == "TagResource":
                stored.update(request["Tags"])
            elif action == "UntagResource":
                for key in request["TagKeys"]:
                    stored.pop(key, None)
            return {"Tags": dict(stored)} if action == "ListTagsForResource" else {}

    def _forward(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
        address = urllib.parse.urlsplit(self.upstream)
        connection = http.client.HTTPConnection(address.hostname or "127.0.0.1", address.port, timeout=60)
        try:
            connection.request("POST", self.path, body, dict(self.headers.items()))
            response = connection.getresponse()
            kept = {k: v for k, v in response.getheaders() if k.lower() not in ("content-length", "transfer-encoding")}
            return response.status, kept, response.read()
        finally:
            connection.close()

    def _reply(self, status: int, headers: dict[str, str], payload: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: Terraform's own output says what was called."""


@contextmanager
def run_scaling_tags_shim(upstream: str) -> Iterator[str]:
    """The Application Auto Scaling endpoint Terraform gets: moto, plus the tag calls it lacks; yields its URL.

    moto 5.2.5 implements neither ListTagsForResource nor TagResource for Application Auto Scaling
    (moto/applicationautoscaling/responses.py), and the provider reads a scalable target's tags after
    creating it: without this every aws_appautoscaling_target fails with a 500.
    """
    handler = type("Handler", (_ScalingTagsHandler,), {"upstream": upstream, "tags": {}, "lock": threading.Lock()})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="scaling-tags-shim", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def aws_client(endpoint: str, service: str) -> Any:
    """A boto3 client of the emulator, with the same dummy credentials Terraform gets."""
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=DUMMY_KEY,
        aws_secret_access_key=DUMMY_KEY,
    )


def import_certificate(endpoint: str, domain: str = "api.mlseam.test") -> str:
    """A self-signed certificate imported into the emulator's ACM, as an operator imports theirs; its ARN."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domain)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(domain)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    answer = aws_client(endpoint, "acm").import_certificate(
        Certificate=certificate.public_bytes(serialization.Encoding.PEM),
        PrivateKey=key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )
    arn: str = answer["CertificateArn"]
    return arn


def copy_infra(destination: Path) -> Path:
    """infra/terraform and services/ copied as the envs read them (services_dir is relative); the copy's envs/."""
    ignore = shutil.ignore_patterns(".terraform", "__pycache__", "*.tfstate*", "*_override.tf")
    shutil.copytree(REPO / "infra" / "terraform", destination / "infra" / "terraform", ignore=ignore)
    shutil.copytree(REPO / "services", destination / "services", ignore=ignore)
    return destination / "infra" / "terraform" / "envs"


def render_override(endpoint: str, overrides: dict[str, str] | None = None) -> str:
    """The provider and backend override pointing the env at the emulator: no account, no network, local state.

    `overrides` sends some endpoints elsewhere (name -> URL), e.g. appautoscaling to the tags shim.
    """
    urls = dict.fromkeys(ENDPOINTS, endpoint) | (overrides or {})
    endpoints = "\n".join(f'    {name} = "{url}"' for name, url in urls.items())
    return f"""terraform {{
  backend "local" {{}}
}}

provider "aws" {{
  access_key                  = "{DUMMY_KEY}"
  secret_key                  = "{DUMMY_KEY}"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = true
  skip_region_validation      = true
  s3_use_path_style           = true
  # An API the emulator lacks answers 500; retried 25 times it would look like a hang.
  max_retries = 2

  endpoints {{
{endpoints}
  }}
}}
"""


def render_cli_config(mirror: Path) -> str:
    """A Terraform CLI config installing providers from the local mirror only (offline init)."""
    return (
        "provider_installation {\n  filesystem_mirror {\n"
        f'    path    = "{mirror}"\n    include = ["registry.terraform.io/*/*"]\n'
        "  }\n}\n"
    )


@dataclass
class Terraform:
    """The terraform CLI in one env directory, every command bounded by a timeout."""

    binary: str
    env_dir: Path
    cli_config: Path
    variables: dict[str, str]
    log: list[str] = field(default_factory=list)

    def run(self, *args: str, timeout_s: float, variables: bool = False) -> subprocess.CompletedProcess[str]:
        environment = {
            **os.environ,
            "TF_CLI_CONFIG_FILE": str(self.cli_config),
            "TF_IN_AUTOMATION": "1",
            "TF_INPUT": "0",
            "NO_COLOR": "1",
            "CHECKPOINT_DISABLE": "1",
        }
        command = [self.binary, *args, "-no-color"]
        if variables:
            command += [f"-var={name}={value}" for name, value in self.variables.items()]
        started = time.monotonic()
        try:
            result = subprocess.run(
                command, cwd=self.env_dir, env=environment, capture_output=True, text=True, timeout=timeout_s
            )
        except subprocess.TimeoutExpired as err:
            output = (err.stdout or b"").decode() if isinstance(err.stdout, bytes) else (err.stdout or "")
            raise AssertionError(
                f"terraform {args[0]} took over {timeout_s:.0f}s; last output:\n{output[-4000:]}"
            ) from None
        self.log.append(f"terraform {args[0]}: {time.monotonic() - started:.1f}s, exit {result.returncode}")
        if result.returncode != 0:
            raise AssertionError(
                f"terraform {' '.join(args[:1])} failed:\n{result.stderr[-6000:]}\n{result.stdout[-3000:]}"
            )
        return result

    def planned_addresses(self, timeout_s: float) -> list[str]:
        """Every resource instance address a plan of the whole env would create."""
        self.run("plan", "-input=false", "-out=apply.tfplan", timeout_s=timeout_s, variables=True)
        shown = json.loads(self.run("show", "-json", "apply.tfplan", timeout_s=timeout_s).stdout)
        return [
            change["address"]
            for change in shown["resource_changes"]
            if change["mode"] == "managed" and "create" in change["change"]["actions"]
        ]

    def state_addresses(self, timeout_s: float) -> list[str]:
        listed = self.run("state", "list", timeout_s=timeout_s).stdout.split()
        return [address for address in listed if ".data." not in address and not address.startswith("data.")]
