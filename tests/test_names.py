"""Standalone names (contract v2.0): NFKC, letters and digits of any script
plus ``_ . -``, 1-32 code points, unique under Unicode case folding."""
import pytest
from werkzeug.security import generate_password_hash

from chatapp.standalone import names
from chatapp.standalone.models import User
from chatapp.standalone.models import db

PASSWORD = "password123"


def register(client, name, password=PASSWORD):
    return client.post("/auth/register", json={"username": name, "password": password})


@pytest.mark.parametrize("raw, stored", [
    ("张伟", "张伟"), ("ＡＢＣ", "ABC"), ("Straße", "Straße"), ("e\u0301", "\u00e9"),
    ("ｶﾀｶﾅ", "カタカナ"), ("١٢٣", "١٢٣"), ("a_b.c-d", "a_b.c-d"), ("x" * 32, "x" * 32),
    ("Ⅻ", "XII"), ("Ωμέγα", "Ωμέγα")])
def test_valid_names_are_stored_in_nfkc(raw, stored):
    assert names.clean(raw) == stored


@pytest.mark.parametrize("raw", [
    "", "a b", "张 伟", "a\u3000b", "a\x07", "a\x00", "a\u200bb", "tab\t", "x" * 33,
    "<b>", "a@b", "a+b", "😀", "a/b", None, 42])
def test_invalid_names_are_refused(raw):
    assert names.clean(raw) is None


@pytest.mark.parametrize("a, b", [
    ("ＡＢＣ", "abc"), ("Straße", "STRASSE"), ("ΣΊΣΥΦΟΣ", "σίσυφος"), ("Alice", "aLICE"),
    ("é", "E\u0301")])
def test_keys_collide_under_case_folding(a, b):
    assert names.key(names.clean(a)) == names.key(names.clean(b))


def test_ascii_keys_equal_the_keys_earlier_releases_stored():
    for name in ("Alice", "bob_9", "A.B-C", "x" * 32):
        assert names.key(name) == name.lower()


def test_a_key_longer_than_its_column_is_a_digest_that_still_collides():
    long_name = "ß" * 20  # folds to 40 code points
    key = names.key(long_name)
    assert len(key) <= names.KEY_LENGTH and key.startswith("#")
    assert key == names.key("SS" * 20) != names.key("ß" * 19)


def test_chinese_name_registers_and_logs_in(client, app):
    r = register(client, "张伟")
    assert r.status_code == 201, r.json
    assert r.json["user"]["username"] == "张伟"
    other = app.test_client()
    r = other.post("/auth/login", json={"username": "张伟", "password": PASSWORD})
    assert r.status_code == 200
    assert other.get("/chat/api/me").json["user"]["username"] == "张伟"


@pytest.mark.parametrize("first, second", [
    ("abc", "ＡＢＣ"), ("ＡＢＣ", "abc"), ("Straße", "STRASSE"), ("ß" * 20, "\u1e9e" * 20)])
def test_names_equal_under_folding_are_taken(client, app, first, second):
    assert register(client, first).status_code == 201
    r = register(app.test_client(), second)
    assert r.status_code == 409
    assert r.json["error"]["code"] == "taken"


def test_stored_form_is_nfkc_and_login_accepts_any_equal_form(client, app):
    assert register(client, "ＡＢＣ").json["user"]["username"] == "ABC"
    other = app.test_client()
    assert other.post("/auth/login", json={"username": "abc", "password": PASSWORD}).status_code == 200


@pytest.mark.parametrize("name", ["a b", "张 伟", "bad\x07name", "zero\u200bwidth", "x" * 33])
def test_space_or_control_refused(client, name):
    r = register(client, name)
    assert r.status_code == 400
    assert r.json["error"]["code"] == "invalid"


def test_account_from_an_earlier_release_keeps_working(client, app):
    """A row written by the v1.1 code (key = name.lower()) logs in and still blocks its name."""
    with app.app_context():
        db.session.add(User(username="OldTimer", username_key="oldtimer",
                            password_hash=generate_password_hash(PASSWORD)))
        db.session.commit()
    r = client.post("/auth/login", json={"username": "OLDTIMER", "password": PASSWORD})
    assert r.status_code == 200
    assert register(app.test_client(), "oldtimer").status_code == 409
    assert register(app.test_client(), "ＯＬＤＴＩＭＥＲ").status_code == 409


@pytest.mark.parametrize("q, found", [
    ("伟", ["张伟"]), ("ΣΊΣ", ["σίσυφος"]), ("σισ", []), ("ＡＢ", ["abc"]), ("STRASSE", ["Straße"]),
    ("straße", ["Straße"]), ("ẞ", ["Straße"]), ("c", ["abc"])])
def test_people_search_folds_case_in_any_script(auth, q, found):
    me = auth.register("me")
    for name in ("张伟", "σίσυφος", "abc", "Straße"):
        auth.register(name)
    r = me.get("/chat/api/users", query_string={"q": q})
    assert r.status_code == 200
    assert [u["username"] for u in r.json["users"]] == found
