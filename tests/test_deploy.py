"""The container files agree with the code: services, commands, ports and env names.

No Docker engine runs on our machines, so this reads compose.yaml, the Dockerfile and
.env.example and checks them against the settings and the gunicorn config that exist.
"""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def settings_env_names() -> set[str]:
    names = set()
    for path in [*(ROOT / "config" / "settings").glob("*.py"), ROOT / "config" / "gunicorn.py"]:
        text = path.read_text()
        names |= set(re.findall(r"env(?:\.\w+)?\(\s*\"([A-Z_]+)\"", text))
        names |= set(re.findall(r"_required\(\"([A-Z_]+)\"\)", text))
        names |= set(re.findall(r"os\.environ\.get\(\"([A-Z_]+)\"", text))
    return names


def test_compose_runs_web_worker_beat_with_postgres_and_redis():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"migrate", "web", "worker", "beat", "db", "redis"}
    assert services["web"]["ports"] == ["8000:8000"]
    assert services["worker"]["entrypoint"][:4] == ["celery", "-A", "config", "worker"]
    assert services["beat"]["entrypoint"][:4] == ["celery", "-A", "config", "beat"]
    assert services["migrate"]["entrypoint"] == ["python", "manage.py", "migrate", "--noinput"]
    for name in ("web", "worker", "beat"):
        depends = services[name]["depends_on"]
        assert depends["db"]["condition"] == "service_healthy"
        assert depends["redis"]["condition"] == "service_healthy"
        assert services[name]["env_file"] == ".env"
    assert services["web"]["depends_on"]["migrate"]["condition"] == (
        "service_completed_successfully"
    )
    assert "/healthz" in " ".join(services["web"]["healthcheck"]["test"])
    for name in ("db", "redis"):
        assert services[name]["healthcheck"]["test"]
    assert set(compose["volumes"]) == {"postgres-data", "redis-data"}


def test_env_example_names_only_settings_that_exist():
    example = {
        line.split("=", 1)[0]
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    postgres_image = {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"}
    unknown = example - settings_env_names() - postgres_image
    assert unknown == set(), f".env.example names settings that do not exist: {unknown}"
    assert {"SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL"} <= example


def test_dockerfile_is_multi_stage_non_root_with_gunicorn_and_healthcheck():
    text = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+)", text, flags=re.MULTILINE)
    assert stages == ["python:3.11-slim", "python:3.11-slim"]
    assert re.search(r"^USER app$", text, flags=re.MULTILINE)
    assert "HEALTHCHECK" in text and "/healthz" in text
    assert 'ENTRYPOINT ["gunicorn", "-c", "config/gunicorn.py", "config.wsgi"]' in text
    assert "collectstatic --noinput" in text
    assert "EXPOSE 8000" in text


def test_gunicorn_config_reads_the_environment(monkeypatch):
    monkeypatch.setenv("GUNICORN_WORKERS", "5")
    monkeypatch.setenv("GUNICORN_THREADS", "2")
    config = runpy.run_path(str(ROOT / "config" / "gunicorn.py"))
    assert (config["workers"], config["threads"], config["worker_class"]) == (5, 2, "gthread")
    assert config["bind"] == "0.0.0.0:8000"
    assert '"request_id": "%({x-request-id}o)s"' in config["access_log_format"]


def test_gunicorn_preloads_the_app_and_recycles_workers_only_when_asked(monkeypatch):
    # Measured in benchmarks/load.py --recycling (BENCHMARKS.md, "Worker recycling").
    for name in ("GUNICORN_MAX_REQUESTS", "GUNICORN_MAX_REQUESTS_JITTER", "GUNICORN_PRELOAD_APP"):
        monkeypatch.delenv(name, raising=False)
    config = runpy.run_path(str(ROOT / "config" / "gunicorn.py"))
    assert (config["max_requests"], config["preload_app"]) == (0, True)
    monkeypatch.setenv("GUNICORN_MAX_REQUESTS", "20000")
    monkeypatch.setenv("GUNICORN_PRELOAD_APP", "false")
    config = runpy.run_path(str(ROOT / "config" / "gunicorn.py"))
    assert (config["max_requests"], config["max_requests_jitter"]) == (20000, 2000)
    assert config["preload_app"] is False


def test_grafana_dashboard_uses_metrics_the_service_exports():
    import json

    dashboard = json.loads((ROOT / "deploy" / "grafana-dashboard.json").read_text())
    expressions = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    ours = set(re.findall(r"maturity_[a-z_]+", expressions))
    metrics_source = (ROOT / "reports" / "metrics.py").read_text()
    for name in ours:
        base = name.removesuffix("_total")
        assert f'"{base}"' in metrics_source, f"dashboard uses {name}, which nothing exports"
    assert {"maturity_submissions_total", "maturity_queue_depth", "maturity_stale_teams"} <= ours
