"""An unmodified discord.py 2.7.1 bot's slash command, used by a member in the web client.

The bot registers `/roll` with discord.app_commands (`CommandTree.sync(guild=...)`), alice
types "/" in the composer in Chromium, picks it from the listbox and sends it, the bot answers
with a message carrying a button (a discord.ui.View), alice clicks the button and the bot's
callback edits the message; then `/feedback` opens the bot's discord.ui.Modal as a dialog and
its answer is ephemeral: alice sees it, the channel's history does not hold it. Each step is
asserted on what alice's page shows. The bot's URLs are changed exactly as docs/bots.md says
(REST base and gateway), nothing else.
"""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest

from tests.bots.test_discordpy import TIMEOUT, create_application, csrf, install
from tests.browser import ARGS, CHROMIUM, PASSWORD, bundle  # noqa: F401
from tests.nodes import Node, login

discord = pytest.importorskip("discord")
yarl = pytest.importorskip("yarl")
pytest.importorskip("playwright")

pytestmark = [pytest.mark.live, pytest.mark.xdist_group("bots-live")]


@pytest.fixture(scope="module")
def world(tmp_path_factory, bundle):  # noqa: F811
    node = Node("commands", tmp_path_factory.mktemp("commands")).start()
    node.create_user("alice", PASSWORD)
    api = httpx.Client(base_url=node.url)
    token = api.post("/api/v1/auth/login", json={"username": "alice", "password": PASSWORD}).json()[
        "access_token"
    ]
    auth = {"Authorization": f"Bearer {token}"}
    guild = api.post("/api/v1/guilds", json={"name": "Dice Club"}, headers=auth).json()
    channel = next(
        c
        for c in api.get(f"/api/v1/guilds/{guild['id']}/channels", headers=auth).json()
        if c["name"] == "general"
    )
    with httpx.Client(base_url=node.url) as browser:
        login(browser, "alice", PASSWORD)
        app_id, bot_token = create_application(browser, "Dice")
        install(browser, app_id, guild["id"], (1 << 10) | (1 << 11) | (1 << 16))
        assert csrf(browser)
    yield {
        "node": node,
        "guild": guild["id"],
        "channel": channel["id"],
        "app": app_id,
        "token": bot_token,
        "auth": auth,
    }
    api.close()
    node.stop()


@pytest.fixture
def pointed_at(world, monkeypatch):
    url = world["node"].url
    monkeypatch.setattr(discord.http.Route, "BASE", f"{url}/api/v10")
    monkeypatch.setattr(
        discord.gateway.DiscordWebSocket,
        "DEFAULT_GATEWAY",
        yarl.URL(url.replace("http://", "ws://") + "/bot-gateway"),
    )
    return world


