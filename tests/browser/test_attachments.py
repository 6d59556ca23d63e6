"""Attachments in the widget: a message carrying an image and a PDF, sent by
another client, appears with a thumbnail that opens full size and a file card
that downloads."""
import io

import pytest
from playwright.sync_api import expect

import uploadfiles as files
from realservices import ChatClient

pytestmark = pytest.mark.browser


def upload(chat, content, name):
    r = chat.session.post(chat.server.url + "/chat/api/uploads", timeout=10,
                          files={"file": (name, io.BytesIO(content))})
    assert r.status_code == 201, r.text
    return r.json()["attachment"]


def test_image_and_pdf_arrive_as_thumbnail_and_file_card(open_chat, server):
    alice = open_chat("alice")
    bob = open_chat("bob", go=False)
    photo = upload(bob, files.jpeg_with_gps((1200, 800)), "beach.jpg")
    doc = upload(bob, files.pdf(), "plan.pdf")
    sender = ChatClient(server.url, bob.session)
    try:
        ack = sender.call("chat-to", {"to": alice.user["id"], "content": "see these",
                                      "attachments": [photo["id"], doc["id"]]})
        assert ack["ok"], ack
    finally:
        sender.close()
    alice.open_with(bob)
    bubble = alice.bubble("see these", "other")
    expect(bubble).to_have_count(1)
    thumb = bubble.locator("img.chat-attachment")
    expect(thumb).to_have_count(1)
    expect(thumb).to_have_attribute("src", photo["thumb_url"])
    expect(thumb).to_have_attribute("alt", "beach.jpg")
    # The thumbnail really loads (alice may see it), and opens the full image.
    thumb.scroll_into_view_if_needed()
    alice.page.wait_for_function(
        "img => img.complete && img.naturalWidth === 320", arg=thumb.element_handle())
    expect(bubble.locator(f'a[href="{photo["url"]}"]')).to_have_count(1)
    card = bubble.locator("a.chat-attachment[download]")
    expect(card).to_have_count(1)
    expect(card).to_have_attribute("href", doc["url"])
    expect(card).to_have_attribute("download", "plan.pdf")
    expect(card).to_contain_text("plan.pdf")
    with alice.page.expect_download() as got:
        card.click()
    path = got.value.path()
    with open(path, "rb") as f:
        assert f.read() == files.pdf()
