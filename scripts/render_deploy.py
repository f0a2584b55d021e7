# The templates below are the YAML lines they write, some longer than the code's line limit.
# ruff: noqa: E501
"""Write compose's and Kubernetes' per-task parts from tasks.toml (`make deploy-files`).

Before this, each recognizer was a hand-kept copy in docker-compose.yml, docker-compose.gpu.yml,
k8s/base/<task>/, the overlays and the gateway's wiring, and tests compared the copies. Now the
table is the one description and these files are its output:

* whole files, regenerated each time: k8s/base/<task>/* and k8s/overlays/gpu/<task>-{gpu,hpa-gpu}.yaml
  (first line: GENERATED_HEADER; such a file whose task left the table is deleted);
* blocks between `# BEGIN generated from tasks.toml ...: <name>` and `# END generated from
  tasks.toml: <name>` in files that stay hand-written for what is not per task (compose's Redis and
  gateway, the kustomization lists, the gateway's ConfigMap).

Usage:
    python scripts/render_deploy.py            # rewrite the files in place
    python scripts/render_deploy.py --check    # exit 1, with a diff, when they differ from the table
    python scripts/render_deploy.py --tasks other.toml --out DIR   # render elsewhere (tests)

Standard library only (plus scripts/task_table.py): YAML is written as text, in the layout the
files had when they were written by hand, so that the output reads like them and diffs stay small.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from collections.abc import Iterable
from pathlib import Path

from task_table import REPO_ROOT, Resources, Task, TaskTableError, backends, load_tasks

GENERATED_HEADER = "# Generated from tasks.toml by scripts/render_deploy.py (make deploy-files): edit the table, not this file."
BEGIN = "# BEGIN generated from tasks.toml (make deploy-files): {name}"
END = "# END generated from tasks.toml: {name}"
DOCKERFILE = "deploy/recognizer.Dockerfile"
# Files written whole live here; anything in them with GENERATED_HEADER belongs to the renderer.
GENERATED_GLOBS = ("k8s/base/*/*", "k8s/overlays/*/*.yaml")


class RenderError(RuntimeError):
    """A hand-written file lacks the markers a block goes between, or is otherwise unusable."""


# --- docker-compose.yml ------------------------------------------------------------------------


def compose_service(task: Task) -> str:
    args = "".join(
        f"        {name}: {json.dumps(value) if name == 'PORT' else value}\n"
        for name, value in task.build_args().items()
    )
    ready = f"http://127.0.0.1:{task.port}/readyz"
    return (
        f"  {task.name}:\n"
        "    build:\n"
        "      context: .\n"
        f"      dockerfile: {DOCKERFILE}\n"
        "      args:\n"
        f"{args}"
        f"    image: ${{IMAGE_REGISTRY:-recognition}}/{task.image}:${{IMAGE_TAG:-latest}}\n"
        "    <<: *env-file\n"
        "    expose:\n"
        f'      - "{task.port}"\n'
        "    # Ready, not only alive: the gateway starts once the models are loaded.\n"
        "    healthcheck:\n"
        f'      test: ["CMD", "python", "-c", "import urllib.request; urllib.request.urlopen(\'{ready}\', timeout=2)"]\n'
        "      interval: 10s\n"
        "      timeout: 3s\n"
        "      retries: 3\n"
        "      start_period: 120s\n"
        "    restart: unless-stopped\n"
        f"    # Serve other models without rebuilding: mount them and set {task.model_dir_variable}=/models in .env.\n"
        "    # volumes:\n"
        "    #   - ./my-models:/models:ro\n"
    )


def backends_json(tasks: list[Task]) -> str:
    """GATEWAY_BACKENDS for compose and Kubernetes: each task at its service name."""
    return json.dumps(backends(tasks), separators=(",", ":"))


def compose_blocks(tasks: list[Task]) -> dict[str, str]:
    return {
        "recognizers": "\n".join(compose_service(task) for task in tasks),
        "gateway-backends": f"      GATEWAY_BACKENDS: '{backends_json(tasks)}'\n",
        "gateway-depends-on": "".join(
            f"      {task.name}:\n        condition: service_healthy\n" for task in tasks
        ),
    }


def compose_gpu_blocks(tasks: list[Task]) -> dict[str, str]:
    return {
        "recognizers": "".join(
            f"  {task.name}:\n"
            f"    image: ${{IMAGE_REGISTRY:-recognition}}/{task.image}:${{IMAGE_TAG:-latest}}-gpu\n"
            "    <<: *gpu\n"
            for task in tasks
            if task.gpu
        )
    }


# --- Kubernetes --------------------------------------------------------------------------------


def k8s_task_files(task: Task) -> dict[str, str]:
    """k8s/base/<task>/: Deployment, Service, HPA, PDB, ConfigMap settings and their kustomization."""
    name, res = task.name, task.resources
    settings = "".join(f"{task.env_prefix}{key}={value}\n" for key, value in task.k8s_settings.items())
    files = {
        "kustomization.yaml": (
            f"# The {name} recognizer ({task.folder}/, port {task.port}).\n"
            "apiVersion: kustomize.config.k8s.io/v1beta1\n"
            "kind: Kustomization\n"
            "resources:\n"
            "  - deployment.yaml\n"
            "  - service.yaml\n"
            "  - hpa.yaml\n"
            "  - pdb.yaml\n"
            "configMapGenerator:\n"
            f"  - name: {name}-config\n"
            "    envs:\n"
            "      - config.env\n"
        ),
        "config.env": (
            f"# {name.capitalize()} service settings (names and defaults: .env.example).\n"
            "# TensorFlow sizes its thread pool by the node's cores, not the container's CPU limit: "
            "match the limit.\n"
            f"{settings}"
        ),
        "deployment.yaml": (
            "apiVersion: apps/v1\n"
            "kind: Deployment\n"
            "metadata:\n"
            f"  name: {name}\n"
            "  labels:\n"
            f"    app: {name}\n"
            "spec:\n"
            f"  replicas: {task.replicas}\n"
            "  selector:\n"
            "    matchLabels:\n"
            f"      app: {name}\n"
            "  template:\n"
            "    metadata:\n"
            "      labels:\n"
            f"        app: {name}\n"
            "    spec:\n"
            "      automountServiceAccountToken: false\n"
            "      securityContext:\n"
            "        runAsNonRoot: true\n"
            "        runAsUser: 10001  # the image's app user\n"
            "        runAsGroup: 10001\n"
            "        seccompProfile:\n"
            "          type: RuntimeDefault\n"
            "      containers:\n"
            f"        - name: {name}\n"
            f"          image: recognition/{task.image}\n"
            "          ports:\n"
            "            - name: http\n"
            f"              containerPort: {task.port}\n"
            "          envFrom:\n"
            "            - configMapRef:\n"
            f"                name: {name}-config\n"
            "          # Importing TensorFlow and loading the models takes a while: liveness waits for startup.\n"
            "          startupProbe:\n"
            "            httpGet:\n"
            "              path: /healthz\n"
            "              port: http\n"
            "            periodSeconds: 5\n"
            "            failureThreshold: 36\n"
            "          # 503 until every model is loaded and warmed up.\n"
            "          readinessProbe:\n"
            "            httpGet:\n"
            "              path: /readyz\n"
            "              port: http\n"
            "            periodSeconds: 5\n"
            "          livenessProbe:\n"
            "            httpGet:\n"
            "              path: /healthz\n"
            "              port: http\n"
            "            periodSeconds: 10\n"
            "            timeoutSeconds: 3\n" + _container_resources(res) + "          securityContext:\n"
            "            allowPrivilegeEscalation: false\n"
            "            readOnlyRootFilesystem: true\n"
            "            capabilities:\n"
            '              drop: ["ALL"]\n'
            f"          # Models are baked into the image at {task.model_dir_variable} (/app/models). To serve\n"
            f"          # others, mount a volume there (or elsewhere and set {task.model_dir_variable} in config.env).\n"
            "          volumeMounts:\n"
            "            - name: tmp\n"
            "              mountPath: /tmp\n"
            "      volumes:\n"
            "        - name: tmp\n"
            "          emptyDir: {}\n"
        ),
        "service.yaml": (
            "apiVersion: v1\n"
            "kind: Service\n"
            "metadata:\n"
            f"  name: {name}\n"
            "  labels:\n"
            f"    app: {name}\n"
            "spec:\n"
            "  selector:\n"
            f"    app: {name}\n"
            "  ports:\n"
            "    - name: http\n"
            f"      port: {task.port}\n"
            "      targetPort: http\n"
        ),
        "hpa.yaml": (
            "apiVersion: autoscaling/v2\n"
            "kind: HorizontalPodAutoscaler\n"
            "metadata:\n"
            f"  name: {name}\n"
            "spec:\n"
            "  scaleTargetRef:\n"
            "    apiVersion: apps/v1\n"
            "    kind: Deployment\n"
            f"    name: {name}\n"
            f"  minReplicas: {task.replicas}\n"
            f"  maxReplicas: {task.max_replicas}\n"
            "  metrics:\n"
            "    - type: Resource\n"
            "      resource:\n"
            "        name: cpu\n"
            "        target:\n"
            "          type: Utilization\n"
            "          averageUtilization: 70\n"
        ),
        "pdb.yaml": (
            "apiVersion: policy/v1\n"
            "kind: PodDisruptionBudget\n"
            "metadata:\n"
            f"  name: {name}\n"
            "spec:\n"
            "  # Not minAvailable: with a single replica (GPU overlay) that would block every node drain.\n"
            "  maxUnavailable: 1\n"
            "  selector:\n"
            "    matchLabels:\n"
            f"      app: {name}\n"
        ),
    }
    return {f"k8s/base/{name}/{file}": text for file, text in files.items()}


def _container_resources(res: Resources, extra_limits: str = "") -> str:
    """A container's `resources:` block (requests, then limits and any `extra_limits` lines)."""
    return (
        "          resources:\n"
        "            requests:\n"
        f'              cpu: "{res.cpu_request}"\n'
        f"              memory: {res.memory_request}\n"
        "            limits:\n"
        f'              cpu: "{res.cpu_limit}"\n'
        f"              memory: {res.memory_limit}\n" + extra_limits
    )


