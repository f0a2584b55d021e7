"""One truth about each service across every way of running it: the task table (tasks.toml), the
settings classes (what the code reads), .env.example (the one documented list), docker-compose.yml,
the Kubernetes manifests, the Dockerfiles and `make run` (scripts/run_local.py) must agree on ports,
variable names, health paths and model paths. The recognizers are the table's entries; that the
generated files are the table's output is test_task_table's (render_deploy.py --check)."""

from __future__ import annotations

import importlib
import json
import re
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.deploy.helpers import (
    COMPOSE_FILES,
    GATEWAY,
    GATEWAY_PORT,
    OVERLAYS,
    RECOGNIZER_DOCKERFILE,
    REPO_ROOT,
    TASK,
    TASKS,
    compose_config,
    dockerfile,
    env_example,
    env_names,
    k8s_objects,
    recognizer_dirs,
    script,
    settings_class,
)

COMPOSE_CONFIG = compose_config("docker-compose.yml")
COMPOSE = COMPOSE_CONFIG["services"]
COMPOSE_VOLUMES = COMPOSE_CONFIG.get("volumes", {})
RECOGNIZERS = [task.name for task in TASKS]
SERVICES = [GATEWAY, *RECOGNIZERS]  # compose/k8s service name == task name, gateway aside
PORTS = {GATEWAY: GATEWAY_PORT, **{task.name: task.port for task in TASKS}}
# Wiring: set by compose and the ConfigMaps per deployment, documented in .env.example as such.
WIRING = {"REDIS_URL", "GATEWAY_REDIS_URL", "GATEWAY_BACKENDS"}


# Settings documented in prose in .env.example: their defaults are a path inside the image, a
# JSON object, or a sentence, not a value to copy.
IN_PROSE = {"GATEWAY_FRONTEND_DIR", "GATEWAY_LABEL_RULES", "GATEWAY_DESCRIPTION"}


def service_dir(service: str) -> str:
    return GATEWAY if service == GATEWAY else TASK[service].folder


def app_module(service: str) -> str:
    return "gateway.main:app" if service == GATEWAY else TASK[service].app


def settings_env(service: str) -> dict[str, str]:
    return env_names(settings_class(service_dir(service)))


def configmap(overlay: str, service: str) -> dict[str, str]:
    # configMapGenerator appends a content hash to the name.
    maps = k8s_objects(overlay, "ConfigMap")
    (found,) = [config for name, config in maps.items() if name.startswith(f"{service}-config-")]
    return found["data"]


def container(overlay: str, service: str) -> dict:
    (found,) = k8s_objects(overlay, "Deployment")[service]["spec"]["template"]["spec"]["containers"]
    return found


def url_of(healthcheck: list[str]) -> tuple[int, str]:
    (url,) = re.findall(r"http://127\.0\.0\.1:\d+/\w+", " ".join(healthcheck))
    return urlsplit(url).port, urlsplit(url).path


def test_the_table_lists_every_recognizer_folder():
    assert sorted(task.folder for task in TASKS) == [path.name for path in recognizer_dirs()]
    for task in TASKS:
        assert task.package == task.folder.replace("-", "_"), "the convention settings_class relies on"


def test_every_service_is_deployed_everywhere():
    assert set(COMPOSE) == {"redis", *SERVICES}, "docker-compose.yml: one service per *-service/ directory"
    for overlay in OVERLAYS:
        assert set(k8s_objects(overlay, "Deployment")) == {"redis", *SERVICES}, overlay
        assert set(k8s_objects(overlay, "Service")) == {"redis", *SERVICES}, overlay


@pytest.mark.parametrize("service", SERVICES)
def test_ports_agree(service):
    port = PORTS[service]
    compose = COMPOSE[service]
    listens = [entry["target"] for entry in compose.get("ports", [])] or [int(p) for p in compose["expose"]]
    assert listens == [port], "docker-compose.yml"
    assert url_of(compose["healthcheck"]["test"])[0] == port
    for overlay in OVERLAYS:
        assert container(overlay, service)["ports"] == [{"name": "http", "containerPort": port}]
        (service_port,) = k8s_objects(overlay, "Service")[service]["spec"]["ports"]
        assert service_port["port"] == port and service_port["targetPort"] == "http"


@pytest.mark.parametrize("service", SERVICES)
def test_dockerfile_agrees(service):
    image = dockerfile(service_dir(service))
    assert image.port == PORTS[service]
    assert image.app == app_module(service)
    build = COMPOSE[service]["build"]
    if service == GATEWAY:
        assert build["dockerfile"] == "gateway/Dockerfile"
    else:
        assert build["dockerfile"] == RECOGNIZER_DOCKERFILE
        assert build["args"] == TASK[service].build_args(), "compose passes the table's build arguments"
    assert build["context"], "the repository root (common/ is shared)"
    prefix = "GATEWAY_" if service == GATEWAY else f"{service.upper()}_"
    unknown = {name for name in image.env if name.startswith(prefix)} - set(settings_env(service))
    assert not unknown, f"{service}/Dockerfile sets variables its settings do not read: {unknown}"


