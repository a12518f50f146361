"""The container image: Dockerfile builds offline from a wheelhouse, the image serves /healthz as
a non-root user; docker-compose.yml requires its secrets.

The image test needs a docker daemon and NEURONEST_TEST_DOCKER=1 (set by `make test` when a
daemon answers). It builds on `neuronest/base-bookworm:latest` (scripts/build-images.sh, no image
registry needed) with `PIP_NO_INDEX=1`, so pip inside the build never reaches an index: the
wheels are built here on the host, with this venv's pip, and cached in
$NEURONEST_WHEEL_CACHE (default /tmp/neuronest-wheels) by a hash of pyproject.toml.
"""

from __future__ import annotations

import email.parser
import hashlib
import json
import os
import secrets
import shutil
import socket
import string
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BASE_IMAGE = "neuronest/base-bookworm:latest"
APP_IMAGE = "neuronest/app:test"
WHEEL_CACHE = Path(os.environ.get("NEURONEST_WHEEL_CACHE", "/tmp/neuronest-wheels"))
# What `docker build` gets: the files the Dockerfile copies (see also .dockerignore).
CONTEXT_FILES = ["Dockerfile", ".dockerignore", "pyproject.toml", "README.md"]
CONTEXT_DIRS = ["neuronest", "migrations", "console/dist"]
STARTUP_TIMEOUT = 60.0
BUILD_TIMEOUT = 600

# The environment markers of the interpreter inside an image (PEP 508 names).
TARGET_ENV_SCRIPT = """
import json, os, platform, sys
def fmt(info):
    version = "{0.major}.{0.minor}.{0.micro}".format(info)
    if info.releaselevel != "final":
        version += info.releaselevel[0] + str(info.serial)
    return version
print(json.dumps({
    "implementation_name": sys.implementation.name,
    "implementation_version": fmt(sys.implementation.version),
    "os_name": os.name,
    "platform_machine": platform.machine(),
    "platform_release": platform.release(),
    "platform_system": platform.system(),
    "platform_version": platform.version(),
    "python_full_version": platform.python_version(),
    "platform_python_implementation": platform.python_implementation(),
    "python_version": ".".join(platform.python_version_tuple()[:2]),
    "sys_platform": sys.platform,
}))
"""


