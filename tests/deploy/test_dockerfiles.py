"""Every service Dockerfile: hadolint, and the rules of issue 5 that a linter does not know.

Two Dockerfiles: the gateway's, and one for every recognizer (deploy/recognizer.Dockerfile) that is
built once per entry of tasks.toml with that entry's build arguments. The content checks run on the
recognizer Dockerfile as each task's build sees it (helpers.Dockerfile substitutes the arguments).
"""

from __future__ import annotations

import re
import tomllib

import pytest

from tests.deploy.helpers import (
    GATEWAY,
    RECOGNIZER_DOCKERFILE,
    REPO_ROOT,
    TASKS,
    dockerfile,
    run,
    service_dirs,
    tool,
)

SERVICE_DIRS = service_dirs()
RECOGNIZER_DIRS = [task.folder for task in TASKS]
DOCKERFILES = [REPO_ROOT / GATEWAY / "Dockerfile", REPO_ROOT / RECOGNIZER_DOCKERFILE]


@pytest.mark.parametrize("service_dir", SERVICE_DIRS)
def test_there_is_a_dockerfile_per_service(service_dir):
    assert dockerfile(service_dir).path.is_file()


def test_the_recognizers_share_one_dockerfile():
    # No copies kept in step: the only Dockerfiles are the gateway's and the recognizers' one.
    listed = run(["git", "ls-files", "--cached", "--others", "--exclude-standard"])
    assert listed.returncode == 0, listed.stderr
    names = listed.stdout.splitlines()
    found = {name for name in names if re.search(r"(^|[./])Dockerfile($|\.)", name.rsplit("/", 1)[-1])}
    assert found == {f"{GATEWAY}/Dockerfile", RECOGNIZER_DOCKERFILE}


def test_hadolint_passes():
    result = run([tool("hadolint"), *map(str, DOCKERFILES)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_catches_a_bad_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN cd /app && pip install flask\n")
    assert run([tool("hadolint"), str(bad)]).returncode != 0


def test_the_build_arguments_are_the_tables():
    # Every argument without a default is one the table gives, and the table gives no other.
    image = dockerfile(RECOGNIZER_DIRS[0])
    declared = image.declared_args
    required = {name for name, default in declared.items() if default is None}
    for task in TASKS:
        assert required <= set(task.build_args()) <= set(declared), task.name
    # A build that forgot them stops at once with the reason, before any COPY of an empty path.
    (check, *_) = [arg for arg in image.args("RUN") if "--build-arg SERVICE_DIR=" in arg]
    assert "exit 1" in check and all(f'[ -z "${name}" ]' in check for name in required)


@pytest.mark.parametrize("service_dir", SERVICE_DIRS)
def test_multi_stage_pinned_slim_base(service_dir):
    image = dockerfile(service_dir)
    base = re.fullmatch(r"BASE_IMAGE=(\S+)", image.args("ARG")[0])
    assert base, "the first line that counts is ARG BASE_IMAGE=<pinned image>"
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", base.group(1)), base.group(1)
    stages = image.args("FROM")
    assert stages == ["python:3.11.14-slim-bookworm AS builder", "python:3.11.14-slim-bookworm AS runtime"]
    assert any("--from=builder /opt/venv /opt/venv" in arg for arg in image.args("COPY"))


@pytest.mark.parametrize("service_dir", SERVICE_DIRS)
def test_installs_pinned_wheels_into_a_venv(service_dir):
    image = dockerfile(service_dir)
    installs = [arg for arg in image.args("RUN") if "pip install" in arg]
    assert installs and all("-c requirements/constraints.txt" in arg for arg in installs)
    assert any("python -m venv /opt/venv" in arg for arg in image.args("RUN"))


@pytest.mark.parametrize("service_dir", SERVICE_DIRS)
def test_runs_as_non_root_with_a_healthcheck(service_dir):
    image = dockerfile(service_dir)
    assert image.args("USER")[-1] not in ("root", "0")
    (healthcheck,) = image.args("HEALTHCHECK")
    assert "urllib.request" in healthcheck  # no curl in slim images
    if service_dir == GATEWAY:
        assert f"http://127.0.0.1:{image.port}/healthz" in healthcheck
    else:  # exec form has no build arguments: the port comes from the image's environment
        assert "http://127.0.0.1:%s/healthz' % os.environ['UVICORN_PORT']" in healthcheck
        assert image.env["UVICORN_PORT"] == str(image.port) and image.env["UVICORN_HOST"] == "0.0.0.0"
    assert image.args("EXPOSE") == [str(image.port)]


@pytest.mark.parametrize("service_dir", RECOGNIZER_DIRS)
def test_recognizer_image_serves_its_task(service_dir):
    (task,) = [task for task in TASKS if task.folder == service_dir]
    image = dockerfile(service_dir)
    assert image.app == task.app and image.port == task.port
    assert image.env[task.model_dir_variable] == image.copy_destination(f"{task.folder}/{task.models}/")
    assert image.cmd[0] == "uvicorn", "exec form: uvicorn is PID 1 and gets the stop signal"


def test_gateway_image_has_no_tensorflow():
    image = dockerfile(GATEWAY)
    (install,) = [arg for arg in image.args("RUN") if "pip install" in arg]
    assert install.split()[-2:] == ["./common", "./gateway"], "common without the inference extra"
    deps = tomllib.loads((REPO_ROOT / "gateway/pyproject.toml").read_text())["project"]["dependencies"]
    assert not [dep for dep in deps if re.search(r"tensorflow|keras|\[inference\]|-service", dep)]


def test_recognizer_gpu_build_arg():
    image = dockerfile(RECOGNIZER_DIRS[0])
    assert 'TENSORFLOW=""' in image.args("ARG")
    swaps = [arg for arg in image.args("RUN") if "pip uninstall -y tensorflow-cpu" in arg]
    assert swaps and '"$TENSORFLOW"' in swaps[0]


def test_dockerignore_keeps_the_context_small():
    patterns = set((REPO_ROOT / ".dockerignore").read_text().split())
    for needed in (".git", ".venv", "**/.venv", "tests", "data", "bench", ".run", "**/__pycache__", ".env"):
        assert needed in patterns, f".dockerignore should exclude {needed}"


@pytest.mark.parametrize("service_dir", SERVICE_DIRS)
def test_copied_paths_exist_and_are_not_ignored(service_dir):
    image = dockerfile(service_dir)
    ignored = [p for p in (REPO_ROOT / ".dockerignore").read_text().split() if not p.startswith("#")]
    for arg in image.args("COPY"):
        if arg.startswith("--from="):
            continue
        source = arg.split()[0].rstrip("/")
        assert "$" not in source, f"{service_dir}: COPY {source}: a build argument compose does not pass"
        assert (REPO_ROOT / source).exists(), f"{service_dir}: COPY {source} does not exist"
        top = source.split("/")[0]
        assert top not in ignored, f"{service_dir}: COPY {source} but .dockerignore excludes {top}"
