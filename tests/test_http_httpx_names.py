"""httpx's names for the client and its transport: code written for
``httpx.AsyncClient`` ports by changing the import."""

import curionet
import curionet.protocols.http as http
from curionet.protocols.http import AsyncClient, AsyncHTTPTransport, MockTransport, Response


def test_names_are_the_same_classes_everywhere():
    assert AsyncClient is http.ClientSession is curionet.AsyncClient
    assert AsyncHTTPTransport is http.HTTPTransport is curionet.AsyncHTTPTransport
    assert {"AsyncClient", "AsyncHTTPTransport", "DigestAuth"} <= set(curionet.__all__) & set(http.__all__)


async def test_httpx_style_code_runs():
    def handler(request):
        return Response(200, json={"path": request.url.path, "q": request.url.query})

    async with AsyncClient(base_url="https://api.test", transport=MockTransport(handler)) as client:
        response = await client.get("/items", params={"page": 2})
        response.raise_for_status()
        assert await response.json() == {"path": "/items", "q": "page=2"}
    transport = AsyncHTTPTransport(verify=False)
    async with AsyncClient(transport=transport) as client:
        assert client.transport is transport
