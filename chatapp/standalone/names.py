"""The rule for standalone account names (contract v2.0, "Languages").

A name is 1 to 32 code points after NFKC normalisation, each a letter or a
digit of any script (Unicode categories L* and Nd) or one of ``_ . -``. Names
are stored in their NFKC form and are unique under full Unicode case folding
(``Straße`` = ``STRASSE``, ``ＡＢＣ`` = ``abc``).

The uniqueness key is NFKC(casefold(NFKC(name))), Unicode's caseless identifier
match. For ASCII names it equals ``name.lower()``, the key earlier releases
stored, so existing accounts keep their key unchanged. The key column holds 32
code points; case folding can lengthen a name (``ß`` -> ``ss``), so a key longer
than that is stored as ``#`` and a digest (``#`` is never part of a name, so a
digest never equals a plain key).
"""
import hashlib
import unicodedata

MAX_LENGTH = 32
KEY_LENGTH = 32
PUNCTUATION = frozenset("_.-")


def normalize(name):
    """The stored form of ``name``: NFKC."""
    return unicodedata.normalize("NFKC", name)


def is_valid(name):
    """Whether ``name`` (already NFKC) follows the rule."""
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_LENGTH:
        return False
    for ch in name:
        if ch in PUNCTUATION:
            continue
        category = unicodedata.category(ch)
        if category[0] != "L" and category != "Nd":
            return False
    return True


def clean(name):
    """``name`` in its stored form if it follows the rule, else ``None``."""
    if not isinstance(name, str):
        return None
    name = normalize(name)
    return name if is_valid(name) else None


def fold(text):
    """Caseless form for comparing and searching: NFKC of the case fold of NFKC."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


def key(name):
    """The uniqueness key stored with a name."""
    folded = fold(name)
    if len(folded) <= KEY_LENGTH:
        return folded
    return "#" + hashlib.sha256(folded.encode("utf-8")).hexdigest()[:KEY_LENGTH - 1]
