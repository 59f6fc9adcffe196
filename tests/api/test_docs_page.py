"""`/docs` works offline: the page names only this service's own assets (no CDN), and they are
served; `/` sends people to the dashboard."""

from __future__ import annotations

import re

from tests.api.conftest import Api


async def test_docs_load_their_assets_from_this_service(api: Api) -> None:
    page = await api.client.get("/docs")
    assert page.status_code == 200
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources, page.text
    assert [s for s in sources if s.startswith(("http:", "https:", "//"))] == []
    for source in sources:
        if source.startswith("/"):
            asset = await api.client.get(source)
            assert asset.status_code == 200, source
            assert len(asset.content) > 1000, source
    assert "/openapi.json" in page.text


async def test_the_root_sends_people_to_the_dashboard(api: Api) -> None:
    response = await api.client.get("/", follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"] == "/dashboard"