@pytest.mark.parametrize("service", SERVICES)
def test_health_paths_exist_and_are_probed(service):
    module = importlib.import_module(app_module(service).split(":")[0])
    assert {"/healthz", "/readyz"} <= set(module.app.openapi()["paths"])
    # Compose starts the gateway once each recognizer is ready; the gateway itself only has to be up.
    expected = "/healthz" if service == GATEWAY else "/readyz"
    assert url_of(COMPOSE[service]["healthcheck"]["test"])[1] == expected
    for overlay in OVERLAYS:
        spec = container(overlay, service)
        assert spec["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert spec["readinessProbe"]["httpGet"]["path"] == expected


@pytest.mark.parametrize("service", SERVICES)
def test_every_variable_set_is_a_real_setting(service):
    known = set(settings_env(service))
    assert set(COMPOSE[service].get("environment", {})) <= known, "docker-compose.yml"
    for overlay in OVERLAYS:
        assert set(configmap(overlay, service)) <= known, f"k8s {overlay} ConfigMap"
    prefix = "GATEWAY_" if service == GATEWAY else f"{service.upper()}_"
    documented = {name for name in env_example() if name.startswith(prefix)}
    assert documented <= known, ".env.example documents variables the code does not read"


@pytest.mark.parametrize("service", SERVICES)
def test_env_example_documents_every_setting_with_its_default(service):
    text = (REPO_ROOT / ".env.example").read_text()
    documented = env_example()
    settings = settings_class(service_dir(service))
    for name, field_name in settings_env(service).items():
        if name in WIRING:
            assert name in text or name == "GATEWAY_REDIS_URL", f".env.example: mention {name} (wiring)"
            continue
        if name not in documented:
            assert name in IN_PROSE and name in text, f".env.example: document # {name}=..."
            continue
        default = settings.model_fields[field_name].default
        if isinstance(default, Path):  # a path inside the image, not the source tree's default
            continue
        assert documented[name] == ("" if default is None else str(default)), f".env.example: {name}"


@pytest.mark.parametrize("service", RECOGNIZERS)
def test_model_paths_agree(service):
    task = TASK[service]
    variable = task.model_dir_variable
    assert variable in settings_env(service)
    assert (REPO_ROOT / task.folder / task.models).is_dir()
    assert env_example()[variable] == "/app/models"
    image = dockerfile(task.folder)
    assert image.env[variable] == image.copy_destination(f"{task.folder}/{task.models}/") == "/app/models"


def test_gateway_frontend_dir_is_baked_in():
    image = dockerfile(GATEWAY)
    assert image.env["GATEWAY_FRONTEND_DIR"] == image.copy_destination("frontend/")


def test_gateway_is_wired_to_every_recognizer_and_redis():
    # GATEWAY_BACKENDS lists exactly the table's tasks, each at its service name: a task left out
    # is not offered, and none falls back to the settings' 127.0.0.1 default (the gateway itself).
    backends = {task.name: f"http://{task.name}:{task.port}" for task in TASKS}
    expected = {"REDIS_URL": "redis://redis:6379/0"}
    # Corrections: where the image's own default puts them, on a volume every replica shares.
    expected["GATEWAY_FEEDBACK_DIR"] = dockerfile(GATEWAY).env["GATEWAY_FEEDBACK_DIR"]
    wired = dict(COMPOSE[GATEWAY]["environment"])
    assert json.loads(wired.pop("GATEWAY_BACKENDS")) == backends, "docker-compose.yml"
    assert wired == expected
    for overlay in OVERLAYS:
        config = dict(configmap(overlay, GATEWAY))
        assert json.loads(config.pop("GATEWAY_BACKENDS")) == backends, overlay
        assert config == expected, overlay
        (redis_port,) = k8s_objects(overlay, "Service")["redis"]["spec"]["ports"]
        assert redis_port["port"] == 6379


def test_the_gateway_reads_its_backends(monkeypatch):
    monkeypatch.setenv("GATEWAY_BACKENDS", COMPOSE[GATEWAY]["environment"]["GATEWAY_BACKENDS"])
    backends = settings_class(GATEWAY)().backends
    assert backends == {task.name: f"http://{task.name}:{task.port}" for task in TASKS}


def test_make_run_starts_what_compose_starts():
    run_local = script("run_local")
    plan = run_local.plan(TASKS, {})
    apps = {process.argv[process.argv.index("uvicorn") + 1]: process.port for process in plan.processes}
    assert apps == {app_module(service): PORTS[service] for service in SERVICES}
    local = {
        task: url.replace("127.0.0.1", task)
        for task, url in json.loads(plan.gateway_env["GATEWAY_BACKENDS"]).items()
    }
    assert local == json.loads(COMPOSE[GATEWAY]["environment"]["GATEWAY_BACKENDS"])


def test_env_example_has_no_unknown_variables():
    compose_text = "".join((REPO_ROOT / name).read_text() for name in COMPOSE_FILES)
    known = set(re.findall(r"\$\{(\w+)", compose_text)) | {"COMPOSE_FILE"}
    for service in SERVICES:
        known |= set(settings_env(service))
    assert set(env_example()) <= known


def test_make_help_prints_no_make_syntax():
    listing = subprocess.run(
        ["make", "--no-print-directory", "help"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert "train-digit" in listing and "bench-meter" in listing
    assert "$(" not in listing, listing


def test_corrections_live_on_a_volume_every_gateway_replica_shares():
    folder = dockerfile(GATEWAY).env["GATEWAY_FEEDBACK_DIR"]
    volume = next(v for v in COMPOSE[GATEWAY]["volumes"] if v["target"] == folder)
    assert volume["type"] == "volume" and volume["source"] in COMPOSE_VOLUMES
    for overlay in OVERLAYS:
        pod = k8s_objects(overlay, "Deployment")[GATEWAY]["spec"]["template"]["spec"]
        (mount,) = [m for m in pod["containers"][0]["volumeMounts"] if m["mountPath"] == folder]
        (claim,) = [
            v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"] if v["name"] == mount["name"]
        ]
        assert k8s_objects(overlay, "PersistentVolumeClaim")[claim]["spec"]["accessModes"] == [
            "ReadWriteMany"
        ]
        assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsGroup"]
