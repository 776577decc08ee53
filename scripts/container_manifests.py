"""Sort the Kubernetes manifests for their validators (scripts/container-ci.sh).

    python container_manifests.py deploy/kubernetes OUT

writes OUT/core.yaml (the built-in kinds, for kubernetes-validate), OUT/keda.json (KEDA's kinds,
for KEDA's own schema) and OUT/queue-depth.sql (each PostgreSQL scaler's query, which CI runs
on the real schema), and fails on what no schema says: a resource without the labels the
selectors use, a container that may run as root or write its root file system, a Secret or
ConfigMap reference that names none of the documented ones, a scaler aimed at no Deployment.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

KEDA_GROUP = "keda.sh/"
#: The Secrets and the ConfigMap the manifests may name (docs/deploy.md, "Kubernetes").
SECRETS = {"sqr-reports-database", "sqr-reports-signing-keys"}
CONFIG_MAPS = {"sqr-reports"}
#: Where render processes copy the templates: a writable volume on a read-only root.
TMP = "/tmp"  # noqa: S108 (a mount path, not a file made here)


def load(directory: Path) -> list[dict[str, Any]]:
    documents = []
    for path in sorted(directory.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if document:
                documents.append(document)
    return documents


def problems_of(documents: list[dict[str, Any]]) -> list[str]:
    problems = []
    deployments = {d["metadata"]["name"] for d in documents if d["kind"] == "Deployment"}
    for document in documents:
        where = f"{document['kind']}/{document['metadata']['name']}"
        if document["metadata"].get("labels", {}).get("app.kubernetes.io/name") != "sqr-reports":
            problems.append(f"{where}: no app.kubernetes.io/name label")
        pod = _pod_spec(document)
        if pod is not None:
            problems += [f"{where}: {p}" for p in _pod_problems(pod)]
        if document["kind"] == "ScaledObject":
            target = document["spec"]["scaleTargetRef"]["name"]
            if target not in deployments:
                problems.append(f"{where}: scales {target}, which is no Deployment here")
    return problems


def _pod_spec(document: dict[str, Any]) -> dict[str, Any] | None:
    if document["kind"] in ("Deployment", "Job"):
        spec: dict[str, Any] = document["spec"]["template"]["spec"]
        return spec
    return None


def _pod_problems(pod: dict[str, Any]) -> list[str]:
    problems = []
    context = pod.get("securityContext", {})
    if not context.get("runAsNonRoot") or context.get("runAsUser") != 10001:
        problems.append("the pod may run as root (runAsNonRoot, runAsUser 10001)")
    if pod.get("automountServiceAccountToken") is not False:
        problems.append("the pod mounts a service account token it does not need")
    for container in pod["containers"]:
        own = container.get("securityContext", {})
        if (
            not own.get("readOnlyRootFilesystem")
            or own.get("allowPrivilegeEscalation") is not False
        ):
            problems.append(f"{container['name']}: root file system writable or escalation allowed")
        if own.get("capabilities", {}).get("drop") != ["ALL"]:
            problems.append(f"{container['name']}: capabilities not dropped")
        if "memory" not in container.get("resources", {}).get("limits", {}):
            problems.append(f"{container['name']}: no memory limit")
        if not any(m["mountPath"] == TMP for m in container.get("volumeMounts", [])):
            problems.append(f"{container['name']}: no writable /tmp (render processes need it)")
        for variable in container.get("env", []):
            secret = variable.get("valueFrom", {}).get("secretKeyRef", {}).get("name")
            if secret is not None and secret not in SECRETS:
                problems.append(f"{container['name']}: unknown Secret {secret}")
        for source in container.get("envFrom", []):
            name = source.get("configMapRef", {}).get("name")
            if name is not None and name not in CONFIG_MAPS:
                problems.append(f"{container['name']}: unknown ConfigMap {name}")
    for volume in pod.get("volumes", []):
        secret = volume.get("secret", {}).get("secretName")
        if secret is not None and secret not in SECRETS:
            problems.append(f"volume {volume['name']}: unknown Secret {secret}")
    return problems


def queries_of(documents: list[dict[str, Any]]) -> list[str]:
    return [
        trigger["metadata"]["query"]
        for document in documents
        if document["kind"] == "ScaledObject"
        for trigger in document["spec"]["triggers"]
        if trigger["type"] == "postgresql"
    ]


def main(argv: list[str]) -> int:
    directory, out = Path(argv[0]), Path(argv[1])
    documents = load(directory)
    keda = [d for d in documents if d["apiVersion"].startswith(KEDA_GROUP)]
    core = [d for d in documents if not d["apiVersion"].startswith(KEDA_GROUP)]
    (out / "core.yaml").write_text(yaml.safe_dump_all(core, sort_keys=False), encoding="utf-8")
    (out / "keda.json").write_text(json.dumps(keda), encoding="utf-8")
    queries = queries_of(documents)
    (out / "queue-depth.sql").write_text("".join(f"{q};\n" for q in queries), encoding="utf-8")
    kinds = sorted(f"{d['kind']}/{d['metadata']['name']}" for d in documents)
    print(f"{len(documents)} resources: {', '.join(kinds)}")
    problems = problems_of(documents)
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    if not queries:
        print("problem: no PostgreSQL scaler", file=sys.stderr)
    return 1 if problems or not queries else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
