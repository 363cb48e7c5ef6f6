"""The Pod Security Standards' "restricted" level (Kubernetes v1.34), as a function over a pod spec.

The namespace enforces this level (k8s/namespace.yaml), so a pod that breaks it is refused by the
API server at deploy time; these checks find it in the render instead, for both charts.
https://kubernetes.io/docs/concepts/security/pod-security-standards/ lists the rules.
"""

from __future__ import annotations

from typing import Any

ALLOWED_VOLUMES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
    "projected", "secret",
}  # fmt: skip
ALLOWED_SECCOMP = {"RuntimeDefault", "Localhost"}


def restricted_violations(pod: dict[str, Any]) -> list[str]:
    """Every rule of the restricted level ``pod`` breaks (empty: it is admitted).

    ``pod`` is a pod spec; volumes may be given as ``{"name", "type"}`` (the recorded facts of the
    official chart) or as in a manifest."""
    found = _pod_level(pod)
    psc = pod.get("securityContext") or {}
    for c in [*pod.get("initContainers", []), *pod.get("containers", [])]:
        found += [f"{c['name']}: {v}" for v in _container_level(c, psc)]
    return found


def _pod_level(pod: dict[str, Any]) -> list[str]:
    found = []
    psc = pod.get("securityContext") or {}
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(key) or (pod.get("host") or {}).get(key):
            found.append(f"pod: {key}")
    for volume in pod.get("volumes", []):
        kind = volume.get("type") or next(k for k in volume if k != "name")
        if kind not in ALLOWED_VOLUMES:
            found.append(f"volume {volume['name']}: {kind}")
    if psc.get("runAsUser") == 0:
        found.append("pod: runAsUser 0")
    if psc.get("sysctls"):
        found.append("pod: sysctls")
    seccomp = (psc.get("seccompProfile") or {}).get("type")
    if seccomp is not None and seccomp not in ALLOWED_SECCOMP:
        found.append(f"pod: seccompProfile {seccomp}")
    return found


def _container_level(c: dict[str, Any], psc: dict[str, Any]) -> list[str]:
    """A container's rules; runAsNonRoot and the seccomp profile may come from the pod."""
    sc = c.get("securityContext") or {}
    caps = sc.get("capabilities") or {}
    seccomp = (sc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
    checks = {
        "privileged": bool(sc.get("privileged")),
        "allowPrivilegeEscalation is not false": sc.get("allowPrivilegeEscalation") is not False,
        "capabilities do not drop ALL": "ALL" not in (caps.get("drop") or []),
        f"adds capabilities {caps.get('add')}": bool(
            set(caps.get("add") or []) - {"NET_BIND_SERVICE"}
        ),
        "runAsNonRoot is not true": sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is not True,
        "runAsUser 0": sc.get("runAsUser") == 0,
        f"seccompProfile {seccomp}": seccomp not in ALLOWED_SECCOMP,
        "hostPort": any(port.get("hostPort") for port in c.get("ports", [])),
    }
    return [rule for rule, broken in checks.items() if broken]