def k8s_gpu_patches(task: Task) -> dict[str, str]:
    """The GPU overlay's two patches of a task: a GPU per pod on GPU nodes, and a smaller HPA."""
    res = task.gpu_resources
    deployment = (
        f"# One GPU per {task.name} pod, on GPU nodes only; GPU nodes are usually tainted to keep other"
        " pods off.\n"
        "apiVersion: apps/v1\n"
        "kind: Deployment\n"
        "metadata:\n"
        f"  name: {task.name}\n"
        "spec:\n"
        "  template:\n"
        "    spec:\n"
        "      nodeSelector:\n"
        '        nvidia.com/gpu.present: "true"\n'
        "      tolerations:\n"
        "        - key: nvidia.com/gpu\n"
        "          operator: Exists\n"
        "          effect: NoSchedule\n"
        "      containers:\n"
        f"        - name: {task.name}\n" + _container_resources(res, "              nvidia.com/gpu: 1\n")
    )
    hpa = (
        "# A GPU pod serves many times a CPU pod's load and each holds a whole card: scale from one,"
        " not two.\n"
        "apiVersion: autoscaling/v2\n"
        "kind: HorizontalPodAutoscaler\n"
        "metadata:\n"
        f"  name: {task.name}\n"
        "spec:\n"
        f"  minReplicas: {task.gpu_min_replicas}\n"
        f"  maxReplicas: {task.gpu_max_replicas}\n"
    )
    return {
        f"k8s/overlays/gpu/{task.name}-gpu.yaml": deployment,
        f"k8s/overlays/gpu/{task.name}-hpa-gpu.yaml": hpa,
    }


