"""Our own routes: /health, /metrics, /schema and the page at /."""

from __future__ import annotations

import httpx
from server_harness import T, offer_body, wait_for

from reactor_runtime.server import pages


def test_health_reports_state_viewers_uptime_and_the_loaded_model(started: httpx.Client) -> None:
    health = started.get("/health")
    assert health.status_code == 200
    report = health.json()
    assert report["status"] == "ok"
    assert report["state"] == "WAITING"
    assert report["viewers"] == 0
    assert report["uptime_s"] >= 0
    assert report["model"] == {"name": "sample", "version": "1.2", "loaded": True, "error": None}
    assert {"emitted_frames", "sent_frames", "dropped_frames", "run_failures"} <= set(
        report["stats"]
    )
    started.post(T + "/sdp_params", json=offer_body())
    wait_for(lambda: started.get("/health").json()["viewers"] == 1)
    assert started.get("/health").json()["state"] == "STREAMING"


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in metrics")


def test_metrics_expose_frames_viewers_failures_and_commands(started: httpx.Client, served) -> None:
    started.post(T + "/sdp_params", json=offer_body())
    wait_for(lambda: started.get("/health").json()["stats"]["sent_frames"] > 3)
    session = served.runtime.session
    assert served.call(session.dispatch("set_gray", {"value": 3})) == ("gray_changed", {"gray": 3})
    try:
        served.call(session.dispatch("set_gray", {"value": 999}))
    except Exception as exc:
        assert "value" in str(exc)
    response = started.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert metric(text, "reactor_frames_emitted_total") > 3
    assert metric(text, "reactor_frames_sent_total") > 3
    assert 'reactor_frames_dropped_total{reason="no_viewer"}' in text
    assert metric(text, "reactor_viewers") == 1
    assert metric(text, "reactor_run_failures_total") == 0
    assert metric(text, "reactor_commands_total") == 2
    assert 'reactor_command_errors_total{code="invalid_command"} 1.0' in text
    assert metric(text, "reactor_model_loaded") == 1


def test_schema_documents_commands_messages_and_tracks(http: httpx.Client) -> None:
    doc = http.get("/schema").json()
    assert doc["openapi"].startswith("3.1")
    assert doc["info"]["title"] == "sample"
    operation = doc["paths"]["/events/set_gray"]["post"]
    value = operation["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert value["value"]["maximum"] == 255
    reply = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert reply == {"$ref": "#/components/schemas/GrayChanged"}
    webhook = doc["webhooks"]["gray_changed"]["post"]["requestBody"]["content"]
    assert webhook["application/json"]["schema"] == reply
    message = doc["components"]["schemas"]["GrayChanged"]
    assert message["properties"]["gray"]["type"] == "integer"
    assert doc["x-reactor"]["tracks"][0] == {
        "name": "main_video",
        "kind": "video",
        "direction": "out",
    }


def test_the_root_page_says_the_runtime_is_up_and_lists_the_api(
    http: httpx.Client, monkeypatch, tmp_path
) -> None:
    monkeypatch.setattr(pages, "WEB_DIR", tmp_path / "absent")
    page = http.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "is up" in page.text and "/start_session" in page.text and "sample" in page.text


def test_the_installed_web_page_and_its_files_are_served_when_present(
    http: httpx.Client, monkeypatch, tmp_path
) -> None:
    (tmp_path / "index.html").write_text("<html>the real page</html>")
    (tmp_path / "app.js").write_text("console.log(1)")
    monkeypatch.setattr(pages, "WEB_DIR", tmp_path)
    assert http.get("/").text == "<html>the real page</html>"
    assert http.get("/app.js").text == "console.log(1)"
    assert http.get("/../server_harness.py").status_code == 404
    assert http.get("/%2e%2e/conftest.py").status_code == 404
    assert http.get("/missing.js").status_code == 404
