/* ChatI18n: the widget's words, plurals, times and dates in the user's language.
 *
 * ES5, no build step. Each language is one catalog file (static/i18n/<tag>.js)
 * that registers itself in window.ChatI18nCatalogs; this module picks one and
 * formats with it. English (en.js) is the fallback for a missing id.
 *
 *   var i = ChatI18n.create(ChatI18n.pick(rootElement));
 *   i.t('send');                          // "Send" / "发送"
 *   i.t('new_messages', {count: 3});      // "3 new messages" / "3 条新消息"
 *   i.relTime(iso, withClock);            // "just now" / "刚刚", "昨天 14:05"
 *   i.dayLabel(date);                     // "Today" / "今天", "3 Nov" / "11月3日"
 *   i.dayHeading(date);                   // "Fri, 3 Nov" / "11月3日 周五"
 */
(function (window) {
  'use strict';

  var catalogs = window.ChatI18nCatalogs = window.ChatI18nCatalogs || {};
  var SOURCE = 'en';
  // Tags that mean Simplified Chinese (the server uses the same list).
  var ALIASES = {'zh': 'zh-hans', 'zh-cn': 'zh-hans', 'zh-sg': 'zh-hans', 'zh-my': 'zh-hans',
                 'zh-hans-cn': 'zh-hans', 'zh-hans-sg': 'zh-hans', 'zh-hans-my': 'zh-hans'};

  function available() {
    var tags = [];
    for (var k in catalogs) {
      if (Object.prototype.hasOwnProperty.call(catalogs, k)) { tags.push(k); }
    }
    return tags;
  }

  // The loaded catalog that `tag` asks for, else null: the exact tag, then the
  // Simplified Chinese aliases, then the primary language (en-GB -> en).
  function match(tag) {
    if (!tag || typeof tag !== 'string') { return null; }
    var wanted = tag.replace(/^\s+|\s+$/g, '').replace(/_/g, '-').toLowerCase();
    var tags = available();
    var byLower = {};
    for (var i = 0; i < tags.length; i++) { byLower[tags[i].toLowerCase()] = tags[i]; }
    if (byLower[wanted]) { return byLower[wanted]; }
    var alias = ALIASES[wanted];
    if (alias && byLower[alias]) { return byLower[alias]; }
    var primary = wanted.split('-')[0];
    return byLower[primary] || null;
  }

  // The widget's language: data-chat-lang on the widget, else <html lang>,
  // else the server's choice (data-server-lang), else English.
  function pick(root) {
    var doc = root && root.ownerDocument || window.document;
    var candidates = [
      root && root.getAttribute('data-chat-lang'),
      doc && doc.documentElement && doc.documentElement.getAttribute('lang'),
      root && root.getAttribute('data-server-lang')
    ];
    for (var i = 0; i < candidates.length; i++) {
      var found = match(candidates[i]);
      if (found) { return found; }
    }
    return catalogs[SOURCE] ? SOURCE : (available()[0] || SOURCE);
  }

  function pad(n) { return n < 10 ? '0' + n : String(n); }

  function fill(text, values) {
    return String(text).replace(/\{(\w+)\}/g, function (whole, name) {
      return values && Object.prototype.hasOwnProperty.call(values, name) ? String(values[name]) : whole;
    });
  }

  function sameDay(a, b) {
    return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() &&
      a.getDate() === b.getDate();
  }

  function create(tag) {
    var cat = catalogs[tag] || catalogs[SOURCE] || {messages: {}};
    var fallback = catalogs[SOURCE] || cat;

    function plural(n) {
      return (cat.plural || fallback.plural || function () { return 'other'; })(n);
    }

    function lookup(id) {
      if (Object.prototype.hasOwnProperty.call(cat.messages, id)) { return {c: cat, v: cat.messages[id]}; }
      if (fallback.messages && Object.prototype.hasOwnProperty.call(fallback.messages, id)) {
        return {c: fallback, v: fallback.messages[id]};
      }
      return null;
    }

    // t(id[, values]): the message; for a plural message values.count picks the form.
    function t(id, values) {
      var found = lookup(id);
      if (!found) { return id; }
      var text = found.v;
      if (text && typeof text === 'object') {
        var n = values && typeof values.count === 'number' ? values.count : 0;
        var form = (found.c.plural || plural)(n);
        text = Object.prototype.hasOwnProperty.call(text, form) ? text[form] : text.other;
      }
      return fill(text, values);
    }

    function clock(d) {
      return t('clock', {HH: pad(d.getHours()), mm: pad(d.getMinutes()),
                         H: d.getHours(), m: d.getMinutes()});
    }

    function date(d, now) {
      var list = cat.months || fallback.months;
      var values = {d: d.getDate(), M: d.getMonth() + 1, MMM: list[d.getMonth()], yyyy: d.getFullYear()};
      return t(d.getFullYear() === now.getFullYear() ? 'date_this_year' : 'date_other_year', values);
    }

    function weekday(d) {
      return (cat.weekdays || fallback.weekdays)[d.getDay()];
    }

    // A day as a heading: Today, Yesterday, a weekday within the week, else a date.
    function dayLabel(d, nowMs) {
      var now = new Date(nowMs === undefined ? Date.now() : nowMs);
      if (sameDay(d, now)) { return t('today'); }
      if (sameDay(d, new Date(now.getTime() - 86400000))) { return t('yesterday'); }
      if (now.getTime() - d.getTime() < 6 * 86400000 && d.getTime() <= now.getTime()) {
        return weekday(d);
      }
      return date(d, now);
    }

    // A day separator: Today, Yesterday, else the weekday and the date
    // ('Fri, 3 Nov' / '11月3日 周五').
    function dayHeading(d, nowMs) {
      var now = new Date(nowMs === undefined ? Date.now() : nowMs);
      if (sameDay(d, now)) { return t('today'); }
      if (sameDay(d, new Date(now.getTime() - 86400000))) { return t('yesterday'); }
      return t('day_heading', {weekday: weekday(d), date: date(d, now)});
    }

    // A message's time relative to now: just now, N min ago, the clock today,
    // else the day (with the clock when withClock).
    function relTime(iso, withClock, nowMs) {
      var ms = typeof iso === 'number' ? iso : Date.parse(iso);
      if (isNaN(ms)) { return ''; }
      var now = nowMs === undefined ? Date.now() : nowMs;
      var diff = now - ms;
      if (diff < 60000) { return t('just_now'); }
      if (diff < 3600000) {
        var mins = Math.floor(diff / 60000);
        return t('minutes_ago', {count: mins});
      }
      var d = new Date(ms);
      if (sameDay(d, new Date(now))) { return clock(d); }
      var day = dayLabel(d, now);
      return withClock ? t('day_time', {day: day, time: clock(d)}) : day;
    }

    return {lang: cat.lang || tag, t: t, plural: plural, clock: clock, date: date,
            weekday: weekday, dayLabel: dayLabel, dayHeading: dayHeading, relTime: relTime};
  }

  window.ChatI18n = {create: create, pick: pick, match: match, available: available};
}(window));
