"""Drives the gateway with the official MCP Python SDK (package `mcp`).

Usage: official_client.py URL TOKEN SPACE_ID
Prints one JSON object with what it saw; exits non-zero on any failure.
"""

import asyncio
import json
import sys

import httpx2
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client


async def main(url: str, token: str, space: str) -> None:
    headers = {"authorization": f"Bearer {token}", "x-mana-space": space}
    async with httpx2.AsyncClient(headers=headers, timeout=20) as http:
        async with streamable_http_client(url, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                init = await session.initialize()
                tools = (await session.list_tools()).tools
                created = await session.call_tool("todo.create", {"title": "Einkaufen (Python-Client)"})
                listed = await session.call_tool("todo.list", {})
                invalid = await session.call_tool("todo.create", {"title": ""})
                print(json.dumps({
                    "protocolVersion": init.protocol_version,
                    "tools": sorted(tool.name for tool in tools),
                    "created": {"isError": created.is_error, "structured": created.structured_content},
                    "listed": {"isError": listed.is_error, "structured": listed.structured_content},
                    "invalid": {"isError": invalid.is_error, "text": invalid.content[0].text},
                }))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
