"""Contract tests from Tradovate's own published sample clients, against our simulator over real sockets.

Tradovate publishes no maintained Python client; its official examples (github tradovate/example-api-js,
tradovate/example-api-trading-strategy) are the outside code we check our reading against. Each test
sends exactly what a sample sends, written out here as facts (frames and bodies, no code of theirs):

- example-api-js ``TradovateSocket`` (tutorial/WebSockets/EX-07a ... EX-12a): requests are
  ``${url}\\n${id}\\n${query || ''}\\n${JSON.stringify(body)}`` with ids counting from 0, so the token is
  sent JSON-quoted (``authorize\\n0\\n\\n"TOKEN"``) and a body-less request ends in the literal
  ``undefined``; the sync snapshot reader (EX-12a) takes ``positions``, ``contracts`` and ``products``
  and finds a position's product with ``contract.name.startsWith(product.name)`` for ``valuePerPoint``;
  EX-07a names every key of the first sync answer; EX-12a places orders with ``accountName`` and
  ``accountId`` and no ``accountSpec``.
- example-api-trading-strategy ``TradovateSocket``: ``authorize\\n0\\n\\n${token}`` (bare), other requests
  ``${url}\\n${id}\\n${query}\\n${JSON.stringify(body)}`` with ids from 1 (an absent query is the literal
  ``undefined``), ``user/syncrequest`` with ``{accounts: [id]}`` and no ``entityTypes``, orders on the
  socket as ``order/placeOrder`` with ``accountSpec``, ``accountId`` and ``isAutomated: true``, and
  ``product/find`` with query ``name=ES``; its user-sync reader takes ``positions``, ``products`` and
  ``cashBalances[0].realizedPnL``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from adapters.tradovate.simulator import TradovateSimulator
from tests.adapters.tv_support import RawClient, running_sim

# every key example-api-js EX-07a destructures from the first user/syncrequest answer
SYNC_KEYS = {
    "accountRiskStatuses",
    "accounts",
    "cashBalances",
    "commandReports",
    "commands",
    "contractGroups",
    "contractMaturities",
    "contracts",
    "currencies",
    "exchanges",
    "executionReports",
    "fillPairs",
    "fills",
    "marginSnapshots",
    "orderStrategies",
    "orderStrategyLinks",
    "orderStrategyTypes",
    "orderVersions",
    "orders",
    "positions",
    "products",
    "properties",
    "spreadDefinitions",
    "userAccountAutoLiqs",
    "userPlugins",
    "userProperties",
    "userReadStatuses",
    "users",
}


@pytest.fixture
async def sim() -> AsyncIterator[TradovateSimulator]:
    async with running_sim("DEMO0001", "DEMO0002") as s:
        yield s


@pytest.fixture
async def client(sim: TradovateSimulator) -> AsyncIterator[RawClient]:
    c = RawClient.of(sim)
    await c.login("trader1")
    try:
        yield c
    finally:
        await c.close()


async def front(client: RawClient, root: str = "ES") -> str:
    """The trading-strategy example's contract search: ``contract/suggest?t=ES&l=10``, first hit."""
    status, found = await client.rest("GET", f"contract/suggest?t={root}&l=10")
    assert status == 200 and found, found
    return str(found[0]["name"])


async def authorized(client: RawClient, token_text: str) -> None:
    await client.open_socket()
    await client.send(f"authorize\n0\n\n{token_text}")
    answer = await client.answer(0)
    assert (answer["i"], answer["s"]) == (0, 200), answer  # both samples test i === 0 && s === 200


# ------------------------------------------------------------------------------------------ authorize
@pytest.mark.parametrize("form", ["quoted (example-api-js)", "bare (trading-strategy, EX-06)"])
async def test_authorize_takes_the_token_quoted_or_bare(client: RawClient, form: str) -> None:
    await authorized(client, json.dumps(client.token) if form.startswith("quoted") else client.token)


@pytest.mark.parametrize("token_text", ['"not-a-token"', "not-a-token", '"unterminated', '""', "null"])
async def test_authorize_still_refuses_a_wrong_token_in_either_form(client: RawClient, token_text: str) -> None:
    await client.open_socket()
    await client.send(f"authorize\n0\n\n{token_text}")
    assert (await client.answer(0))["s"] == 401


# ------------------------------------------------------------------------------ the `undefined` body
async def test_bodyless_request_with_undefined_body_is_answered(client: RawClient) -> None:
    """example-api-js ``socket.send({url: 'account/list'})`` sends ``account/list\\n1\\n\\nundefined``."""
    await authorized(client, json.dumps(client.token))
    await client.send("account/list\n1\n\nundefined")
    answer = await client.answer(1)
    assert answer["s"] == 200, answer
    assert [a["name"] for a in answer["d"]] == ["DEMO0001"]
    # the same word as a REST body is no body either
    status, accounts = await client.rest("POST", "account/list", data=b"undefined")
    assert status == 200 and [a["name"] for a in accounts] == ["DEMO0001"], accounts


async def test_a_body_that_is_neither_json_nor_undefined_is_still_refused(client: RawClient) -> None:
    await authorized(client, client.token)
    await client.send("account/list\n1\n\n{not json")
    assert (await client.answer(1))["s"] == 400
    status, _ = await client.rest("POST", "order/placeorder", data=b"{not json")
    assert status == 400