def dice_bot(guild_id: int) -> tuple[discord.Client, asyncio.Future, list[str]]:
    """The bot as its author would write it for Discord."""
    client = discord.Client(intents=discord.Intents.default())
    tree = discord.app_commands.CommandTree(client)
    here = discord.Object(id=guild_id)
    synced = asyncio.get_running_loop().create_future()
    heard: list[str] = []

    class Again(discord.ui.View):
        def __init__(self) -> None:
            super().__init__(timeout=120)

        @discord.ui.button(label="Roll again", style=discord.ButtonStyle.primary)
        async def again(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
            heard.append(f"click by {interaction.user.name}")
            await interaction.response.edit_message(content="You rolled a 6", view=None)

    class Feedback(discord.ui.Modal, title="Tell the club"):
        why = discord.ui.TextInput(
            label="Why do you roll?", style=discord.TextStyle.paragraph, min_length=3
        )

        async def on_submit(self, interaction: discord.Interaction) -> None:
            heard.append(f"feedback: {self.why.value}")
            await interaction.response.send_message(
                f"Thanks, {interaction.user.name}: {self.why.value}", ephemeral=True
            )

    @tree.command(name="feedback", description="Tell the dice club something", guild=here)
    async def feedback(interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(Feedback())

    @tree.command(name="roll", description="Roll a six-sided die", guild=here)
    async def roll(interaction: discord.Interaction) -> None:
        heard.append(f"/roll by {interaction.user.name} in #{interaction.channel.name}")
        await interaction.response.send_message("You rolled a 4", view=Again())

    @client.event
    async def on_ready() -> None:
        if not synced.done():
            synced.set_result(await tree.sync(guild=here))

    return client, synced, heard


async def test_a_member_runs_a_discordpy_slash_command_and_clicks_its_button(pointed_at):
    from playwright.async_api import async_playwright, expect

    world = pointed_at
    client, synced, heard = dice_bot(int(world["guild"]))
    task = asyncio.create_task(client.start(world["token"]))
    try:
        done, _ = await asyncio.wait({synced, task}, timeout=TIMEOUT, return_when="FIRST_COMPLETED")
        if task in done:
            task.result()
        commands = synced.result()
        assert sorted(c.name for c in commands) == ["feedback", "roll"]
        assert {c.guild_id for c in commands} == {int(world["guild"])}

        async with async_playwright() as p:
            chromium = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = await (
                await chromium.new_context(viewport={"width": 1280, "height": 800})
            ).new_page()
            problems: list[str] = []
            page.on("pageerror", lambda error: problems.append(str(error)))
            base = world["node"].url
            await page.goto(f"{base}/login/")
            await page.fill("#id_username", "alice")
            await page.fill("#id_password", PASSWORD)
            await page.click("button[type=submit]")
            await page.wait_for_url(re.compile(r".*/app/.*"))
            await page.goto(f"{base}/app/guilds/{world['guild']}/channels/{world['channel']}/")
            await page.wait_for_function(
                "() => window.unitedGateway && window.unitedGateway.state === 'connected'"
            )

            composer = page.locator("[data-composer-input]")
            await composer.click()
            await composer.type("/")
            picker = page.get_by_role("listbox", name="Commands")
            option = picker.get_by_role("option").filter(has_text="/roll")
            await expect(option).to_be_visible(timeout=TIMEOUT * 1000)
            await expect(option).to_contain_text("Roll a six-sided die")
            await expect(composer).to_have_attribute(
                "aria-activedescendant", re.compile("command-")
            )
            await _axe(page, "[data-composer]")
            await composer.press("ArrowDown")  # /feedback comes first: down to /roll
            await expect(option).to_have_attribute("aria-selected", "true")
            await composer.press("Enter")  # picks /roll
            await expect(composer).to_have_value(re.compile(r"^/roll"))
            await expect(page.get_by_role("button", name="Send /roll")).to_be_visible()
            await composer.press("Enter")  # sends it

            answer = page.locator("[data-message]", has_text="You rolled a 4")
            await expect(answer).to_be_visible(timeout=TIMEOUT * 1000)
            await expect(answer).to_contain_text("used /roll")
            button = answer.get_by_role("button", name="Roll again")
            await expect(button).to_be_visible()
            assert heard == ["/roll by alice in #general"]
            await page.screenshot(path=str(_shots() / "slash-command-answer.png"))

            await button.click()
            edited = page.locator("[data-message]", has_text="You rolled a 6")
            await expect(edited).to_be_visible(timeout=TIMEOUT * 1000)
            await expect(edited.get_by_role("button", name="Roll again")).to_have_count(0)
            assert heard[-1] == "click by alice"
            assert not await page.locator("text=The application did not respond").count()

            # A modal: /feedback opens a dialog; its answer is ephemeral, for alice alone.
            await composer.type("/fe")
            await expect(picker.get_by_role("option").filter(has_text="/feedback")).to_be_visible()
            await composer.press("Enter")
            await composer.press("Enter")
            dialog = page.get_by_role("dialog", name="Tell the club")
            await expect(dialog).to_be_visible(timeout=TIMEOUT * 1000)
            await _axe(page, "dialog[open]")
            await dialog.get_by_label("Why do you roll?").fill("for luck")
            await dialog.get_by_role("button", name="Submit").click()
            thanks = page.locator("[data-ephemeral]", has_text="Thanks, alice: for luck")
            await expect(thanks).to_be_visible(timeout=TIMEOUT * 1000)
            await expect(thanks).to_contain_text("Only you can see this")
            assert heard[-1] == "feedback: for luck"
            stored = httpx.get(
                f"{base}/api/v1/channels/{world['channel']}/messages", headers=world["auth"]
            ).json()
            assert all("Thanks" not in m["content"] for m in stored)
            assert any(m["content"] == "You rolled a 6" for m in stored)
            assert problems == []
            await chromium.close()
    finally:
        crashed = task.done() and not task.cancelled() and task.exception()
        await client.close()
        assert not crashed, f"the bot stopped: {crashed!r}"
        await asyncio.wait({task}, timeout=TIMEOUT)


async def _axe(page, within: str) -> None:
    """axe-core on the open picker: no violation of any impact."""
    from tests.browser import AXE

    await page.evaluate(AXE.read_text())
    found = await page.evaluate(
        "async (w) => (await axe.run(document.querySelector(w))).violations"
        ".map(v => v.id + ': ' + v.nodes.map(n => n.target).join(' '))",
        within,
    )
    assert found == [], found


def _shots():
    from tests.browser import SHOTS

    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS
