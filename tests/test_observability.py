"""/metrics counts and times requests per route in the Prometheus text format."""

from __future__ import annotations

import re


def _sample(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if match and ",".join(sorted(match.group(1).split(","))) == wanted:
            return float(match.group(2))
    return 0.0


async def test_metrics_count_graphql_requests_by_status(api):
    # given
    before = (await api.client.get("/metrics")).text
    # when
    await api.query("{ __typename }")
    await api.client.post("/graphql", content=b"{", headers={"content-type": "application/json"})
    after = await api.client.get("/metrics")
    # then
    assert after.status_code == 200
    assert after.headers["content-type"].startswith("text/plain")
    labels = {"route": "/graphql", "method": "POST"}
    ok = _sample(after.text, "storefront_http_requests_total", status="200", **labels)
    bad = _sample(after.text, "storefront_http_requests_total", status="400", **labels)
    assert ok - _sample(before, "storefront_http_requests_total", status="200", **labels) == 1
    assert bad - _sample(before, "storefront_http_requests_total", status="400", **labels) == 1
    assert _sample(after.text, "storefront_http_request_seconds_count", route="/graphql") >= 2


async def test_unknown_paths_share_one_label(api):
    await api.client.get("/no/such/path/123")
    text = (await api.client.get("/metrics")).text
    assert "/no/such/path" not in text
    assert _sample(text, "storefront_http_requests_total", route="other", method="GET", status="404") >= 1