def gateway_tag(overlay_text: str, path: str) -> str:
    """The overlay's tag for the gateway image; the recognizers get the same (plus -gpu on GPUs)."""
    found = re.search(r"- name: recognition/gateway\n\s+newTag: \"([^\"]+)\"", overlay_text)
    if not found:
        raise RenderError(f"{path}: no `- name: recognition/gateway` with a quoted newTag to copy")
    return found.group(1)


def overlay_images(tasks: list[Task], tag: str, gpu: bool) -> str:
    return "".join(
        f'  - name: recognition/{task.image}\n    newTag: "{tag}{"-gpu" if gpu and task.gpu else ""}"\n'
        for task in tasks
    )


# --- putting it together -----------------------------------------------------------------------


def replace_blocks(text: str, blocks: dict[str, str], path: str) -> str:
    """`text` with each named block's lines (between its BEGIN and END markers) replaced."""
    for name, content in blocks.items():
        pattern = re.compile(
            rf"^(?P<begin>[ \t]*{re.escape(BEGIN.format(name=name))}\n)"
            rf"(?P<body>.*?)"
            rf"^(?P<end>[ \t]*{re.escape(END.format(name=name))}\n)",
            flags=re.MULTILINE | re.DOTALL,
        )
        matches = list(pattern.finditer(text))
        if len(matches) != 1:
            raise RenderError(
                f"{path}: expected one block between `{BEGIN.format(name=name)}` and "
                f"`{END.format(name=name)}`, found {len(matches)}"
            )
        match = matches[0]
        text = text[: match.start("body")] + content + text[match.end("body") :]
    return text


