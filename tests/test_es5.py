"""chat.js (and the vendored client) must run on ES5 browsers as shipped.

esprima parses up to ES2017, so parsing alone proves little: the syntax tree
is walked for every construct that ES5 lacks.
"""
import re
from pathlib import Path

import esprima
import pytest

STATIC = Path(__file__).resolve().parent.parent / "chatapp" / "static"
CHAT_JS = (STATIC / "chat.js").read_text(encoding="utf-8")

LATER_NODES = {
    "ArrowFunctionExpression", "ClassDeclaration", "ClassExpression", "TemplateLiteral",
    "TaggedTemplateExpression", "ObjectPattern", "ArrayPattern", "AssignmentPattern",
    "RestElement", "SpreadElement", "ForOfStatement", "AwaitExpression", "YieldExpression",
    "MetaProperty", "Super", "Import",
}


def es5_violations(source):
    """Post-ES5 constructs in ``source``, as ``"<what> at line <n>"`` strings."""
    tree = esprima.parseScript(source, {"loc": True}).toDict()
    found = []

    def flag(node, what):
        found.append(f"{what} at line {node['loc']['start']['line']}")

    def walk(node):
        if isinstance(node, list):
            for child in node:
                walk(child)
            return
        if not isinstance(node, dict):
            return
        kind = node.get("type")
        if kind in LATER_NODES:
            flag(node, kind)
        if kind == "VariableDeclaration" and node["kind"] != "var":
            flag(node, node["kind"])
        if kind in ("FunctionDeclaration", "FunctionExpression") and (
                node.get("async") or node.get("generator")):
            flag(node, "async or generator function")
        if kind == "Property" and (node.get("shorthand") or node.get("method")
                                   or node.get("computed")):
            flag(node, "ES2015 object literal property")
        if kind in ("BinaryExpression", "AssignmentExpression") and "**" in node["operator"]:
            flag(node, "exponent operator")
        if kind == "Literal":
            regex = node.get("regex")
            if regex and set(regex["flags"]) - set("gim"):
                flag(node, "regular expression flag")
            raw = str(node.get("raw", ""))
            if re.match(r"0[bBoO]", raw) or "\\u{" in raw:
                flag(node, "ES2015 literal")
        for key, value in node.items():
            if key != "loc":
                walk(value)

    walk(tree)
    return found


def test_chat_js_is_es5():
    assert es5_violations(CHAT_JS) == []


def test_vendored_socketio_client_is_es5():
    source = (STATIC / "vendor" / "socket.io.min.js").read_text(encoding="utf-8")
    assert es5_violations(source) == []


@pytest.mark.parametrize("sample", [
    "let x = 1;",
    "const y = 2;",
    "var f = (a) => a;",
    "class A {}",
    "var s = `x${1}`;",
    "var o = {}; var {a} = o;",
    "function f(a = 1) { return a; }",
    "function f(...rest) { return rest; }",
    "Math.max(...[1, 2]);",
    "for (var x of []) {}",
    "var a = 1, b = 2; var o = {a, b};",
    "var o = {m() {}};",
    "var k = 'a'; var o = {[k]: 1};",
    "async function f() {}",
    "function* g() { yield 1; }",
    "var p = 2 ** 8;",
    "var r = /a/u;",
    "var n = 0b101;",
    "var s = '\\u{1F600}';",
])
def test_later_syntax_is_caught(sample):
    assert es5_violations(sample), sample


def test_es5_sample_passes():
    sample = "(function () { 'use strict'; var o = {a: 1, 'b': [2, 3]}; o.a += 1; }());"
    assert es5_violations(sample) == []


def test_http_uses_xmlhttprequest_and_text_is_never_html():
    assert "XMLHttpRequest" in CHAT_JS
    assert "fetch(" not in CHAT_JS
    for html_sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert html_sink not in CHAT_JS, html_sink


def test_one_iife_exports_only_chat_widget():
    body = esprima.parseScript(CHAT_JS).toDict()["body"]
    assert len(body) == 1 and body[0]["type"] == "ExpressionStatement"
    call = body[0]["expression"]
    assert call["type"] == "CallExpression" and call["callee"]["type"] == "FunctionExpression"
    assert re.findall(r"window\.(\w+)\s*=[^=]", CHAT_JS) == ["ChatWidget"]
