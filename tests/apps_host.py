"""An MCP Apps host for tests: headless Chromium (Debian's chromium, driven by playwright) showing tests/card_host.html,
whose messages go to the real server through an in-process MCP client that declares the UI extension.

`apps_client` is that client. `CardHost` opens one host page bound to a client: `show` asks the page to do what a
chat client does when the model calls a tool with a UI, `card` locates the view inside its frame, `relayed` lists
what the view asked the server for. `chromium_or_skip` skips a test, saying why, where no browser can run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from mcp import Client
from mcp.client.extension import advertise
from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID
from trl_jobs_mcp.server.app import build_server
from trl_jobs_mcp.server.settings import Settings

if TYPE_CHECKING:
    from playwright.async_api import Browser, FrameLocator, Page

CHROMIUM = Path("/usr/bin/chromium")
HOST_PAGE = Path(__file__).parent / "card_host.html"
# Playwright cannot fetch its own browsers here; Debian's chromium, quiet and offline, does the job.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def apps_client(home: Path, *, mime_types: list[str] | None = None, tasks: bool = False, **changes: Any) -> Client:
    """The SDK's client on a local-backend server, declaring the UI extension as an Apps host does; with `tasks`,
    the tasks extension too (a 2026-07-28 host that runs long calls as tasks and polls them to their end)."""
    settings = {"mimeTypes": [APP_MIME_TYPE] if mime_types is None else mime_types}
    server = build_server(Settings.from_env({}, backend="local", home=home, **changes))
    if tasks:
        from tasks_client import TasksClient

        return Client(server, mode="auto", extensions=[advertise(EXTENSION_ID, settings), TasksClient(poll=0.2)])
    return Client(server, mode="legacy", extensions=[advertise(EXTENSION_ID, settings)])


def chromium_or_skip() -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent: `apt-get install -y chromium` (.ci/run does) to run the job card in a "
                    "real browser")
    pytest.importorskip("playwright.async_api", reason="playwright is not installed: pip install -e '.[test]'")


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def _relay(client: Client, method: str, params: dict[str, Any]) -> dict[str, Any]:
    """One MCP request from the page, answered by the real server; the result in its wire form (camelCase)."""
    if method == "tools/list":
        result: Any = await client.list_tools()
    elif method == "tools/call":
        result = await client.call_tool(params["name"], params.get("arguments") or {})
    elif method == "resources/read":
        result = await client.read_resource(params["uri"])
    else:
        raise ValueError(f"the test host relays no {method}")
    return result.model_dump(mode="json", by_alias=True, exclude_none=True)


class CardHost:
    """One host page (one chat message with a card), its MCP calls going to `client`."""

    def __init__(self, page: Page) -> None:
        self.page = page

    @classmethod
    async def open(cls, browser: Browser, client: Client) -> CardHost:
        page = await browser.new_page(viewport={"width": 480, "height": 900}, device_scale_factor=2)

        async def relay(method: str, params: dict[str, Any]) -> dict[str, Any]:
            return await _relay(client, method, params)

        await page.expose_function("mcpRelay", relay)
        await page.goto(HOST_PAGE.as_uri())
        return cls(page)

    async def show(self, tool: str, arguments: dict[str, Any], *, theme: str = "light", **options: Any
                   ) -> dict[str, Any]:
        """Call `tool` as the host would for the model, with the card shown; returns the call's result.
        `options` are the host's misbehaviours (card_host.html's hostOptions)."""
        return await self.page.evaluate("([name, args, theme, options]) => window.showTool(name, args, theme, options)",
                                        [tool, arguments, theme, options])

    async def start(self, tool: str, arguments: dict[str, Any], **options: Any) -> None:
        """As `show`, without waiting for the call to end (a task runs until its job ends): `result` reads it."""
        await self.page.evaluate("([name, args, options]) => { window.shown = window.showTool(name, args, 'light', "
                                 "options); window.shown.catch(() => {}); }", [tool, arguments, options])

    async def result(self) -> dict[str, Any] | None:
        """The tool's result once the host has it (it may not have handed it to the view: dropResult)."""
        return await self.page.evaluate("() => window.toolResult || null")

    async def misbehave(self, **options: Any) -> None:
        """Change the host's misbehaviours while the card runs."""
        await self.page.evaluate("(options) => Object.assign(window.hostOptions, options)", options)

    async def attempts(self, tool: str) -> list[float]:
        """When the view asked the host to call `tool` (ms, the page's clock), answered or not."""
        log = await self.page.evaluate("() => window.hostLog")
        return [entry["at"] for entry in log if entry["from"] == "view" and entry["method"] == "tools/call"
                and (entry.get("params") or {}).get("name") == tool]

    @property
    def card(self) -> FrameLocator:
        return self.page.frame_locator("#view")

    async def text(self, element_id: str) -> str:
        return (await self.card.locator(f"#{element_id}").inner_text()).strip()

    async def relayed(self, method: str = "tools/call") -> list[dict[str, Any]]:
        """What the server answered the view, oldest first: [{name, result}] for tools/call."""
        log = await self.page.evaluate("() => window.hostLog")
        return [entry for entry in log if entry["from"] == "server" and entry["method"] == method]

    async def curve_points(self, series: str) -> tuple[int, int]:
        """The drawn curve of `series`: its data-points attribute and the points in its polyline."""
        line = self.card.locator(f'polyline[data-series="{series}"]')
        declared = int(await line.get_attribute("data-points") or -1)
        drawn = len((await line.get_attribute("points") or "").split())
        return declared, drawn

    async def screenshot(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        await self.page.locator("#view").screenshot(path=str(path))
        return path

    async def close(self) -> None:
        await self.page.close()


def finite_count(metrics: dict[str, Any], series: str) -> int:
    """How many finite values job_metrics returned for `series` (NaN and inf come back as null)."""
    return sum(1 for value in metrics["series"][series]["values"] if value is not None)


def screens_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the card's screenshots go: $TRL_JOBS_TEST_ARTIFACTS/job-card when set (CI keeps it), else a tmp dir."""
    import os

    root = os.environ.get("TRL_JOBS_TEST_ARTIFACTS")
    return Path(root) / "job-card" if root else tmp_path_factory.mktemp("job-card")


def keep_for_readme(shot: Path, name: str) -> None:
    """UPDATE_SCREENSHOTS=1 copies a screenshot to docs/, where the README shows it: at 1x and 128 colours, so
    the repository carries tens of kilobytes rather than hundreds (Pillow comes with matplotlib)."""
    import os

    if os.environ.get("UPDATE_SCREENSHOTS") != "1":
        return
    from PIL import Image

    docs = Path(__file__).parent.parent / "docs"
    docs.mkdir(exist_ok=True)
    with Image.open(shot) as image:
        small = image.convert("RGB").resize((image.width // 2, image.height // 2), Image.Resampling.LANCZOS)
        small.quantize(colors=128).save(docs / name, optimize=True)
