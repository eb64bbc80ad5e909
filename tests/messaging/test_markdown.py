from __future__ import annotations

from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from messaging.markdown import ALLOWED_ATTRIBUTES, ALLOWED_TAGS, SAFE_SCHEMES, find_links, render

pytestmark = pytest.mark.mode_independent


@pytest.mark.parametrize(
    ("source", "html"),
    [
        ("**bold**", "<p><strong>bold</strong></p>"),
        ("*it* _it_", "<p><em>it</em> <em>it</em></p>"),
        ("__under__", "<p><u>under</u></p>"),
        ("~~gone~~", "<p><s>gone</s></p>"),
        ("||secret||", '<p><span class="spoiler">secret</span></p>'),
        ("`__not__`", "<p><code>__not__</code></p>"),
        ("> quoted", "<blockquote>\n<p>quoted</p>\n</blockquote>"),
        ("line one\nline two", "<p>line one<br>\nline two</p>"),
    ],
)
def test_discord_flavoured_subset(source, html):
    assert render(source) == html


def test_fenced_code_keeps_markup_literal():
    out = render("```\n<b>**x**</b>\n```")
    assert "<pre><code>" in out and "&lt;b&gt;**x**&lt;/b&gt;" in out


class ActiveMarkup(HTMLParser):
    """Collects every tag, attribute and link target of rendered HTML."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.problems: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        if tag not in ALLOWED_TAGS:
            self.problems.append(f"tag {tag}")
        for name, value in attrs:
            if name not in ALLOWED_ATTRIBUTES.get(tag, set()) and name != "rel":
                self.problems.append(f"attribute {name} on {tag}")
            if name == "href" and value.split(":", 1)[0].lower() not in SAFE_SCHEMES:
                self.problems.append(f"href {value}")


@pytest.mark.parametrize(
    "attack",
    [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "[click](javascript:alert(1))",
        "[click](JaVaScRiPt:alert(1))",
        "[x](data:text/html;base64,PHNjcmlwdD4=)",
        '<a href="javascript:alert(1)">x</a>',
        "<iframe src=https://evil.example></iframe>",
        "![img](https://evil.example/x.png)",
        "<svg onload=alert(1)>",
        "[x](vbscript:msgbox)",
        "[x](  javascript:alert(1))",
        "<https://ok.example> [y](java&#09;script:alert(1))",
    ],
)
def test_no_html_injection(attack):
    out = render(attack)
    assert ActiveMarkup(out).problems == [], out
    assert "<script" not in out and "<img" not in out


def test_links_are_detected_and_made_safe():
    out = render("see https://example.org/a?b=1 now")
    assert '<a href="https://example.org/a?b=1" rel="noopener noreferrer nofollow ugc">' in out
    assert find_links("see https://example.org/a?b=1, and http://x.test/y).") == [
        "https://example.org/a?b=1",
        "http://x.test/y",
    ]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=200))
def test_arbitrary_input_never_yields_active_markup(text):
    assert ActiveMarkup(render(text)).problems == []


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "<",
                ">",
                "[",
                "]",
                "(",
                ")",
                "`",
                "*",
                "_",
                "|",
                "~",
                "javascript:",
                "href=",
                "a",
                " ",
                "\n",
                "<a ",
                "<img ",
                "onerror=",
                '"',
                "'",
                "http://x.test",
            ]
        ),
        max_size=40,
    )
)
def test_hostile_fragments_never_yield_active_markup(parts):
    assert ActiveMarkup(render("".join(parts))).problems == []
