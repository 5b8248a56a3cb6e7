"""The Dockerfile and deploy/ manifests, checked offline.

Core kinds go through `kubernetes-validate --strict` (an unknown field fails); the
RayCluster through its JSON schema in `deploy/schemas/`, and its pod templates as
core `PodTemplate`s, since `kubernetes-validate` only warns on kinds it does not know.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

kubernetes_validate = pytest.importorskip("kubernetes_validate")
jsonschema = pytest.importorskip("jsonschema")

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S_VERSION = "1.30.0"
CORE_KINDS = {"Secret", "Deployment", "Service", "PodTemplate"}


def documents() -> list[tuple[str, dict]]:
    found = []
    for path in sorted(DEPLOY.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                found.append((f"{path.relative_to(ROOT)}:{doc['kind']}", doc))
    return found


def pod_templates(doc: dict) -> list[dict]:
    if doc["kind"] == "Deployment":
        return [doc["spec"]["template"]]
    if doc["kind"] == "RayCluster":
        spec = doc["spec"]
        return [spec["headGroupSpec"]["template"]] + [
            group["template"] for group in spec.get("workerGroupSpecs", [])
        ]
    return []


def drain_timeout(template: dict) -> float | None:
    for container in template["spec"]["containers"]:
        words = " ".join(container.get("args", []) + container.get("command", [])).split()
        if "--drain-timeout" in words:
            return float(words[words.index("--drain-timeout") + 1])
    return None


@pytest.mark.parametrize(("where", "doc"), documents(), ids=[w for w, _ in documents()])
def test_every_manifest_validates_strictly(where: str, doc: dict) -> None:
    if doc["kind"] in CORE_KINDS:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    elif doc["kind"] == "RayCluster":
        schema = json.loads((DEPLOY / "schemas" / "raycluster.schema.json").read_text())
        jsonschema.validate(doc, schema)
    else:
        pytest.fail(f"{where}: no schema for kind {doc['kind']}")
    for template in pod_templates(doc):
        wrapped = {
            "apiVersion": "v1",
            "kind": "PodTemplate",
            "metadata": {"name": "t"},
            "template": template,
        }
        kubernetes_validate.validate(wrapped, K8S_VERSION, strict=True)


def test_an_unknown_field_is_caught_by_both_validators() -> None:
    deployment = next(d for w, d in documents() if d["kind"] == "Deployment")
    broken = json.loads(json.dumps(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)
    cluster = next(d for w, d in documents() if d["kind"] == "RayCluster")
    broken = json.loads(json.dumps(cluster))
    broken["spec"]["workerGroupSpecs"][0]["replica"] = 3
    schema = json.loads((DEPLOY / "schemas" / "raycluster.schema.json").read_text())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_replica_pods_drain_within_their_grace_period_and_are_ready_on_ready() -> None:
    for where, doc in documents():
        for template in pod_templates(doc):
            spec = template["spec"]
            if not any("nvidia.com/gpu" in str(c.get("resources")) for c in spec["containers"]):
                continue
            assert spec.get("hostNetwork") is True, f"{where}: media needs hostNetwork (or TURN)"
            grace = spec["terminationGracePeriodSeconds"]
            timeout = drain_timeout(template) or 60.0  # the fleet passes its own default
            assert grace > timeout, f"{where}: grace {grace} s <= drain timeout {timeout} s"
    deployment = next(d for w, d in documents() if d["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert "/drain" in " ".join(container["lifecycle"]["preStop"]["exec"]["command"])


def test_the_image_runs_reactor_run_as_non_root_with_a_ready_healthcheck() -> None:
    text = (ROOT / "Dockerfile").read_text()
    user = re.findall(r"^USER (\S+)", text, re.M)
    assert user and user[-1] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*\n?.*/ready", text, re.M)
    entrypoint = json.loads(re.search(r"^ENTRYPOINT (.*)$", text, re.M).group(1))
    assert entrypoint[:2] == ["reactor", "run"]