def _run(
    args: list[str], timeout: float = 120, check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise AssertionError(
            f"command failed ({result.returncode}): {' '.join(args)}\n"
            f"--- stdout\n{result.stdout[-6000:]}\n--- stderr\n{result.stderr[-6000:]}"
        )
    return result


def _docker_available() -> str | None:
    """None when docker tests may run, else why not."""
    if os.environ.get("NEURONEST_TEST_DOCKER") != "1":
        return "NEURONEST_TEST_DOCKER is not 1 (make test sets it when a docker daemon answers)"
    if shutil.which("docker") is None:
        return "no docker client on PATH"
    try:
        result = subprocess.run(["docker", "info"], capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"`docker info` failed: {error}"
    if result.returncode != 0:
        return f"`docker info` failed: {result.stderr.decode(errors='replace').strip()[:300]}"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ensure_base_image() -> None:
    if _run(["docker", "image", "inspect", BASE_IMAGE], check=False).returncode == 0:
        return
    _run(["bash", str(ROOT / "scripts" / "build-images.sh")], timeout=900)
    if _run(["docker", "image", "inspect", BASE_IMAGE], check=False).returncode != 0:
        pytest.fail(f"{BASE_IMAGE} is missing and scripts/build-images.sh did not build it")


def _image_id(image: str) -> str | None:
    result = _run(["docker", "image", "inspect", "-f", "{{.Id}}", image], check=False)
    if result.returncode != 0:
        return None
    return result.stdout.strip() or None


def _target_env() -> dict[str, str]:
    command = ["python3", "-c", TARGET_ENV_SCRIPT]
    result = _run(["docker", "run", "--rm", "--network", "none", BASE_IMAGE, *command])
    env: dict[str, str] = json.loads(result.stdout)
    return env


def _wheel_requirements(wheel: Path) -> tuple[list[str], list[str]]:
    """(Requires-Dist, Provides-Extra) of a wheel."""
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = email.parser.BytesParser().parsebytes(archive.read(name), headersonly=True)
    return metadata.get_all("Requires-Dist") or [], metadata.get_all("Provides-Extra") or []


def _pip_wheel(directory: Path, requirements: list[str]) -> None:
    pip = [sys.executable, "-m", "pip", "wheel", "--quiet"]
    _run([*pip, "--wheel-dir", str(directory), *requirements], timeout=BUILD_TIMEOUT)


def _complete_for_target(directory: Path, target: dict[str, str]) -> None:
    """pip evaluates environment markers for the interpreter it runs on. The image's may differ
    (Debian bookworm has python 3.11.2, this venv maybe 3.11.7: redis then needs async-timeout
    there, not here), so add the wheels that only the target's markers ask for, to closure."""
    try:
        from packaging.markers import default_environment
        from packaging.requirements import Requirement
    except ImportError:  # not installed here: pip's copy
        from pip._vendor.packaging.markers import default_environment
        from pip._vendor.packaging.requirements import Requirement  # type: ignore[assignment]

    host = {k: str(v) for k, v in default_environment().items()}
    done: set[str] = set()
    while True:
        wanted: set[str] = set()
        for wheel in sorted(directory.glob("*.whl")):
            requires, extras = _wheel_requirements(wheel)
            for line in requires:
                requirement = Requirement(line)
                if requirement.marker is None:
                    continue
                for extra in ["", *extras]:
                    in_target = requirement.marker.evaluate({**target, "extra": extra})
                    in_host = requirement.marker.evaluate({**host, "extra": extra})
                    if in_target and not in_host:
                        requirement.marker = None
                        wanted.add(str(requirement))
                        break
        new = sorted(wanted - done)
        if not new:
            return
        done.update(new)
        _pip_wheel(directory, new)


def _wheelhouse(target: dict[str, str]) -> Path:
    """Wheels of every dependency and of the build backend, for the image's interpreter."""
    pyproject = (ROOT / "pyproject.toml").read_bytes()
    key = hashlib.sha256(
        pyproject + json.dumps(target, sort_keys=True).encode() + sys.version.encode() + b"v1"
    ).hexdigest()[:16]
    cached = WHEEL_CACHE / key
    if (cached / ".complete").exists():
        return cached
    project = tomllib.loads(pyproject.decode())
    requirements = [
        *project["project"]["dependencies"],
        *project["build-system"]["requires"],
        "wheel",
    ]
    WHEEL_CACHE.mkdir(parents=True, exist_ok=True)
    building = WHEEL_CACHE / f"{key}.{os.getpid()}.tmp"
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir()
    try:
        _pip_wheel(building, requirements)
        _complete_for_target(building, target)
        (building / ".complete").write_text("ok\n")
        try:
            building.rename(cached)
        except OSError:  # another run finished first
            if not (cached / ".complete").exists():
                raise
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return cached


def _build_context(destination: Path, wheels: Path) -> Path:
    context = destination / "context"
    context.mkdir()
    for name in CONTEXT_FILES:
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, context / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in CONTEXT_DIRS:
        shutil.copytree(ROOT / name, context / name, ignore=ignore)
    (context / "wheels").mkdir()
    for wheel in wheels.glob("*.whl"):
        shutil.copy2(wheel, context / "wheels" / wheel.name)
    return context


def _get_json(url: str) -> tuple[int, object]:
    with urllib.request.urlopen(url, timeout=2) as response:
        return response.status, json.loads(response.read())


@pytest.fixture(scope="module")
def app_image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    reason = _docker_available()
    if reason:
        pytest.skip(reason)
    _ensure_base_image()
    target = _target_env()
    here = ".".join(map(str, sys.version_info[:2]))
    if target["python_version"] != here:
        pytest.skip(
            f"{BASE_IMAGE} has python {target['python_version']}, this venv {here}: "
            "wheels built here would not install there"
        )
    wheels = _wheelhouse(target)
    context = _build_context(tmp_path_factory.mktemp("image"), wheels)
    previous = _image_id(APP_IMAGE)
    _run(
        [
            "docker", "build", "--network", "host", "--force-rm",
            "--build-arg", f"BASE_IMAGE={BASE_IMAGE}",
            "--build-arg", "PIP_NO_INDEX=1",
            "-t", APP_IMAGE, str(context),
        ],
        timeout=BUILD_TIMEOUT,
    )  # fmt: skip
    if previous and previous != _image_id(APP_IMAGE):
        # the image this tag named before: drop it, or every code change leaves one behind
        _run(["docker", "image", "rm", previous], check=False)
    yield APP_IMAGE


def test_image_serves_healthz_as_non_root(app_image: str) -> None:
    port = _free_port()
    secret = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(40))
    container = _run(
        [
            "docker", "run", "-d", "--network", "host",
            "-e", f"NEURONEST_SECRET_KEY={secret}",
            "-e", "NEURONEST_ENV=production",
            "-e", "NEURONEST_MAIL_TO_LOG=true",
            "-e", f"NEURONEST_PORT={port}",
            app_image, "serve", "--host", "127.0.0.1", "--port", str(port),
        ]
    ).stdout.strip()  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/healthz"
        deadline = time.monotonic() + STARTUP_TIMEOUT
        body: object = None
        while True:
            try:
                status, body = _get_json(url)
                if status == 200:
                    break
            except (OSError, urllib.error.URLError, ValueError):
                pass
            state = _run(
                ["docker", "inspect", "-f", "{{.State.Running}}", container], check=False
            ).stdout.strip()
            if state != "true" or time.monotonic() > deadline:
                logs = _run(["docker", "logs", container], check=False)
                pytest.fail(
                    f"container {'exited' if state != 'true' else 'did not answer'} "
                    f"(running={state}):\n{logs.stdout[-4000:]}\n{logs.stderr[-4000:]}"
                )
            time.sleep(0.25)
        assert body == {"status": "ok"}

        # the web console and the offline docs pages come with the image
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
            page = response.read().decode()
        assert response.status == 200 and '<div id="app"' in page, page[:500]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/docs", timeout=2) as response:
            assert response.status == 200

        uid = _run(["docker", "exec", container, "id", "-u"]).stdout.strip()
        assert uid.isdigit() and int(uid) != 0, f"container runs as uid {uid!r}"
        assert int(uid) == 10001

        # the data dir is the user's, and the image's HEALTHCHECK command works as written
        _run(["docker", "exec", container, "touch", "/data/.write-test"])
        inspect = json.loads(_run(["docker", "image", "inspect", app_image]).stdout)[0]
        config = inspect["Config"]
        assert config["Env"] and "NEURONEST_DATA_DIR=/data" in config["Env"]
        health = config["Healthcheck"]["Test"]
        assert health[0] == "CMD", health
        _run(["docker", "exec", container, *health[1:]])
    finally:
        _run(["docker", "rm", "-f", "-v", container], check=False)


def test_compose_requires_secrets() -> None:
    yaml = pytest.importorskip("yaml")
    text = (ROOT / "docker-compose.yml").read_text()
    compose = yaml.safe_load(text)
    services = compose["services"]
    assert {"api", "worker", "postgres", "redis", "migrate"} <= set(services)
    for name in ("api", "worker", "postgres", "redis"):
        assert "healthcheck" in services[name], f"{name} has no healthcheck"
    # secrets are required (${VAR:?message}), never defaulted (${VAR:-...})
    assert "${NEURONEST_SECRET_KEY:?" in text
    assert "${POSTGRES_PASSWORD:?" in text
    for variable in ("NEURONEST_SECRET_KEY", "POSTGRES_PASSWORD"):
        assert f"${{{variable}:-" not in text and f"${{{variable}-" not in text
    assert services["api"]["depends_on"]["migrate"]["condition"] == (
        "service_completed_successfully"
    )
    for name in ("api", "worker", "migrate"):
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["redis"]["condition"] == "service_healthy"
        assert services[name]["environment"]["NEURONEST_ENV"] == "production"
