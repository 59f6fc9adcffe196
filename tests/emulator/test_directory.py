"""Extension directory: list with kinds and paging, one extension, account resolution."""

from __future__ import annotations

from tests.emulator.helpers import Login, Platform, error_code

EXTENSIONS = "/restapi/v1.0/account/~/extension"


async def test_list_shows_each_extension_with_its_kind(platform: Platform, alice: Login) -> None:
    response = await platform.client.get(EXTENSIONS, headers=alice.headers)
    assert response.status_code == 200
    body = response.json()
    kinds = {r["name"]: r["type"] for r in body["records"]}
    assert kinds == {
        "Alice Adams": "User",
        "Bob Brown": "User",
        "Carol Chen": "User",
        "Dan Diaz": "User",
        "Erin Evans": "User",
        "Sales Queue": "Department",
        "Main Menu": "IvrMenu",
    }
    first = body["records"][0]
    assert first["id"] == int(platform.extension("Alice Adams"))
    assert first["extensionNumber"] == "101"
    assert (
        first["uri"]
        == f"{platform.base_url}/restapi/v1.0/account/{platform.account_id}/extension/{first['id']}"
    )
    assert body["paging"] == {
        "page": 1,
        "totalPages": 1,
        "perPage": 100,
        "totalElements": 7,
        "pageStart": 0,
        "pageEnd": 6,
    }
    assert set(body["navigation"]) == {"firstPage", "lastPage"}


async def test_paging_and_type_filter(platform: Platform, alice: Login) -> None:
    page = (
        await platform.client.get(
            EXTENSIONS, params={"perPage": 3, "page": 2}, headers=alice.headers
        )
    ).json()
    assert [r["extensionNumber"] for r in page["records"]] == ["104", "105", "200"]
    assert page["paging"]["totalPages"] == 3
    assert {"nextPage", "previousPage"} <= set(page["navigation"])
    next_page = await platform.client.get(
        page["navigation"]["nextPage"]["uri"], headers=alice.headers
    )
    assert [r["extensionNumber"] for r in next_page.json()["records"]] == ["300"]
    queues = await platform.client.get(
        EXTENSIONS, params=[("type", "Department"), ("type", "IvrMenu")], headers=alice.headers
    )
    assert [r["type"] for r in queues.json()["records"]] == ["Department", "IvrMenu"]
    bad = await platform.client.get(EXTENSIONS, params={"perPage": "0"}, headers=alice.headers)
    assert bad.status_code == 400


async def test_read_one_extension_and_tilde(platform: Platform, alice: Login) -> None:
    own = await platform.client.get(EXTENSIONS + "/~", headers=alice.headers)
    assert own.json()["id"] == int(platform.extension("Alice Adams"))
    assert own.json()["account"]["id"] == platform.account_id
    queue_id = platform.extension("Sales Queue")
    queue = await platform.client.get(f"{EXTENSIONS}/{queue_id}", headers=alice.headers)
    assert queue.json()["type"] == "Department"
    missing = await platform.client.get(f"{EXTENSIONS}/42", headers=alice.headers)
    assert missing.status_code == 404
    assert error_code(missing) == "CMN-102"


async def test_other_account_is_not_found(platform: Platform, alice: Login) -> None:
    response = await platform.client.get(
        "/restapi/v1.0/account/123456016/extension", headers=alice.headers
    )
    assert response.status_code == 404
    explicit = await platform.client.get(
        f"/restapi/v1.0/account/{platform.account_id}/extension", headers=alice.headers
    )
    assert explicit.status_code == 200
