"""Addresses: a customer's postal addresses and default, validated field by field, private to the customer
and staff, and loaded one statement per level, on both databases and executors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from sqlalchemy import select, update

from app.accounts.models import Customer, CustomerAddress
from app.db import migrate
from app.db.ids import decode_global_id, encode_global_id
from app.settings import Secret
from tests.conftest import fresh_database, settings_for
from tests.support.accounts import Client, Running, bearer, new_email, running, sign_in, sign_up
from tests.test_accounts import _rows, _run

CREATE = """mutation($input: MailingAddressInput!, $default: Boolean) {
  customerAddressCreate(input: $input, default: $default) {
    address { id firstName lastName company address1 address2 city province zip country phone isDefault }
    errors { field message code }
  }
}"""
UPDATE = """mutation($id: ID!, $input: MailingAddressInput!) {
  customerAddressUpdate(id: $id, input: $input) { address { id city zip isDefault } errors { field message code } }
}"""
DELETE = """mutation($id: ID!) { customerAddressDelete(id: $id) { deletedAddressId errors { field message code } } }"""
DEFAULT = """mutation($id: ID!) {
  customerDefaultAddressUpdate(id: $id) { customer { defaultAddress { id } } errors { field message code } }
}"""
MINE = """query($first: Int, $after: String) {
  viewer {
    defaultAddress { id city }
    addresses(first: $first, after: $after) { nodes { id city } pageInfo { hasNextPage endCursor } totalCount }
  }
}"""
HOME = {
    "firstName": "Ada",
    "lastName": "Lovelace",
    "company": "Analytical Engines",
    "address1": "12 St James's Square",
    "address2": "",
    "city": "London",
    "province": "",
    "zip": "SW1Y 4JH",
    "country": "gb",
    "phone": "+44 20 7946 0000",
}


@pytest.fixture(scope="module")
async def addresses_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    async with fresh_database(backend, tmp_path_factory.mktemp(f"addresses-{backend}")) as url:
        migrate.upgrade(url)
        yield url


@pytest.fixture(scope="module")
async def app(addresses_url: str, executor: str) -> AsyncIterator[Running]:
    settings = settings_for(addresses_url, fast_executor=executor == "fast", secret_key=Secret("k" * 40))
    async with running(settings) as started:
        yield started


@pytest.fixture
async def client(app: Running) -> AsyncIterator[Client]:
    started = app.client()
    yield started
    await started.aclose()


async def _customer(client: Client) -> tuple[str, dict[str, str], str]:
    email = new_email()
    customer = await sign_up(client, email)
    return customer["id"], bearer((await sign_in(client, email))["accessToken"]), email


async def _add(client: Client, headers: dict[str, str], city: str = "London", default: bool = False) -> dict:
    body = await client.gql(CREATE, {"input": {**HOME, "city": city}, "default": default}, headers=headers)
    payload = body["data"]["customerAddressCreate"]
    assert payload["errors"] == [], payload
    return payload["address"]


async def test_the_first_address_is_the_default_and_a_later_one_may_take_over(client):
    # given
    _, headers, _ = await _customer(client)
    # when
    first = await _add(client, headers)
    second = await _add(client, headers, "Paris")
    third = await _add(client, headers, "Rome", default=True)
    # then
    assert first == {
        "id": first["id"],
        **{key: value for key, value in HOME.items() if key != "country"},
        "country": "GB",
        "isDefault": True,
    }
    assert (second["isDefault"], third["isDefault"]) == (False, True)
    mine = (await client.gql(MINE, headers=headers))["data"]["viewer"]
    assert mine["defaultAddress"] == {"id": third["id"], "city": "Rome"}
    assert [node["city"] for node in mine["addresses"]["nodes"]] == ["London", "Paris", "Rome"]
    assert mine["addresses"]["totalCount"] == 3


async def test_addresses_page_with_cursors(client):
    _, headers, _ = await _customer(client)
    for city in ("A", "B", "C"):
        await _add(client, headers, city)
    first = (await client.gql(MINE, {"first": 2}, headers=headers))["data"]["viewer"]["addresses"]
    rest = await client.gql(MINE, {"first": 2, "after": first["pageInfo"]["endCursor"]}, headers=headers)
    assert [node["city"] for node in first["nodes"]] == ["A", "B"] and first["pageInfo"]["hasNextPage"]
    assert [node["city"] for node in rest["data"]["viewer"]["addresses"]["nodes"]] == ["C"]


async def test_every_missing_field_is_named_at_once(client):
    _, headers, _ = await _customer(client)
    body = await client.gql(CREATE, {"input": {"company": "Nobody Ltd"}}, headers=headers)
    assert body["data"]["customerAddressCreate"] == {
        "address": None,
        "errors": [
            {"field": ["input", name], "message": f"{label} is required", "code": "INVALID"}
            for name, label in (
                ("firstName", "First name"),
                ("lastName", "Last name"),
                ("address1", "Address line 1"),
                ("city", "City"),
                ("zip", "Zip"),
                ("country", "Country"),
            )
        ],
    }


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("country", "XX", "Country must be an ISO 3166-1 alpha-2 code, such as US or FR"),
        ("country", "GBR", "Country must be at most 2 characters long"),
        ("zip", "SW1Y#4JH", "Zip may hold only letters, digits, spaces and hyphens"),
        ("phone", "call me", "Phone must be a phone number, such as +1 555 0100"),
        ("phone", "12", "Phone must be a phone number, such as +1 555 0100"),
        ("city", "x" * 101, "City must be at most 100 characters long"),
        ("firstName", "Ada\u0000", "First name must not contain control characters"),
        ("lastName", "   ", "Last name is required"),
    ],
)
async def test_a_bad_value_is_invalid_with_its_field(client, field, value, message):
    _, headers, _ = await _customer(client)
    body = await client.gql(CREATE, {"input": {**HOME, field: value}}, headers=headers)
    assert body["data"]["customerAddressCreate"]["errors"] == [
        {"field": ["input", field], "message": message, "code": "INVALID"}
    ]
    assert (await client.gql(MINE, headers=headers))["data"]["viewer"]["addresses"]["totalCount"] == 0


async def test_an_update_changes_only_what_it_names(client):
    _, headers, _ = await _customer(client)
    address = await _add(client, headers)
    body = await client.gql(UPDATE, {"id": address["id"], "input": {"city": " Bath "}}, headers=headers)
    assert body["data"]["customerAddressUpdate"] == {
        "address": {"id": address["id"], "city": "Bath", "zip": "SW1Y 4JH", "isDefault": True},
        "errors": [],
    }


async def test_another_customer_s_address_is_not_found_for_every_change(client):
    # given: Bob's address, and Ann signed in
    _, bob, _ = await _customer(client)
    address = await _add(client, bob)
    _, ann, _ = await _customer(client)
    not_found = [{"field": ["id"], "message": "No address of yours has this ID", "code": "NOT_FOUND"}]
    # when / then: as if it did not exist, and it stays as it was
    for query, variables, name in (
        (UPDATE, {"id": address["id"], "input": {"city": "Stolen"}}, "customerAddressUpdate"),
        (DELETE, {"id": address["id"]}, "customerAddressDelete"),
        (DEFAULT, {"id": address["id"]}, "customerDefaultAddressUpdate"),
        (DELETE, {"id": encode_global_id("Product", 1)}, "customerAddressDelete"),
        (DELETE, {"id": "not-an-id"}, "customerAddressDelete"),
    ):
        assert (await client.gql(query, variables, headers=ann))["data"][name]["errors"] == not_found
    assert (await client.gql(MINE, headers=bob))["data"]["viewer"]["defaultAddress"] == {
        "id": address["id"],
        "city": "London",
    }


async def test_deleting_the_default_makes_the_oldest_left_the_default(client):
    _, headers, _ = await _customer(client)
    first = await _add(client, headers, "A")
    second = await _add(client, headers, "B")
    third = await _add(client, headers, "C", default=True)
    body = await client.gql(DELETE, {"id": third["id"]}, headers=headers)
    assert body["data"]["customerAddressDelete"] == {"deletedAddressId": third["id"], "errors": []}
    assert (await client.gql(MINE, headers=headers))["data"]["viewer"]["defaultAddress"]["id"] == first["id"]
    changed = await client.gql(DEFAULT, {"id": second["id"]}, headers=headers)
    assert changed["data"]["customerDefaultAddressUpdate"] == {
        "customer": {"defaultAddress": {"id": second["id"]}},
        "errors": [],
    }


async def test_address_changes_need_a_signed_in_customer(client):
    body = await client.gql(CREATE, {"input": HOME})
    assert body["data"]["customerAddressCreate"]["errors"] == [
        {"field": None, "message": "Sign in first", "code": "UNAUTHENTICATED"}
    ]


async def test_a_customer_keeps_at_most_fifty_addresses(client):
    _, headers, _ = await _customer(client)
    for index in range(50):
        await _add(client, headers, f"City {index}")
    body = await client.gql(CREATE, {"input": HOME}, headers=headers)
    assert body["data"]["customerAddressCreate"]["errors"] == [
        {"field": None, "message": "A customer may keep at most 50 addresses", "code": "INVALID"}
    ]


async def test_addresses_are_private_to_their_customer_and_staff(client, addresses_url):
    # given: Bob with an address; Ann, a customer; and a member of staff
    bob_id, bob, _ = await _customer(client)
    address = await _add(client, bob)
    _, ann, _ = await _customer(client)
    _, _, staff_email = await _customer(client)
    await _run(addresses_url, update(Customer.__table__).where(Customer.email == staff_email).values(role="STAFF"))
    staff = bearer((await sign_in(client, staff_email))["accessToken"])
    query = """query($address: ID!, $bob: ID!) {
      node(id: $address) { ... on MailingAddress { city } }
      bob: node(id: $bob) { ... on Customer { defaultAddress { city } addresses(first: 5) { nodes { city } } } }
    }"""
    variables = {"address": address["id"], "bob": bob_id}
    # when
    as_ann = await client.gql(query, variables, headers=ann)
    as_nobody = await client.gql(query, variables)
    as_staff = await client.gql(query, variables, headers=staff)
    # then: the address by ID is null (as if it did not exist); Bob's address fields are FORBIDDEN
    for body in (as_ann, as_nobody):
        assert body["data"] == {"node": None, "bob": {"defaultAddress": None, "addresses": None}}
        assert sorted(error["path"][1] for error in body["errors"]) == ["addresses", "defaultAddress"]
        assert {error["extensions"]["code"] for error in body["errors"]} == {"FORBIDDEN"}
    assert as_staff == {
        "data": {
            "node": {"city": "London"},
            "bob": {"defaultAddress": {"city": "London"}, "addresses": {"nodes": [{"city": "London"}]}},
        }
    }


async def test_addresses_of_many_customers_take_the_statements_of_one(client, app, addresses_url):
    # given: five customers with two addresses each, read by staff
    ids = []
    for _ in range(5):
        customer_id, headers, _ = await _customer(client)
        await _add(client, headers, "One")
        await _add(client, headers, "Two")
        ids.append(customer_id)
    _, _, staff_email = await _customer(client)
    await _run(addresses_url, update(Customer.__table__).where(Customer.email == staff_email).values(role="STAFF"))
    staff = bearer((await sign_in(client, staff_email))["accessToken"])
    query = """query($ids: [ID!]!) { nodes(ids: $ids) { ... on Customer {
      defaultAddress { city } addresses(first: 5) { nodes { city } totalCount }
      reviews(first: 5) { totalCount } } } }"""
    # when
    counts = []
    for wanted in (ids[:1], ids):
        app.sql.reset()
        body = await client.gql(query, {"ids": wanted}, headers=staff)
        counts.append(app.sql.count)
        assert body["data"]["nodes"] == [
            {
                "defaultAddress": {"city": "One"},
                "addresses": {"nodes": [{"city": "One"}, {"city": "Two"}], "totalCount": 2},
                "reviews": {"totalCount": 0},
            }
        ] * len(wanted)
    # then: customers, default addresses, address pages, address counts, review pages, review counts
    assert counts == [6, 6]


async def test_concurrent_default_changes_leave_exactly_one_default(addresses_url, backend):
    if backend != "postgresql":
        pytest.skip("real concurrency needs PostgreSQL; SQLite serialises writers")
    settings = replace(settings_for(addresses_url, secret_key=Secret("k" * 40)), db_pool_size=12, db_max_overflow=0)
    async with running(settings) as started:
        client = started.client()
        customer_id, headers, _ = await _customer(client)
        ids = [(await _add(client, headers, f"City {index}"))["id"] for index in range(4)]
        # when: the default moves, and new defaults are added, all at once
        moves = [client.gql(DEFAULT, {"id": ids[index % 4]}, headers=headers) for index in range(12)]
        adds = [client.gql(CREATE, {"input": HOME, "default": True}, headers=headers) for _ in range(6)]
        answers = await asyncio.gather(*moves, *adds)
        mine = (await client.gql(MINE, {"first": 50}, headers=headers))["data"]["viewer"]
        await client.aclose()
    # then: every change answered without errors, and exactly one address is the default
    assert all("errors" not in answer for answer in answers)
    assert all(next(iter(answer["data"].values()))["errors"] == [] for answer in answers)
    _, pk = decode_global_id(customer_id)
    is_default = (CustomerAddress.customer_id == pk) & CustomerAddress.is_default.is_(True)
    assert len(await _rows(addresses_url, select(CustomerAddress.id).where(is_default))) == 1
    assert mine["addresses"]["totalCount"] == 10
