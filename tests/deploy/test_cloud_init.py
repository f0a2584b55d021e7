"""deploy/cloud-init.yaml: valid cloud-config (cloud-init's own JSON schema, vendored, see
schemas/README.md) that installs what the EC2 guide promises and keeps the stack up across reboots."""

from __future__ import annotations

import configparser
import json
import os
import re
import stat
import subprocess
from pathlib import Path

import jsonschema
import yaml

from tests.deploy.helpers import REPO_ROOT

TEXT = (REPO_ROOT / "deploy/cloud-init.yaml").read_text()
CONFIG = yaml.safe_load(TEXT)
FILES = {entry["path"]: entry["content"] for entry in CONFIG["write_files"]}
SCHEMA = json.loads((Path(__file__).parent / "schemas/cloud-config-v1.schema.json").read_text())


def test_is_cloud_config():
    # cloud-init treats user data as cloud-config only with this exact first line.
    assert TEXT.splitlines()[0] == "#cloud-config"
    assert {"write_files", "runcmd"} <= set(CONFIG)


def test_matches_cloud_init_schema():
    errors = [f"{list(e.path)}: {e.message}" for e in jsonschema.Draft4Validator(SCHEMA).iter_errors(CONFIG)]
    assert not errors


def test_the_schema_check_is_real():
    broken = {**CONFIG, "power_state": {"mode": "explode"}, "runcmd": "not a list"}
    assert len(list(jsonschema.Draft4Validator(SCHEMA).iter_errors(broken))) == 2


def test_the_values_to_edit_come_first():
    settings = dict(line.split("=", 1) for line in FILES["/etc/recognition/deploy.env"].split())
    assert set(settings) == {"REPO_URL", "REPO_REF"} or set(settings) == {"REPO_URL", "REPO_REF", "DOMAIN"}
    assert CONFIG["write_files"][0]["path"] == "/etc/recognition/deploy.env"
    assert settings["REPO_URL"].endswith(".git")


def test_installs_docker_compose_and_the_nvidia_toolkit_from_their_apt_repositories():
    script = FILES["/usr/local/sbin/recognition-install"]
    for needed in (
        "https://download.docker.com/linux/ubuntu",
        "docker-ce docker-ce-cli containerd.io docker-buildx-plugin docker-compose-plugin",
        "https://nvidia.github.io/libnvidia-container/stable/deb/nvidia-container-toolkit.list",
        "apt-get install -y -q nvidia-container-toolkit",
        "nvidia-ctk runtime configure --runtime=docker",
        "COMPOSE_FILE=$compose_files",
        "compose_files=docker-compose.yml:docker-compose.gpu.yml",
        "systemctl enable recognition.service",
    ):
        assert needed in script, needed
    assert CONFIG["runcmd"] == [["/usr/local/sbin/recognition-install"]]


def test_systemd_unit_runs_compose_and_starts_on_boot():
    unit = configparser.ConfigParser(strict=False)
    unit.optionxform = str  # systemd keys are case-sensitive
    unit.read_string(FILES["/etc/systemd/system/recognition.service"])
    assert unit["Unit"]["Requires"] == "docker.service"
    assert unit["Service"]["ExecStart"].startswith("/usr/bin/docker compose up -d")
    assert unit["Service"]["WorkingDirectory"] == "/opt/recognition"
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def test_caddyfile_proxies_to_the_published_gateway_port():
    caddyfile = (REPO_ROOT / "deploy/Caddyfile").read_text()
    assert "reverse_proxy 127.0.0.1:8000" in caddyfile
    assert "recognition.example.com {" in caddyfile  # the name the install script replaces
    assert "/opt/recognition/deploy/Caddyfile" in FILES["/usr/local/sbin/recognition-install"]


def run_key_script(tmp_path: Path, env_text: str) -> tuple[subprocess.CompletedProcess[str], Path, Path]:
    tmp_path.mkdir(exist_ok=True)
    script = tmp_path / "recognition-api-key"
    script.write_text(FILES["/usr/local/sbin/recognition-api-key"])
    env_file, key_file = tmp_path / ".env", tmp_path / "api-key"
    if not env_file.exists():
        env_file.write_text(env_text)
    environment = {"PATH": os.environ["PATH"], "ENV_FILE": str(env_file), "KEY_FILE": str(key_file)}
    result = subprocess.run(
        ["bash", str(script)], env=environment, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    return result, env_file, key_file


def test_first_boot_turns_api_keys_and_rate_limits_on_with_a_random_root_only_key(tmp_path: Path):
    result, env_file, key_file = run_key_script(tmp_path, "COMPOSE_FILE=docker-compose.yml\n")
    key = key_file.read_text().strip()
    assert re.fullmatch(r"[0-9a-f]{48}", key)
    settings = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
    assert settings["GATEWAY_API_KEYS"] == key and settings["GATEWAY_RATE_LIMIT_PER_MINUTE"] == "60"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600 and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    # Printed once to the instance's log, with how to read it again.
    assert key in result.stdout and f"sudo cat {key_file}" in result.stdout
    again, _, _ = run_key_script(tmp_path, "")
    assert key not in again.stdout and env_file.read_text().count("GATEWAY_API_KEYS=") == 1
    assert run_key_script(tmp_path / "other", "")[0]  # another instance, another key
    assert (tmp_path / "other" / "api-key").read_text().strip() != key


def test_keys_an_operator_set_are_kept(tmp_path: Path):
    _, env_file, key_file = run_key_script(tmp_path, "GATEWAY_API_KEYS=mine,theirs\n")
    assert "GATEWAY_API_KEYS=mine,theirs" in env_file.read_text() and not key_file.exists()
    assert "GATEWAY_RATE_LIMIT_PER_MINUTE=60" in env_file.read_text()  # rate limits on all the same


def test_the_install_runs_the_key_step_once_the_env_file_exists():
    script = FILES["/usr/local/sbin/recognition-install"]
    assert script.index("cp /opt/recognition/.env.example /opt/recognition/.env") < script.index(
        "/usr/local/sbin/recognition-api-key"
    )
