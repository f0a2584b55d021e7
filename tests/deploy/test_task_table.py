"""tasks.toml: the table every deployment file comes from, and what adding a task costs.

The committed compose and Kubernetes files must be exactly what scripts/render_deploy.py writes
from the table (`--check`), and a table with one more task must give that task everything: its
compose service, GPU override, Kubernetes manifests, the gateway's GATEWAY_BACKENDS, and a process
in `make run`. Those renders go to a temporary copy; the committed files are never written.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.deploy.helpers import REPO_ROOT, TASKS, run, script, task_table, tool

render_deploy = script("render_deploy")
run_local = script("run_local")

GAUGE = """
[tasks.gauge]
folder = "gauge-service"
package = "gauge_service"
port = 8004
gpu_max_replicas = 2
resources = { memory_limit = "3Gi" }
k8s_settings = { INFERENCE_THREADS = 2, MAX_QUEUE = 64 }
"""
# What render_deploy reads besides the table: the hand-written files it fills blocks into.
HAND_WRITTEN = ("docker-compose.yml", "docker-compose.gpu.yml", "k8s")


def render_script(*args: str) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "scripts/render_deploy.py", *args])


@pytest.fixture
def gauge_table(tmp_path: Path) -> Path:
    """The repository's table plus a fourth task, `gauge`, in a temporary file."""
    table = tmp_path / "tasks.toml"
    table.write_text((REPO_ROOT / "tasks.toml").read_text() + GAUGE)
    return table


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A copy of the files render_deploy reads and writes, to render into."""
    root = tmp_path / "checkout"
    root.mkdir()
    for name in HAND_WRITTEN:
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(source, root / name)
        else:
            shutil.copy(source, root / name)
    return root


def committed() -> dict[str, bytes]:
    files = [REPO_ROOT / "docker-compose.yml", REPO_ROOT / "docker-compose.gpu.yml"]
    files += sorted((REPO_ROOT / "k8s").rglob("*"))
    return {str(path): path.read_bytes() for path in files if path.is_file()}


def test_the_committed_files_are_the_tables():
    result = render_script("--check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_names_a_drifted_file_with_a_diff_and_the_fix(checkout: Path):
    deployment = checkout / "k8s/base/digit/deployment.yaml"
    deployment.write_text(deployment.read_text().replace("containerPort: 8001", "containerPort: 9001"))
    result = render_script("--check", "--out", str(checkout))
    assert result.returncode == 1
    assert "-              containerPort: 9001" in result.stdout
    assert "+              containerPort: 8001" in result.stdout
    assert "make deploy-files" in result.stderr


def test_a_new_task_is_one_table_entry(gauge_table: Path, checkout: Path):
    before = committed()
    tasks = task_table.load_tasks(gauge_table, check_folders=False)
    assert [task.name for task in tasks] == [*(task.name for task in TASKS), "gauge"]
    rendered = render_deploy.render(tasks, checkout)
    render_deploy.write(rendered, checkout, checkout)

    # Compose: the service, built from the one Dockerfile with gauge's arguments, and its wiring.
    project = shutil.copy(checkout / "docker-compose.yml", checkout.parent / "docker-compose.yml")
    shutil.copy(checkout / "docker-compose.gpu.yml", checkout.parent)
    base = yaml.safe_load(Path(project).read_text())
    gauge = base["services"]["gauge"]
    assert gauge["build"]["args"] == {
        "SERVICE_DIR": "gauge-service",
        "PACKAGE": "gauge_service",
        "ENV_PREFIX": "GAUGE_",
        "MODELS": "models",
        "PORT": "8004",
    }
    assert gauge["expose"] == ["8004"]
    gateway = base["services"]["gateway"]
    assert json.loads(gateway["environment"]["GATEWAY_BACKENDS"])["gauge"] == "http://gauge:8004"
    assert gateway["depends_on"]["gauge"] == {"condition": "service_healthy"}
    gpu = yaml.safe_load((checkout / "docker-compose.gpu.yml").read_text())
    assert gpu["services"]["gauge"]["image"].endswith("/gauge-service:${IMAGE_TAG:-latest}-gpu")

    # Kubernetes: both overlays render and carry gauge, with the table's settings.
    for overlay in ("cpu", "gpu"):
        result = subprocess.run(
            [tool("kubectl"), "kustomize", str(checkout / "k8s/overlays" / overlay)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        docs = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
        (deployment,) = [d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "gauge"]
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["ports"] == [{"name": "http", "containerPort": 8004}]
        (config,) = [
            d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("gauge-")
        ]
        assert config["data"] == {"GAUGE_INFERENCE_THREADS": "2", "GAUGE_MAX_QUEUE": "64"}
        (hpa,) = [
            d for d in docs if d["kind"] == "HorizontalPodAutoscaler" and d["metadata"]["name"] == "gauge"
        ]
        (gateway_config,) = [
            d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("gateway-")
        ]
        assert json.loads(gateway_config["data"]["GATEWAY_BACKENDS"])["gauge"] == "http://gauge:8004"
        if overlay == "gpu":
            assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
            assert container["image"] == "recognition/gauge-service:1.0.0-gpu"
            assert hpa["spec"]["maxReplicas"] == 2
        else:
            assert container["resources"]["limits"]["memory"] == "3Gi"
            assert container["image"] == "recognition/gauge-service:1.0.0"

    # The rendered compose files pass compose's own validation too.
    assert "gauge" in compose_config_of(checkout.parent)["services"]
    # And nothing of the repository was written.
    assert committed() == before


def compose_config_of(project: Path) -> dict:
    """`docker-compose config` of a project directory other than the repository's, with a bare
    environment (no developer's variables), as helpers.compose_config does for the repository."""
    files = [project / "docker-compose.yml", project / "docker-compose.gpu.yml"]
    argv = [tool("docker-compose"), "--project-directory", str(project)]
    for path in files:
        argv += ["-f", str(path)]
    result = subprocess.run(
        [*argv, "config", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": str(project)},
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_make_run_starts_a_new_task_too(gauge_table: Path, monkeypatch: pytest.MonkeyPatch):
    # RECOGNITION_TASKS_FILE is how `make run` is pointed at another table.
    monkeypatch.setenv(task_table.TABLE_ENV, str(gauge_table))
    tasks = task_table.load_tasks(check_folders=False)
    plan = run_local.plan(tasks, {"GAUGE_PORT": "9004"})
    (gauge,) = [process for process in plan.recognizers if process.name == "gauge"]
    assert gauge.argv[gauge.argv.index("uvicorn") + 1 :][:5] == [
        "gauge_service.main:app",
        "--host",
        "127.0.0.1",
        "--port",
        "9004",
    ]
    assert gauge.ready_url == "http://127.0.0.1:9004/readyz"
    assert [process.name for process in plan.processes] == [*(task.name for task in tasks), "gateway"]
    backends = json.loads(plan.gateway_env["GATEWAY_BACKENDS"])
    assert backends == {
        "digit": "http://127.0.0.1:8001",
        "captcha": "http://127.0.0.1:8002",
        "meter": "http://127.0.0.1:8003",
        "gauge": "http://127.0.0.1:9004",
    }


def test_a_task_taken_out_of_the_table_leaves_nothing_behind(tmp_path: Path, checkout: Path):
    table = tmp_path / "two.toml"
    text = (REPO_ROOT / "tasks.toml").read_text()
    table.write_text(text[: text.index("[tasks.meter]")])
    rendered = render_deploy.render(task_table.load_tasks(table, check_folders=False), checkout)
    assert "k8s/base/meter/deployment.yaml" in render_deploy.stale(rendered, checkout)
    render_deploy.write(rendered, checkout, checkout)
    assert not (checkout / "k8s/base/meter").exists()
    assert not (checkout / "k8s/overlays/gpu/meter-gpu.yaml").exists()
    assert "meter" not in (checkout / "k8s/base/kustomization.yaml").read_text()
    assert render_deploy.check(rendered, checkout) == []


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            '[tasks.gauge]\nfolder = "gauge-service"\npackage = "gauge_service"\n',
            "[tasks.gauge]: `port` is required",
        ),
        (
            '[tasks.gauge]\nfolder = "g"\npackage = "g"\nport = 8001\n',
            "tasks digit and gauge share the port 8001",
        ),
        ('[tasks.gauge]\nfolder = "g"\npackage = "g"\nport = 8000\n', "port 8000 belongs to the gateway"),
        ('[tasks.gauge]\nfolder = "g"\npackage = "g"\nport = 8004\nram = 1\n', "unknown fields ['ram']"),
        ('[tasks.gauge]\nfolder = "g"\npackage = "g"\nport = "8004"\n', "port must be an integer"),
        ('[tasks.Gauge]\nfolder = "g"\npackage = "g"\nport = 8004\n', "a task name is lower-case"),
        ('[tasks.gauge]\nfolder = "g"\npackage = "g"\nport = 8004\ngpu = "yes"\n', "gpu must be bool"),
        (
            '[tasks.gauge]\nfolder = "g"\npackage = "g"\nport = 8004\nresources = { cpu_limit = "two" }\n',
            "resources.cpu_limit is not a Kubernetes quantity",
        ),
    ],
)
def test_a_bad_entry_is_named(tmp_path: Path, entry: str, message: str):
    table = tmp_path / "tasks.toml"
    table.write_text((REPO_ROOT / "tasks.toml").read_text() + "\n" + entry)
    with pytest.raises(task_table.TaskTableError) as error:
        task_table.load_tasks(table, check_folders=False)
    assert message in str(error.value)


def test_a_task_without_its_folder_is_named(gauge_table: Path):
    # Folders are looked up beside the table: the repository's tasks are there, gauge's is not.
    for task in TASKS:
        (gauge_table.parent / task.folder).symlink_to(REPO_ROOT / task.folder)
    with pytest.raises(
        task_table.TaskTableError, match=r"\[tasks.gauge\]: no gauge-service/gauge_service/main.py"
    ):
        task_table.load_tasks(gauge_table)
    # The command line says so in one line, exit status 2, and writes nothing.
    result = render_script("--tasks", str(gauge_table), "--check")
    assert result.returncode == 2 and "gauge-service" in result.stderr and "Traceback" not in result.stderr
