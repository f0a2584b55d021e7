"""Kubernetes: both overlays rendered with `kubectl kustomize` and every object validated offline
against the Kubernetes OpenAPI schemas (kubernetes-validate), then the rules of issue 5."""

from __future__ import annotations

import copy

import kubernetes_validate
import pytest

from tests.deploy.helpers import GATEWAY, OVERLAYS, TASKS, k8s_objects, kustomize

# The oldest Kubernetes still in mainstream support when this was written; strict: unknown fields fail.
KUBERNETES_VERSION = "1.33.0"
RECOGNIZERS = [task.name for task in TASKS]
ON_GPUS = [task.name for task in TASKS if task.gpu]


def validate(doc: dict) -> None:
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_matches_the_kubernetes_schema(overlay):
    docs = kustomize(overlay)
    assert docs
    for doc in docs:
        try:
            validate(doc)
        except kubernetes_validate.ValidationError as error:
            name = f"{doc['kind']}/{doc['metadata']['name']}"
            pytest.fail(f"{overlay}: {name}: {error.message} at {error.path}")


def test_the_validator_rejects_a_broken_object():
    deployment = copy.deepcopy(k8s_objects("cpu", "Deployment")[GATEWAY])
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["prot"] = 8000
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(deployment)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_everything_is_namespaced_and_present(overlay):
    kinds = {(doc["kind"], doc["metadata"]["name"]) for doc in kustomize(overlay)}
    assert ("Namespace", "recognition") in kinds
    namespaced = [doc for doc in kustomize(overlay) if doc["kind"] != "Namespace"]
    assert all(doc["metadata"].get("namespace") == "recognition" for doc in namespaced)
    for name in (GATEWAY, *RECOGNIZERS):
        for kind in ("Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"):
            assert (kind, name) in kinds, f"{overlay}: {kind}/{name} missing"
    assert {("Deployment", "redis"), ("Service", "redis"), ("Ingress", GATEWAY)} <= kinds


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_containers_have_probes_resources_and_run_as_non_root(overlay):
    for name, deployment in k8s_objects(overlay, "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        for container in pod["containers"]:
            assert container.get("livenessProbe") and container.get("readinessProbe"), name
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), name
            assert "memory" in container["resources"]["limits"], name
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, name
            assert ":" in container["image"], f"{name}: image without a tag"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_autoscalers_and_disruption_budgets_target_the_deployments(overlay):
    deployments = k8s_objects(overlay, "Deployment")
    for name, hpa in k8s_objects(overlay, "HorizontalPodAutoscaler").items():
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        assert name in deployments
    for name, pdb in k8s_objects(overlay, "PodDisruptionBudget").items():
        labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
        # maxUnavailable, not minAvailable: on a single replica that would block every node drain.
        assert pdb["spec"] == {**pdb["spec"], "maxUnavailable": 1} and "minAvailable" not in pdb["spec"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_recognizers_are_the_tables(overlay):
    deployments = k8s_objects(overlay, "Deployment")
    assert set(deployments) == {"redis", GATEWAY, *RECOGNIZERS}
    for task in TASKS:
        pod = deployments[task.name]["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["image"].split(":")[0] == f"recognition/{task.image}"
        resources = task.gpu_resources if overlay == "gpu" and task.gpu else task.resources
        assert container["resources"]["limits"]["memory"] == resources.memory_limit
        hpa = k8s_objects(overlay, "HorizontalPodAutoscaler")[task.name]["spec"]
        low, high = (
            (task.gpu_min_replicas, task.gpu_max_replicas)
            if overlay == "gpu" and task.gpu
            else (task.replicas, task.max_replicas)
        )
        assert (hpa["minReplicas"], hpa["maxReplicas"]) == (low, high)


def test_redis_is_a_capped_lru_cache():
    (container,) = k8s_objects("cpu", "Deployment")["redis"]["spec"]["template"]["spec"]["containers"]
    args = container["args"]
    assert args[args.index("--maxmemory-policy") + 1] == "allkeys-lru"
    assert args[args.index("--maxmemory") + 1] == "256mb"
    assert container["resources"]["limits"]["memory"] == "384Mi", "maxmemory plus headroom"


def test_ingress_routes_everything_to_the_gateway():
    ingress = k8s_objects("cpu", "Ingress")[GATEWAY]
    (rule,) = ingress["spec"]["rules"]
    (path,) = rule["http"]["paths"]
    assert path["path"] == "/" and path["backend"]["service"]["name"] == GATEWAY
    # ingress-nginx's default 1 MB body limit would cut uploads the gateway accepts (10 MB).
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"] == "16m"


def test_gpu_overlay_puts_each_recognizer_on_a_gpu_and_nothing_else():
    for overlay in OVERLAYS:
        for name, deployment in k8s_objects(overlay, "Deployment").items():
            pod = deployment["spec"]["template"]["spec"]
            (container,) = pod["containers"]
            gpus = container["resources"]["limits"].get("nvidia.com/gpu")
            if overlay == "gpu" and name in ON_GPUS:
                assert gpus == 1, name
                assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
                toleration = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
                assert toleration in pod["tolerations"], name
                assert container["image"].endswith("-gpu"), name
            else:
                assert gpus is None and "nodeSelector" not in pod, f"{overlay}: {name} needs no GPU"
                assert not container["image"].endswith("-gpu"), name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_the_gateway_reaches_the_recognizers_and_redis(overlay):
    policies = k8s_objects(overlay, "NetworkPolicy")
    assert policies, "k8s/base/network-policy.yaml"
    from_gateway = [{"podSelector": {"matchLabels": {"app": GATEWAY}}}]

    def selects(selector: dict, labels: dict) -> bool:
        if not selector.get("matchLabels", {}).items() <= labels.items():
            return False
        for expression in selector.get("matchExpressions", []):
            assert expression["operator"] == "NotIn", expression
            if labels.get(expression["key"]) in expression["values"]:
                return False
        return True

    for name, deployment in k8s_objects(overlay, "Deployment").items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        guarding = [policy for policy in policies.values() if selects(policy["spec"]["podSelector"], labels)]
        if name == GATEWAY:
            assert not guarding, "the gateway takes traffic from the ingress controller"
            continue
        assert guarding, f"{overlay}: nothing restricts who reaches {name}"
        for policy in guarding:
            assert policy["spec"]["policyTypes"] == ["Ingress"]
            assert all(rule["from"] == from_gateway for rule in policy["spec"]["ingress"]), name
