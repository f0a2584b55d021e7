"""docker-compose.yml and its GPU override, checked with the Compose v2 CLI (`docker-compose config`
validates against the Compose specification and merges the files) without a Docker engine."""

from __future__ import annotations

import json
import os
import re

from tests.deploy.helpers import (
    COMPOSE_FILES,
    GATEWAY,
    RECOGNIZER_DOCKERFILE,
    REPO_ROOT,
    TASKS,
    compose_config,
    env_example,
    run,
    tool,
)

BASE = compose_config("docker-compose.yml")
GPU = compose_config(*COMPOSE_FILES)


def recognizers(config: dict) -> dict[str, dict]:
    """Services built from the recognizer Dockerfile."""
    return {
        name: service
        for name, service in config["services"].items()
        if service.get("build", {}).get("dockerfile") == RECOGNIZER_DOCKERFILE
    }


def test_the_recognizers_are_the_tables():
    assert list(recognizers(BASE)) == sorted(task.name for task in TASKS)


def test_compose_rejects_an_invalid_file(tmp_path):
    # The validator is real: a wrong key is an error, not silently ignored.
    compose_file = tmp_path / "docker-compose.yml"
    compose_file.write_text("services:\n  x:\n    image: redis\n    helthcheck: {}\n")
    result = run([tool("docker-compose"), "-f", str(compose_file), "config", "-q"])
    assert result.returncode != 0 and "helthcheck" in result.stderr


def test_every_service_is_healthchecked_and_restarted():
    for name, service in GPU["services"].items():
        assert service.get("healthcheck", {}).get("test"), f"{name}: no healthcheck"
        assert service.get("restart") == "unless-stopped", f"{name}: restart policy"


def test_gateway_waits_for_healthy_redis_and_recognizers():
    depends = BASE["services"][GATEWAY]["depends_on"]
    assert set(depends) == {"redis", *recognizers(BASE)}
    assert all(entry["condition"] == "service_healthy" for entry in depends.values())


def test_only_the_gateway_is_published():
    published = {name for name, service in BASE["services"].items() if service.get("ports")}
    assert published == {GATEWAY}
    (port,) = BASE["services"][GATEWAY]["ports"]
    assert port["target"] == 8000 and port["host_ip"] == "127.0.0.1" and port["published"] == "8000"


def test_redis_is_a_capped_lru_cache_without_persistence():
    command = BASE["services"]["redis"]["command"]
    options = dict(zip(command[1::2], command[2::2], strict=True))
    assert options == {
        "--maxmemory": "256mb",
        "--maxmemory-policy": "allkeys-lru",
        "--save": "",
        "--appendonly": "no",
    }
    image = BASE["services"]["redis"]["image"]
    assert ":" in image and not image.endswith(":latest"), "pin the Redis image"


def test_gpu_override_reserves_gpus_for_every_recognizer_and_only_them():
    for name, service in GPU["services"].items():
        devices = service.get("deploy", {}).get("resources", {}).get("reservations", {}).get("devices", [])
        if name in recognizers(GPU):
            assert devices and devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"], name
            assert service["build"]["args"]["TENSORFLOW"].startswith("tensorflow[and-cuda]=="), name
            assert service["image"].endswith("-gpu"), f"{name}: GPU images are tagged -gpu"
        else:
            assert not devices, f"{name} needs no GPU"
    assert set(recognizers(GPU)) == set(recognizers(BASE)), "every recognizer needs its GPU override entry"
    on_gpus = {name for name, service in recognizers(GPU).items() if service.get("deploy")}
    assert on_gpus == {task.name for task in TASKS if task.gpu}, "tasks.toml: gpu"


def test_the_gpu_tensorflow_is_pinned_like_the_cpu_one():
    constraints = (REPO_ROOT / "requirements/constraints.txt").read_text().split()
    cpu_version = next(line.split("==")[1] for line in constraints if line.startswith("tensorflow_cpu=="))
    for name, service in recognizers(GPU).items():
        assert service["build"]["args"]["TENSORFLOW"] == f"tensorflow[and-cuda]=={cpu_version}", name
    assert f"tensorflow=={cpu_version}" in constraints


def test_env_example_is_accepted_as_dotenv():
    # Every documented setting uncommented, as a user would: compose accepts it and hands it to the
    # services. REDIS_URL may point elsewhere (a managed Redis); the recognizers' URLs stay wired.
    settings = {name: value for name, value in env_example().items() if name != "COMPOSE_FILE"}
    settings |= {
        "REDIS_URL": "rediss://cache.example:6379/0",
        "GATEWAY_BACKENDS": '{"digit":"http://elsewhere:1"}',
    }
    dotenv = "".join(f"{name}={value}\n" for name, value in settings.items())
    config = compose_config("docker-compose.yml", dotenv=dotenv)
    gateway_env = config["services"][GATEWAY]["environment"]
    assert gateway_env["GATEWAY_CACHE_TTL_S"] == settings["GATEWAY_CACHE_TTL_S"]
    assert gateway_env["REDIS_URL"] == "rediss://cache.example:6379/0"
    assert json.loads(gateway_env["GATEWAY_BACKENDS"]) == {
        task.name: f"http://{task.name}:{task.port}" for task in TASKS
    }
    assert config["services"]["digit"]["environment"]["DIGIT_MODEL_DIR"] == settings["DIGIT_MODEL_DIR"]


def test_make_targets_wrap_compose(tmp_path):
    both = "-f docker-compose.yml -f docker-compose.gpu.yml"
    result = run(["make", "-n", "up", "up-gpu", "down", "logs", "COMPOSE=docker compose"])
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "docker compose up -d --build" in lines
    assert f"docker compose {both} up -d --build" in lines
    assert any(line.startswith(f"docker compose {both} down") for line in lines)
    assert any(line.startswith("docker compose logs -f") for line in lines)
    # A `docker` without the compose plugin: make falls back to the standalone docker-compose.
    fake_docker = tmp_path / "docker"
    fake_docker.write_text("#!/bin/sh\nexit 1\n")
    fake_docker.chmod(0o755)
    fallback = run(["make", "-n", "up"], env={"PATH": f"{tmp_path}:{os.environ['PATH']}"})
    assert "docker-compose up -d --build" in fallback.stdout.splitlines()


def test_compose_variables_are_documented_with_the_same_defaults():
    documented = env_example()
    for name in COMPOSE_FILES:
        text = (REPO_ROOT / name).read_text()
        for variable, default in re.findall(r"\$\{(\w+):-([^}]*)\}", text):
            assert documented.get(variable) == default, f"{name}: ${{{variable}:-{default}}} vs .env.example"
