"""Deploy tier: the deployment files are checked, not just present.

Kubernetes manifests are validated against the Kubernetes schemas (kubernetes-validate) and
must equal what their generator writes; Prometheus config and rules go through promtool when
it is installed (`apt-get install prometheus`), and are parsed otherwise; every metric a rule
or a dashboard panel queries must be one the code exports; the compose file must run the same
processes as the local Procfile, each service on its own database.
"""
