from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
CODE_DIRS = [ROOT / "crmkit", ROOT / "gateway", ROOT / "services"]
PROMQL_BUILTINS = {"up"}


def _exported_metric_names() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for d in CODE_DIRS for p in d.rglob("*.py"))


def _metric_names(expr: str) -> set[str]:
    names = set(re.findall(r"\b((?:crm|gateway)_[a-z_]+|up)\b(?=\s*[{\[(]|\s*$|\s*[)=<>!])",
                           expr))
    return {re.sub(r"_(bucket|count|sum)$", "", n) for n in names}


def _k8s_documents():
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc:
                yield path.name, doc


def test_kubernetes_manifests_are_valid():
    kinds = set()
    for filename, doc in _k8s_documents():
        try:
            kubernetes_validate.validate(doc, "1.30.0", strict=True)
        except kubernetes_validate.ValidationError as exc:
            raise AssertionError(f"{filename}: {doc['kind']} {doc['metadata']['name']}: "
                                 f"{exc.message}") from exc
        kinds.add(doc["kind"])
    assert {"Deployment", "HorizontalPodAutoscaler", "StatefulSet", "ConfigMap", "Secret",
            "Service", "PodDisruptionBudget"} <= kinds


def test_one_deployment_and_autoscaler_per_process_with_probes():
    docs = [d for _, d in _k8s_documents()]
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    autoscalers = {d["spec"]["scaleTargetRef"]["name"] for d in docs
                   if d["kind"] == "HorizontalPodAutoscaler"}
    expected = {f"crm-{n}" for n in ("leads", "customers", "sales", "service-desk",
                                     "analytics", "gateway")}
    assert set(deployments) == expected and autoscalers == expected
    for deployment in deployments.values():
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert container["livenessProbe"] and container["readinessProbe"]
        assert container["resources"]["requests"]["cpu"]


def test_generated_files_are_current():
    import importlib.util

    for module_path in (DEPLOY / "k8s" / "generate.py", DEPLOY / "grafana" / "generate.py"):
        spec = importlib.util.spec_from_file_location(module_path.stem, module_path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        if hasattr(module, "FILES"):
            for filename, build in module.FILES.items():
                assert (DEPLOY / "k8s" / filename).read_text(encoding="utf-8") == \
                    module.render(build()), f"run python deploy/k8s/generate.py ({filename})"
        else:
            assert json.loads(module.OUT.read_text(encoding="utf-8")) == module.build(), \
                "run python deploy/grafana/generate.py"


def test_prometheus_config_and_rules():
    config = DEPLOY / "prometheus" / "prometheus.yml"
    rules = DEPLOY / "prometheus" / "alerts.yml"
    promtool = shutil.which("promtool")
    if promtool:
        result = subprocess.run([promtool, "check", "config", str(config)],
                                capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr
    parsed = yaml.safe_load(rules.read_text(encoding="utf-8"))
    alerts = [r for g in parsed["groups"] for r in g["rules"]]
    assert {a["alert"] for a in alerts} >= {
        "CrmServiceDown", "CrmHighErrorRate", "CrmRpcLatencyHigh", "CrmOutboxBacklog",
        "CrmEventsDeadLettered", "CrmTicketSlaBreaches"}
    for alert in alerts:
        assert alert["expr"].strip() and alert["labels"]["severity"] in ("warning", "critical")
        assert alert["annotations"]["summary"]


@pytest.mark.parametrize("source", ["alerts", "dashboard"])
def test_every_queried_metric_is_exported_by_the_code(source):
    if source == "alerts":
        parsed = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
        exprs = [r["expr"] for g in parsed["groups"] for r in g["rules"]]
    else:
        board = json.loads((DEPLOY / "grafana" / "dashboards" / "crm-overview.json").read_text())
        exprs = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    code = _exported_metric_names()
    names = set().union(*(_metric_names(e) for e in exprs)) - PROMQL_BUILTINS
    assert names, "no metric names found"
    missing = sorted(n for n in names if f'"{n}"' not in code and f'"{n}_total"' not in code)
    assert not missing, f"queried but never exported: {missing}"


def test_compose_runs_the_procfile_processes_each_on_its_own_database():
    compose = yaml.safe_load((DEPLOY / "compose" / "docker-compose.yml").read_text())
    procfile = dict(line.split(": exec ", 1) for line in
                    (DEPLOY / "local" / "Procfile").read_text().splitlines() if line.strip())
    services = compose["services"]
    databases = set()
    for name, command in procfile.items():
        entry = services[name.replace("_", "-")]
        target = command.split()[-1] if "crmkit.runner" in command else "gateway.app:app"
        assert any(target in part for part in entry["command"]), (name, entry["command"])
        env = entry["environment"]
        url = env.get(f"{name.upper()}_DATABASE_URL") or env.get("GATEWAY_DATABASE_URL")
        assert url and url.startswith("postgresql://"), name
        databases.add(url.rsplit("/", 1)[1])
    assert len(databases) == len(procfile)          # one database each
    init = (DEPLOY / "compose" / "init-databases.sql").read_text()
    assert all(f"CREATE DATABASE {db};" in init for db in databases)
    prometheus = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    targets = {t for job in prometheus["scrape_configs"] for sc in job["static_configs"]
               for t in sc["targets"]}
    for name in procfile:
        host = name.replace("_", "-")
        port = services[host]["environment"].get(f"{name.upper()}_METRICS_PORT", "8000")
        assert f"{host}:{port}" in targets, (host, port)
