"""Every service Dockerfile: hadolint, and the rules of issue 5 that a linter does not know."""

from __future__ import annotations

import re
import tomllib

import pytest

from tests.deploy.helpers import (
    RECOGNIZER_PORTS,
    REPO_ROOT,
    Dockerfile,
    dockerfile,
    reuse_command,
    run,
    service_dirs,
    tool,
)

SERVICE_DIRS = service_dirs()
DOCKERFILES = sorted(REPO_ROOT.glob("*/Dockerfile"))
# The checks of a Dockerfile's content run on those that exist; a missing one is the xfail above them.
BUILT = [path.parent.name for path in DOCKERFILES]


@pytest.mark.parametrize("service_dir", SERVICE_DIRS)
def test_there_is_a_dockerfile_per_service(service_dir):
    assert dockerfile(service_dir).path.is_file()


def test_only_services_have_dockerfiles():
    assert {path.parent.name for path in DOCKERFILES} <= set(SERVICE_DIRS)


def test_hadolint_passes():
    result = run([tool("hadolint"), *map(str, DOCKERFILES)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_catches_a_bad_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN cd /app && pip install flask\n")
    assert run([tool("hadolint"), str(bad)]).returncode != 0


@pytest.mark.parametrize("service_dir", BUILT)
def test_multi_stage_pinned_slim_base(service_dir):
    image = dockerfile(service_dir)
    base = re.fullmatch(r"BASE_IMAGE=(\S+)", image.args("ARG")[0])
    assert base, "the first line that counts is ARG BASE_IMAGE=<pinned image>"
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", base.group(1)), base.group(1)
    stages = image.args("FROM")
    assert stages == ["${BASE_IMAGE} AS builder", "${BASE_IMAGE} AS runtime"]
    assert any("--from=builder /opt/venv /opt/venv" in arg for arg in image.args("COPY"))


@pytest.mark.parametrize("service_dir", BUILT)
def test_installs_pinned_wheels_into_a_venv(service_dir):
    image = dockerfile(service_dir)
    installs = [arg for arg in image.args("RUN") if "pip install" in arg]
    assert installs and all("-c requirements/constraints.txt" in arg for arg in installs)
    assert any("python -m venv /opt/venv" in arg for arg in image.args("RUN"))


@pytest.mark.parametrize("service_dir", BUILT)
def test_runs_as_non_root_with_a_healthcheck(service_dir):
    image = dockerfile(service_dir)
    assert image.args("USER")[-1] not in ("root", "0")
    (healthcheck,) = image.args("HEALTHCHECK")
    assert f"http://127.0.0.1:{image.port}/healthz" in healthcheck
    assert "urllib.request" in healthcheck  # no curl in slim images
    assert image.args("EXPOSE") == [str(image.port)]


def test_gateway_image_has_no_tensorflow():
    image = dockerfile("gateway")
    (install,) = [arg for arg in image.args("RUN") if "pip install" in arg]
    assert install.split()[-2:] == ["./common", "./gateway"], "common without the inference extra"
    deps = tomllib.loads((REPO_ROOT / "gateway/pyproject.toml").read_text())["project"]["dependencies"]
    assert not [dep for dep in deps if re.search(r"tensorflow|keras|\[inference\]|-service", dep)]


@pytest.mark.parametrize("service_dir", [name for name in BUILT if name.endswith("-service")])
def test_recognizer_gpu_build_arg(service_dir):
    image = dockerfile(service_dir)
    assert 'TENSORFLOW=""' in image.args("ARG")
    swaps = [arg for arg in image.args("RUN") if "pip uninstall -y tensorflow-cpu" in arg]
    assert swaps and '"$TENSORFLOW"' in swaps[0]


def test_dockerignore_keeps_the_context_small():
    patterns = set((REPO_ROOT / ".dockerignore").read_text().split())
    for needed in (".git", ".venv", "**/.venv", "tests", "data", "bench", ".run", "**/__pycache__", ".env"):
        assert needed in patterns, f".dockerignore should exclude {needed}"


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda path: path.parent.name)
def test_copied_paths_exist_and_are_not_ignored(path):
    image = Dockerfile(path, path.read_text())
    ignored = [p for p in (REPO_ROOT / ".dockerignore").read_text().split() if not p.startswith("#")]
    for arg in image.args("COPY"):
        if arg.startswith("--from="):
            continue
        source = arg.split()[0].rstrip("/")
        assert (REPO_ROOT / source).exists(), f"{path}: COPY {source} does not exist"
        top = source.split("/")[0]
        assert top not in ignored, f"{path}: COPY {source} but .dockerignore excludes {top}"


def test_the_digit_dockerfile_is_a_pattern_for_every_recognizer(tmp_path):
    # What a new recognizer does to get its Dockerfile (digit-service/Dockerfile's header): the
    # result lints clean and copies only what that service has.
    for task, port in RECOGNIZER_PORTS.items():
        if task == "digit" or not (REPO_ROOT / f"{task}-service").is_dir():
            continue
        target = tmp_path / f"{task}.Dockerfile"
        command = reuse_command(task, port).replace(f"> {task}-service/Dockerfile", f"> {target}")
        assert run(["sh", "-c", command]).returncode == 0
        assert run([tool("hadolint"), str(target)]).returncode == 0
        image = Dockerfile(target, target.read_text())
        assert "digit" not in target.read_text().replace("digit-service/Dockerfile", "").lower()
        assert image.app == f"{task}_service.main:app" and image.port == port
        assert image.env[f"{task.upper()}_MODEL_DIR"] == image.copy_destination(f"{task}-service/models/")
        for arg in image.args("COPY"):
            if not arg.startswith("--from="):
                assert (REPO_ROOT / arg.split()[0]).exists(), f"{task}: COPY {arg}"
