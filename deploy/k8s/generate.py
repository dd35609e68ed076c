"""Write the per-service Kubernetes manifests from one table (run: python deploy/k8s/generate.py).

Every service gets a Deployment (requests/limits, probes, Prometheus annotations, graceful
termination), a HorizontalPodAutoscaler and a PodDisruptionBudget; the gateway also gets a
Service. The tests check that the committed files equal what this script writes, and validate
them against the Kubernetes schemas.
"""
from __future__ import annotations

from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
IMAGE = "registry.example.com/crm/platform:0.1.0"

# name, Nameko class, metrics port, min/max replicas, cpu request, memory request
SERVICES = [
    ("leads", "services.leads.service:LeadsService", 9101, 2, 8, "250m", "256Mi"),
    ("customers", "services.customers.service:CustomersService", 9102, 2, 6, "200m", "256Mi"),
    ("sales", "services.sales.service:SalesService", 9103, 2, 6, "200m", "256Mi"),
    ("service_desk", "services.service_desk.service:ServiceDeskService", 9104, 2, 4, "150m",
     "256Mi"),
    ("analytics", "services.analytics.service:AnalyticsService", 9105, 2, 6, "250m", "384Mi"),
]


def labels(component: str) -> dict:
    return {"app.kubernetes.io/name": "crm", "app.kubernetes.io/part-of": "crm",
            "app.kubernetes.io/component": component}


def deployment(component: str, command: list[str], port: int, port_name: str, env: list,
               cpu: str, memory: str, probe_path: str, ready_path: str) -> dict:
    name = component.replace("_", "-")
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": f"crm-{name}", "namespace": "crm", "labels": labels(component)},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels(component)},
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {"labels": labels(component), "annotations": {
                    "prometheus.io/scrape": "true", "prometheus.io/port": str(port),
                    "prometheus.io/path": "/metrics"}},
                "spec": {
                    # SIGTERM: the service stops consuming, finishes in-flight workers, exits
                    "terminationGracePeriodSeconds": 45,
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 10001},
                    "containers": [{
                        "name": name, "image": IMAGE, "imagePullPolicy": "IfNotPresent",
                        "command": command,
                        "ports": [{"name": port_name, "containerPort": port}],
                        "envFrom": [{"configMapRef": {"name": "crm-config"}}],
                        "env": env,
                        "resources": {"requests": {"cpu": cpu, "memory": memory},
                                      "limits": {"cpu": "1", "memory": "768Mi"}},
                        "livenessProbe": {"httpGet": {"path": probe_path, "port": port_name},
                                          "initialDelaySeconds": 20, "periodSeconds": 15,
                                          "failureThreshold": 4},
                        "readinessProbe": {"httpGet": {"path": ready_path, "port": port_name},
                                           "initialDelaySeconds": 5, "periodSeconds": 10},
                        "securityContext": {"allowPrivilegeEscalation": False,
                                            "readOnlyRootFilesystem": True},
                        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                    }],
                    "volumes": [{"name": "tmp", "emptyDir": {}}],
                },
            },
        },
    }


def secret_env(*keys: str) -> list:
    return [{"name": k, "valueFrom": {"secretKeyRef": {"name": "crm-secrets", "key": k}}}
            for k in keys]


def autoscaler(component: str, low: int, high: int) -> dict:
    name = component.replace("_", "-")
    return {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": f"crm-{name}", "namespace": "crm", "labels": labels(component)},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                               "name": f"crm-{name}"},
            "minReplicas": low, "maxReplicas": high,
            "metrics": [{"type": "Resource", "resource": {
                "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}],
        },
    }


def disruption_budget(component: str) -> dict:
    name = component.replace("_", "-")
    return {
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": f"crm-{name}", "namespace": "crm", "labels": labels(component)},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": labels(component)}},
    }


def services() -> list[dict]:
    docs = []
    for name, target, port, low, high, cpu, memory in SERVICES:
        env = secret_env("AMQP_URI", f"{name.upper()}_DATABASE_URL") + [
            {"name": f"{name.upper()}_METRICS_PORT", "value": str(port)},
            {"name": f"{name.upper()}_MAX_WORKERS", "value": "16"}]
        docs += [deployment(name, ["python", "-m", "crmkit.runner", target], port, "metrics",
                            env, cpu, memory, "/metrics", "/metrics"),
                 autoscaler(name, low, high), disruption_budget(name)]
    return docs


def gateway() -> list[dict]:
    env = secret_env("AMQP_URI", "JWT_SECRET", "CRM_ADMIN_USER", "CRM_ADMIN_PASSWORD",
                     "GATEWAY_DATABASE_URL")
    command = ["python", "-m", "uvicorn", "gateway.app:app", "--host", "0.0.0.0",
               "--port", "8000", "--no-access-log", "--timeout-graceful-shutdown", "30"]
    service = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "crm-gateway", "namespace": "crm", "labels": labels("gateway")},
        "spec": {"selector": labels("gateway"),
                 "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
    }
    return [deployment("gateway", command, 8000, "http", env, "500m", "384Mi",
                       "/healthz", "/readyz"),
            service, autoscaler("gateway", 2, 10), disruption_budget("gateway")]


K8S_SCRAPE = {
    "global": {"scrape_interval": "15s", "evaluation_interval": "15s"},
    "rule_files": ["/etc/prometheus/alerts.yml"],
    "scrape_configs": [{
        "job_name": "crm-pods",
        "kubernetes_sd_configs": [{"role": "pod", "namespaces": {"names": ["crm"]}}],
        "relabel_configs": [
            {"source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"],
             "action": "keep", "regex": "true"},
            {"source_labels": ["__address__",
                               "__meta_kubernetes_pod_annotation_prometheus_io_port"],
             "action": "replace", "regex": r"([^:]+)(?::\d+)?;(\d+)",
             "replacement": "$1:$2", "target_label": "__address__"},
            {"source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_path"],
             "action": "replace", "regex": "(.+)", "target_label": "__metrics_path__"},
            {"source_labels": ["__meta_kubernetes_pod_label_app_kubernetes_io_component"],
             "target_label": "service"},
            {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
        ],
    }],
}


def prometheus() -> list[dict]:
    """Scrape config (pod discovery) and the alert rules of deploy/prometheus/alerts.yml."""
    alerts = (HERE.parent / "prometheus" / "alerts.yml").read_text(encoding="utf-8")
    return [{
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "crm-prometheus", "namespace": "crm", "labels": labels("prometheus")},
        "data": {"prometheus.yml": yaml.safe_dump(K8S_SCRAPE, sort_keys=False),
                 "alerts.yml": alerts},
    }]


class _Dumper(yaml.SafeDumper):
    pass


def _text(dumper: yaml.SafeDumper, value: str):
    style = "|" if "\n" in value else None       # embedded files as readable blocks
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def render(docs: list[dict]) -> str:
    header = "# Generated by deploy/k8s/generate.py — edit the table there, not this file.\n"
    return header + "---\n".join(yaml.dump(d, Dumper=_Dumper, sort_keys=False,
                                            allow_unicode=True) for d in docs)


FILES = {"10-services.yaml": services, "30-gateway.yaml": gateway,
         "40-prometheus.yaml": prometheus}


def main() -> None:
    for filename, build in FILES.items():
        (HERE / filename).write_text(render(build()), encoding="utf-8")


if __name__ == "__main__":
    main()