# ------------------------------------------------------------------------------ the sync snapshot
async def test_js_sync_snapshot_carries_contracts_and_products_for_open_pl(client: RawClient) -> None:
    """EX-12a: the first sync answer, then each open position's contract and product (value per point)."""
    symbol = await front(client)
    account = client.accounts[0]
    body = {  # EX-4a's normalized_body
        "action": "Buy",
        "symbol": symbol,
        "orderQty": 2,
        "orderType": "Market",
        "isAutomated": False,
        "accountId": account["id"],
        "accountSpec": account["name"],
    }
    status, placed = await client.rest("POST", "order/placeOrder", json=body)
    assert status == 200 and "orderId" in placed and "failureReason" not in placed, placed
    await authorized(client, json.dumps(client.token))
    await client.send(f"user/syncrequest\n1\n\n{json.dumps({'users': [client.user_id]})}")
    answer = await client.answer(1)
    assert answer["s"] == 200, answer
    snap = answer["d"]
    assert SYNC_KEYS <= set(snap), sorted(SYNC_KEYS - set(snap))
    assert snap["users"] and all(isinstance(snap[k], list) for k in SYNC_KEYS)
    open_positions = [p for p in snap["positions"] if not (p["netPos"] == 0 and p.get("prevPos", 0) == 0)]
    assert [p["netPos"] for p in open_positions] == [2]
    for pos in open_positions:
        name = next(c for c in snap["contracts"] if c["id"] == pos["contractId"])["name"]
        product = next(p for p in snap["products"] if name.startswith(p["name"]))
        assert (name, product["name"], product["valuePerPoint"]) == (symbol, "ES", 50.0)
        assert isinstance(pos["netPrice"], float)


async def test_strategy_syncs_with_accounts_alone_and_trades_on_the_socket(client: RawClient) -> None:
    """The trading-strategy example: bare token, ``{accounts:[id]}``, query ``undefined``, orders on the socket."""
    account = client.accounts[0]
    symbol = await front(client)
    await authorized(client, client.token)
    await client.send(f"user/syncrequest\n1\nundefined\n{json.dumps({'accounts': [account['id']]})}")
    answer = await client.answer(1)
    assert answer["s"] == 200, answer
    snap = answer["d"]
    assert snap["users"] and isinstance(snap["positions"], list) and isinstance(snap["products"], list)
    assert snap["cashBalances"][0]["realizedPnL"] == 0
    assert [a["id"] for a in snap["accounts"]] == [account["id"]]
    # standardMiddleware/placeOrder: no price for a market order (JSON.stringify drops undefined)
    body = {
        "symbol": symbol,
        "orderQty": 1,
        "accountSpec": account["name"],
        "accountId": account["id"],
        "action": "Sell",
        "orderType": "Market",
        "isAutomated": True,
    }
    await client.send(f"order/placeOrder\n2\nundefined\n{json.dumps(body)}")
    placed = await client.answer(2)
    assert placed["s"] == 200 and "orderId" in placed["d"] and "failureReason" not in placed["d"], placed
    pos = await client.event(lambda e: e["e"] == "props" and e["d"]["entityType"] == "position")
    assert pos["d"]["entity"]["netPos"] == -1 and pos["d"]["entity"]["accountId"] == account["id"]
    # productFind: query name=ES, the product's valuePerPoint feeds the example's P&L
    await client.send("product/find\n3\nname=ES\nundefined")
    product = await client.answer(3)
    assert product["s"] == 200 and (product["d"]["name"], product["d"]["valuePerPoint"]) == ("ES", 50.0), product


async def test_split_responses_still_needs_entity_types(client: RawClient) -> None:
    """PROTOCOLS.md: entityTypes is required with splitResponses; the accounts-only form is not that form."""
    await authorized(client, client.token)
    body = {"splitResponses": True, "accounts": [client.accounts[0]["id"]]}
    await client.send(f"user/syncrequest\n1\n\n{json.dumps(body)}")
    assert (await client.answer(1))["s"] == 400


# ---------------------------------------------------------------------------------- accountName
async def test_js_order_with_account_name_and_no_account_spec(sim: TradovateSimulator, client: RawClient) -> None:
    """EX-12a's buy button: ``{action, symbol, orderQty, orderType: 'Market', accountName, accountId}``."""
    account = client.accounts[0]
    body = {
        "action": "Buy",
        "symbol": await front(client),
        "orderQty": 1,
        "orderType": "Market",
        "accountName": account["name"],
        "accountId": account["id"],
    }
    status, placed = await client.rest("POST", "order/placeOrder", json=body)
    assert status == 200 and "orderId" in placed and "failureReason" not in placed, placed
    assert sim.exchange.accounts["DEMO0001"].positions["ES"].qty == 1


async def test_an_account_name_of_another_account_is_refused(sim: TradovateSimulator, client: RawClient) -> None:
    account = client.accounts[0]
    body = {
        "action": "Buy",
        "symbol": await front(client),
        "orderQty": 1,
        "orderType": "Market",
        "accountName": "DEMO0002",
        "accountId": account["id"],
    }
    status, placed = await client.rest("POST", "order/placeOrder", json=body)
    assert status == 200 and placed.get("failureReason"), placed
    assert "DEMO0002" in placed["failureText"] and not sim.exchange.accounts["DEMO0001"].orders
