"""Colours as the browser computed them: WCAG contrast of an element's text
against what is really behind it (the nearest painted background, gradients
included), and the boxes of elements, to compare looks across pages."""

CONTRAST_JS = r"""
([el, pseudo]) => {
  function parse(c) {
    var m = c.match(/rgba?\(([^)]+)\)/);
    if (!m) { return null; }
    var p = m[1].split(/[ ,\/]+/).filter(Boolean).map(Number);
    return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1};
  }
  function lum(c) {
    var f = function (v) { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
  }
  function over(top, bottom) {
    var a = top.a;
    return {r: top.r * a + bottom.r * (1 - a), g: top.g * a + bottom.g * (1 - a),
            b: top.b * a + bottom.b * (1 - a), a: 1};
  }
  function backgrounds(node) {
    // Every colour that may sit behind the text: gradient stops, or the first opaque colour.
    var layers = [];
    for (var n = node; n && n.nodeType === 1; n = n.parentElement) {
      var s = getComputedStyle(n);
      var stops = (s.backgroundImage.match(/rgba?\([^)]+\)/g) || []).map(parse);
      if (stops.length) { return {stops: stops, layers: layers}; }
      var bg = parse(s.backgroundColor);
      if (bg && bg.a > 0) {
        layers.push(bg);
        if (bg.a >= 1) { return {stops: [bg], layers: layers.slice(0, -1)}; }
      }
    }
    return {stops: [{r: 255, g: 255, b: 255, a: 1}], layers: layers};
  }
  var style = getComputedStyle(el, pseudo || null);
  var fg = parse(style.color);
  var bgs = backgrounds(el);
  var worst = 99;
  bgs.stops.forEach(function (stop) {
    var bg = stop;
    for (var i = bgs.layers.length - 1; i >= 0; i--) { bg = over(bgs.layers[i], bg); }
    var f = over(fg, bg);
    var opacity = 1;
    for (var n = el; n && n.nodeType === 1; n = n.parentElement) { opacity *= Number(getComputedStyle(n).opacity); }
    f = over({r: f.r, g: f.g, b: f.b, a: opacity}, bg);
    var l1 = lum(f), l2 = lum(bg);
    var ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
    if (ratio < worst) { worst = ratio; }
  });
  return Math.round(worst * 100) / 100;
}
"""

BOX_JS = """el => { var r = el.getBoundingClientRect(); var s = getComputedStyle(el);
  return [Math.round(r.width), Math.round(r.height), s.fontFamily, s.fontSize, s.listStyleType,
          s.boxSizing, s.color, s.backgroundColor]; }"""


def contrast(locator, pseudo=None):
    """The worst WCAG contrast ratio of the element's text over its background."""
    return locator.evaluate(CONTRAST_JS.replace("([el, pseudo])", "(el)").replace(
        "var style = getComputedStyle(el, pseudo || null);",
        "var style = getComputedStyle(el, %s);" % (f"'{pseudo}'" if pseudo else "null")))


def looks(locator):
    """Size, font, list style, box sizing and colours of an element."""
    return locator.evaluate(BOX_JS)
