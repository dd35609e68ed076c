"""Write the CRM overview dashboard (run: python deploy/grafana/generate.py).

The panels are a table below — title, unit and PromQL — so the JSON stays consistent and the
tests can check that every query names a metric the code exports.
"""
from __future__ import annotations

import json
from pathlib import Path

OUT = Path(__file__).resolve().parent / "dashboards" / "crm-overview.json"

# (row, title, unit, [(legend, expr)])
PANELS = [
    ("RPC", "RPC calls per second by service", "reqps", [
        ("{{service}}", 'sum by (service) (rate(crm_entrypoint_calls_total{kind="rpc"}[1m]))')]),
    ("RPC", "RPC p99 latency by service", "s", [
        ("{{service}}", "histogram_quantile(0.99, sum by (service, le) "
                        '(rate(crm_entrypoint_duration_seconds_bucket{kind="rpc"}[5m])))')]),
    ("RPC", "RPC errors per second by service and error", "reqps", [
        ("{{service}} {{error}}",
         'sum by (service, error) (rate(crm_entrypoint_errors_total{kind="rpc"}[5m]))')]),
    ("Gateway", "HTTP requests per second by status", "reqps", [
        ("{{status}}", "sum by (status) (rate(gateway_http_requests_total[1m]))")]),
    ("Gateway", "HTTP p50 / p99 latency", "s", [
        ("p50", "histogram_quantile(0.5, sum by (le) "
                "(rate(gateway_http_request_duration_seconds_bucket[5m])))"),
        ("p99", "histogram_quantile(0.99, sum by (le) "
                "(rate(gateway_http_request_duration_seconds_bucket[5m])))")]),
    ("Gateway", "RPC calls in flight from the gateway", "short", [
        ("in flight", "sum(gateway_rpc_in_flight)")]),
    ("Events", "Events published per second by type", "ops", [
        ("{{type}}", "sum by (type) (rate(crm_events_published_total[1m]))")]),
    ("Events", "Events consumed / failed / dead-lettered per second", "ops", [
        ("consumed {{service}}", "sum by (service) (rate(crm_events_consumed_total[1m]))"),
        ("failed {{service}}", "sum by (service) (rate(crm_events_failed_total[1m]))"),
        ("dead-lettered {{service}}",
         "sum by (service) (rate(crm_events_dead_lettered_total[5m]))")]),
    ("Events", "Outbox backlog by service", "short", [
        ("{{service}}", "max by (service) (crm_outbox_backlog)")]),
    ("Events", "Analytics lag, commit → read model (p50 / p99)", "s", [
        ("p50", "histogram_quantile(0.5, sum by (le) "
                "(rate(crm_analytics_event_lag_seconds_bucket[5m])))"),
        ("p99", "histogram_quantile(0.99, sum by (le) "
                "(rate(crm_analytics_event_lag_seconds_bucket[5m])))")]),
    ("Business", "Leads created / claimed / converted per minute", "short", [
        ("{{type}}", 'sum by (type) (rate(crm_events_published_total{type=~"lead.created|'
                     'lead.claimed|lead.converted|lead.returned_to_pool"}[5m])) * 60')]),
    ("Business", "Opportunities won / lost, tickets opened per minute", "short", [
        ("{{type}}", 'sum by (type) (rate(crm_events_published_total{type=~"opportunity.won|'
                     'opportunity.lost|ticket.created|ticket.sla_breached"}[5m])) * 60')]),
    ("Business", "Work waiting: pools, open tickets, overdue receivables, approvals", "short", [
        ("leads in pool", 'max(crm_leads_in_pool)'),
        ("customers in pool", 'max(crm_customers_in_pool)'),
        ("open tickets", 'max(crm_open_tickets)'),
        ("overdue receivables", 'max(crm_overdue_receivables)'),
        ("pending approvals", 'max(crm_pending_approvals)')]),
    ("Business", "Notifications created per minute", "short", [
        ("{{type}}", "sum by (type) (rate(gateway_notifications_created_total[5m])) * 60")]),
]


def build() -> dict:
    panels, y, panel_id = [], 0, 1
    for row in dict.fromkeys(r for r, *_ in PANELS):
        panels.append({"type": "row", "title": row, "id": panel_id, "collapsed": False,
                       "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
        panel_id, y = panel_id + 1, y + 1
        for i, (_, title, unit, targets) in enumerate(p for p in PANELS if p[0] == row):
            panels.append({
                "type": "timeseries", "title": title, "id": panel_id,
                "datasource": {"type": "prometheus", "uid": "prometheus"},
                "gridPos": {"h": 8, "w": 8, "x": (i % 3) * 8, "y": y + (i // 3) * 8},
                "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
                "options": {"legend": {"displayMode": "list", "placement": "bottom"}},
                "targets": [{"refId": chr(ord("A") + n), "expr": expr, "legendFormat": legend,
                             "datasource": {"type": "prometheus", "uid": "prometheus"}}
                            for n, (legend, expr) in enumerate(targets)],
            })
            panel_id += 1
        y += 8 * ((len([p for p in PANELS if p[0] == row]) + 2) // 3)
    return {
        "uid": "crm-overview", "title": "CRM platform overview", "tags": ["crm"],
        "timezone": "browser", "schemaVersion": 39, "version": 1, "refresh": "10s",
        "time": {"from": "now-1h", "to": "now"}, "editable": True, "panels": panels,
        "templating": {"list": []}, "annotations": {"list": []},
    }


def main() -> None:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(build(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