def render(tasks: list[Task], root: Path = REPO_ROOT) -> dict[str, str]:
    """Every file the table decides: repository-relative path -> full text. Hand-written files
    with blocks are read from `root` and returned with their blocks filled in."""
    out: dict[str, str] = {}
    for task in tasks:
        out |= {path: f"{GENERATED_HEADER}\n{text}" for path, text in k8s_task_files(task).items()}
        if task.gpu:
            out |= {path: f"{GENERATED_HEADER}\n{text}" for path, text in k8s_gpu_patches(task).items()}

    def with_blocks(path: str, blocks: dict[str, str]) -> None:
        out[path] = replace_blocks((root / path).read_text(), blocks, path)

    with_blocks("docker-compose.yml", compose_blocks(tasks))
    with_blocks("docker-compose.gpu.yml", compose_gpu_blocks(tasks))
    with_blocks("k8s/base/kustomization.yaml", {"recognizers": "".join(f"  - {t.name}\n" for t in tasks)})
    with_blocks("k8s/base/gateway/config.env", {"backends": f"GATEWAY_BACKENDS={backends_json(tasks)}\n"})
    cpu = "k8s/overlays/cpu/kustomization.yaml"
    cpu_text = (root / cpu).read_text()
    with_blocks(cpu, {"images": overlay_images(tasks, gateway_tag(cpu_text, cpu), gpu=False)})
    gpu = "k8s/overlays/gpu/kustomization.yaml"
    gpu_text = (root / gpu).read_text()
    patches = "".join(
        f"  - path: {task.name}-gpu.yaml\n  - path: {task.name}-hpa-gpu.yaml\n" for task in tasks if task.gpu
    )
    with_blocks(
        gpu, {"images": overlay_images(tasks, gateway_tag(gpu_text, gpu), gpu=True), "patches": patches}
    )
    return out


def stale(rendered: dict[str, str], root: Path = REPO_ROOT) -> list[str]:
    """Generated files in `root` that the table no longer produces (a task taken out of it)."""
    found = []
    for pattern in GENERATED_GLOBS:
        for path in sorted(root.glob(pattern)):
            relative = path.relative_to(root).as_posix()
            if relative not in rendered and path.is_file() and _is_generated(path):
                found.append(relative)
    return found


def _is_generated(path: Path) -> bool:
    with path.open() as handle:
        return handle.readline().rstrip("\n") == GENERATED_HEADER


def check(rendered: dict[str, str], root: Path = REPO_ROOT) -> list[str]:
    """Unified diffs of every file whose committed text differs from the rendered one."""
    diffs = []
    for path, text in sorted(rendered.items()):
        current = (root / path).read_text() if (root / path).is_file() else ""
        if current != text:
            diffs.append(_diff(path, current, text))
    for path in stale(rendered, root):
        diffs.append(f"{path}: generated for a task that is no longer in the table (to be deleted)\n")
    return diffs


def _diff(path: str, before: str, after: str) -> str:
    lines: Iterable[str] = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=f"{path} (committed)",
        tofile=f"{path} (from tasks.toml)",
    )
    return "".join(lines)


def write(rendered: dict[str, str], out: Path, root: Path = REPO_ROOT) -> list[str]:
    """Write what changed under `out`; delete stale generated files when writing in place."""
    changed = []
    for path, text in sorted(rendered.items()):
        target = out / path
        if not target.is_file() or target.read_text() != text:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            changed.append(path)
    if out.resolve() == root.resolve():
        for path in stale(rendered, root):
            (root / path).unlink()
            changed.append(f"{path} (deleted)")
            folder = (root / path).parent
            if folder != root and not any(folder.iterdir()):
                folder.rmdir()
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=Path, help="the task table (default: tasks.toml)")
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when files differ")
    parser.add_argument("--out", type=Path, default=REPO_ROOT, help="where to write (default: in place)")
    args = parser.parse_args(argv)
    try:
        tasks = load_tasks(args.tasks)
        rendered = render(tasks)
    except (TaskTableError, RenderError) as exc:
        print(f"render_deploy: {exc}", file=sys.stderr)
        return 2
    if args.check:
        diffs = check(rendered, args.out)
        if diffs:
            sys.stdout.writelines(diffs)
            print(
                f"\n{len(diffs)} deployment file(s) differ from tasks.toml: run `make deploy-files` "
                "(python scripts/render_deploy.py) and commit the result.",
                file=sys.stderr,
            )
            return 1
        print(f"deployment files agree with tasks.toml ({len(tasks)} tasks)")
        return 0
    changed = write(rendered, args.out)
    for path in changed:
        print(f"wrote {path}")
    if not changed:
        print("nothing to change")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
