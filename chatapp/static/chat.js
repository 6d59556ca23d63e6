/* chatapp browser widget.
 *
 * ES5 only and no build step, so old browsers run this file as it is; HTTP
 * goes through XMLHttpRequest and sockets through the vendored Socket.IO
 * client, which falls back to long-polling where WebSocket is missing.
 * Message text is only ever inserted as text nodes, never as HTML.
 */
(function (window, document) {
  'use strict';

  var root = document.getElementById('chat-widget');
  if (!root || window.ChatWidget) { return; }

  var PREFIX = (root.getAttribute('data-prefix') || '/chat').replace(/\/+$/, '');
  var NAMESPACE = root.getAttribute('data-namespace') || '/chat';
  var MODE = root.getAttribute('data-mode') === 'page' ? 'page' : 'docked';
  var LOGOUT_URL = root.getAttribute('data-logout-url');
  // The words, plurals and times of the page's language (chat-i18n.js and the
  // catalogs in static/i18n/ come before this file): data-chat-lang, else
  // <html lang>, else the server's choice.
  var I18N = window.ChatI18n.create(window.ChatI18n.pick(root));
  var t = I18N.t;
  root.setAttribute('lang', I18N.lang);
  var PAGE_SIZE = 30;          // history page when opening or scrolling up
  var CACHE_LIMIT = 100;       // messages kept per conversation in sessionStorage
  var SEND_TIMEOUT = 10000;    // ms before a send without an ack counts as failed
  var TYPING_EVERY = 2500;     // ms between our typing notices
  var TYPING_SHOWN = 4000;     // ms a typing notice stays visible
  var GROUP_GAP = 5 * 60000;   // bubbles closer than this are grouped
  var MAX_LENGTH = parseInt(root.getAttribute('data-max-length'), 10) || 2000;
  var COUNTER_FROM = 200;      // the composer counts down from this many characters left
  var PRESENCE_EVERY = 10000;  // ms between presence checks of an open chat without messages
  var RETRY_AFTER = 3000;      // ms before the outbox tries again after a failed send
  // Refusals that sending again cannot change: the text goes back to the composer.
  var FINAL = {too_long: 1, empty: 1, invalid: 1, forbidden: 1, blocked: 1, unknown_user: 1,
               not_found: 1, unsupported: 1};

  var me = null;               // the logged-in User
  var convs = {};              // String(other id) -> direct conversation; 'g#' + id -> group
  var byCid = {};              // String(conversation id) -> conversation, both kinds
  var people = {};             // String(user id) -> User: group members, for names and avatars
  var named = {};              // String(user id) -> 'asking' | 'gone': names asked of the server
  var listGen = 0;             // counts list fetches: a group announced since is not stale
  var versions = 0;            // counts group updates
  var current = null;          // the conversation on screen
  var socket = null;
  var connected = false;
  var stopped = false;         // after logout nothing touches the cache again
  var ready = false;
  var queuedOpen = null;       // open() called before /api/me answered
  var panelOpen = MODE === 'page';
  var unseen = 0;              // messages that came while the tab was hidden
  var listKnown = false;       // the list has been answered once (here or in the cache)
  var flushing = false;        // the outbox is sending its oldest message
  var flushTimer = null;
  var connectedOnce = false;
  var baseTitle = document.title;
  var ui = {};

  // -- DOM helpers ---------------------------------------------------------

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined && text !== null) { node.appendChild(document.createTextNode(String(text))); }
    return node;
  }

  function attrs(node, map) {
    for (var k in map) {
      if (Object.prototype.hasOwnProperty.call(map, k)) { node.setAttribute(k, map[k]); }
    }
    return node;
  }

  function setText(node, text) {
    var value = text === undefined || text === null ? '' : String(text);
    if (node.textContent !== value) { node.textContent = value; }
  }

  function clear(node) {
    while (node.firstChild) { node.removeChild(node.firstChild); }
  }

  function show(node, visible) {
    node.hidden = !visible;
  }

  function toggle(node, cls, on) {
    if (on) { node.classList.add(cls); } else { node.classList.remove(cls); }
  }

  // An input method (Chinese pinyin, Japanese...) is composing: its Enter
  // confirms a candidate. Chromium and Firefox say isComposing; Safari and
  // older browsers send keyCode 229 for keys the IME consumes.
  function composing(e) {
    return !!e.isComposing || e.keyCode === 229 || e.which === 229;
  }

  function on(node, type, fn) {
    node.addEventListener(type, fn, false);
  }

  function closest(node, selector) {
    var matches = Element.prototype.matches || Element.prototype.msMatchesSelector ||
      Element.prototype.webkitMatchesSelector;
    while (node && node.nodeType === 1) {
      if (matches.call(node, selector)) { return node; }
      node = node.parentNode;
    }
    return null;
  }

  var ICONS = {
    send: 'M3.4 20.4 21 12 3.4 3.6 3.4 10.2 16 12 3.4 13.8z',
    back: 'M20 11H7.8l5.6-5.6L12 4l-8 8 8 8 1.4-1.4L7.8 13H20z',
    chat: 'M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z',
    close: 'M19 6.4 17.6 5 12 10.6 6.4 5 5 6.4 10.6 12 5 17.6 6.4 19 12 13.4 17.6 19 19 17.6 13.4 12z',
    logout: 'M10 17l1.4-1.4L8.8 13H20v-2H8.8l2.6-2.6L10 7l-5 5zM4 3h8v2H4v14h8v2H4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z',
    bell: 'M12 22a2 2 0 0 0 2-2h-4a2 2 0 0 0 2 2zm6-6V11c0-3.1-1.6-5.6-4.5-6.3V4a1.5 1.5 0 0 0-3 0v.7C7.6 5.4 6 7.9 6 11v5l-2 2v1h16v-1z',
    down: 'M12 16.6 5.4 10 6.8 8.6 12 13.8l5.2-5.2 1.4 1.4z',
    clip: 'M16.5 6v11.5a4 4 0 0 1-8 0V5a2.5 2.5 0 0 1 5 0v10.5a1 1 0 0 1-2 0V6H10v9.5a2.5 2.5 0 0 0 5 0V5a4 4 0 0 0-8 0v12.5a5.5 5.5 0 0 0 11 0V6z'
  };

  function icon(name) {
    var ns = 'http://www.w3.org/2000/svg';
    var svg = document.createElementNS(ns, 'svg');
    var path = document.createElementNS(ns, 'path');
    attrs(svg, {viewBox: '0 0 24 24', width: '20', height: '20', 'aria-hidden': 'true', focusable: 'false'});
    path.setAttribute('d', ICONS[name]);
    path.setAttribute('fill', 'currentColor');
    svg.appendChild(path);
    return svg;
  }

  function button(cls, label, iconName, text) {
    var b = attrs(el('button', cls), {type: 'button'});
    if (label) { b.setAttribute('aria-label', label); b.title = label; }
    if (iconName) { b.appendChild(icon(iconName)); }
    if (text) { b.appendChild(el('span', null, text)); }
    return b;
  }

  function avatar(user, cls) {
    var box = el('span', 'chat-avatar' + (cls ? ' ' + cls : ''));
    var img = attrs(el('img'), {alt: '', width: '40', height: '40'});
    box.appendChild(img);
    box.appendChild(el('span', 'chat-dot'));
    setAvatar(box, user);
    return box;
  }

  function setAvatar(box, user) {
    var img = box.firstChild;
    var src = user && user.avatar ? String(user.avatar) : '';
    if (src && img.getAttribute('src') !== src) { img.setAttribute('src', src); }
    toggle(box, 'is-online', !!(user && user.online));
  }

  // -- ids, time -------------------------------------------------------------

  function key(id) { return String(id); }

  function sameId(a, b) { return a !== null && a !== undefined && String(a) === String(b); }

  function toId(value) {
    // Attributes give strings; the standalone app's ids are integers.
    if (typeof value === 'number') { return value; }
    var s = String(value);
    if (me && typeof me.id === 'number' && /^\d+$/.test(s)) { return parseInt(s, 10); }
    return s;
  }

  function nameOf(user) {
    return user && user.username ? String(user.username) : '\u2026';
  }

  function sameDay(a, b) {
    return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() &&
      a.getDate() === b.getDate();
  }

  function relTime(iso, withTime) {
    return I18N.relTime(iso, withTime);  // 'just now' / '刚刚', 'Yesterday 14:05' / '昨天 14:05'
  }

  function timeNode(cls, withTime) {
    var node = el('time', cls);
    if (withTime) { node.setAttribute('data-long', '1'); }
    return node;
  }

  function setTime(node, iso) {
    if (!iso) { setText(node, ''); return; }
    if (node.getAttribute('data-time') !== iso) {
      node.setAttribute('data-time', iso);
      node.setAttribute('datetime', iso);
      var d = new Date(Date.parse(iso));
      node.title = isNaN(d.getTime()) ? '' : d.toLocaleString(I18N.lang);
    }
    if (node.getAttribute('data-clock') === '1') {
      var at = new Date(Date.parse(iso));
      setText(node, isNaN(at.getTime()) ? '' : I18N.clock(at));
      return;
    }
    setText(node, relTime(iso, node.getAttribute('data-long') === '1'));
  }

  function refreshTimes() {
    var nodes = root.querySelectorAll('time[data-time]');
    for (var i = 0; i < nodes.length; i++) { setTime(nodes[i], nodes[i].getAttribute('data-time')); }
  }

  // -- HTTP ------------------------------------------------------------------

  function request(method, url, body, done, progress) {
    var xhr = new XMLHttpRequest();
    var form = !!window.FormData && body instanceof window.FormData;  // an upload
    xhr.open(method, url, true);
    xhr.setRequestHeader('Accept', 'application/json');
    // The server words its errors in the widget's language (the page's, which
    // may differ from the browser's).
    xhr.setRequestHeader('Accept-Language', I18N.lang);
    if (body !== undefined && !form) { xhr.setRequestHeader('Content-Type', 'application/json'); }
    if (progress && xhr.upload) { xhr.upload.onprogress = progress; }
    xhr.onreadystatechange = function () {
      if (xhr.readyState !== 4) { return; }
      var data = null;
      try { data = xhr.responseText ? JSON.parse(xhr.responseText) : null; } catch (e) { data = null; }
      if (xhr.status >= 200 && xhr.status < 300) { done(null, data); return; }
      var error = data && data.error ? data.error : {code: 'network', message: t('unreachable')};
      done({status: xhr.status, code: error.code, message: error.message}, null);
    };
    xhr.send(body === undefined ? null : form ? body : JSON.stringify(body));
    return xhr;
  }

  function api(path, done) {
    request('GET', PREFIX + '/api' + path, undefined, function (err, data) {
      if (stopped) { return; }
      if (err && err.status === 401) { signedOut(); return; }
      done(err, data);
    });
  }

  // -- sessionStorage cache ----------------------------------------------------
  // Keys are "chat:<user id>:<name>"; a full or disabled storage means no cache.

  var storage = (function () {
    try {
      var s = window.sessionStorage;
      s.setItem('chat-probe', '1');
      s.removeItem('chat-probe');
      return s;
    } catch (e) {
      return null;
    }
  }());

  var cache = {
    owner: null,

    keys: function (prefix) {
      var out = [];
      if (!storage) { return out; }
      try {
        for (var i = 0; i < storage.length; i++) {
          var k = storage.key(i);
          if (k && k.indexOf(prefix) === 0) { out.push(k); }
        }
      } catch (e) { return out; }
      return out;
    },

    remove: function (keys) {
      for (var i = 0; i < keys.length; i++) {
        try { storage.removeItem(keys[i]); } catch (e) { /* nothing to keep */ }
      }
    },

    own: function (userId) {
      // One tab may see several users in turn: never show one another's cache.
      var mine = 'chat:' + key(userId) + ':';
      var others = [];
      var all = this.keys('chat:');
      for (var i = 0; i < all.length; i++) {
        if (all[i].indexOf(mine) !== 0) { others.push(all[i]); }
      }
      this.remove(others);
      this.owner = key(userId);
    },

    name: function (name) { return 'chat:' + this.owner + ':' + name; },

    get: function (name) {
      if (!storage || this.owner === null) { return null; }
      try {
        var raw = storage.getItem(this.name(name));
        return raw ? JSON.parse(raw) : null;
      } catch (e) {
        return null;
      }
    },

    set: function (name, value) {
      if (!storage || this.owner === null || stopped) { return; }
      var k = this.name(name);
      var raw;
      try { raw = JSON.stringify(value); } catch (e) { return; }
      try {
        storage.setItem(k, raw);
      } catch (full) {
        // Full: drop the other conversations and try once more, else go without.
        var others = this.keys(this.name('c:'));
        this.remove(others.filter(function (o) { return o !== k; }));
        try { storage.setItem(k, raw); } catch (still) { this.remove([k]); }
      }
    },

    clear: function () {
      this.remove(this.keys('chat:'));
      this.owner = null;
    }
  };

  function saveConv(c) {
    if (!c.loaded || !convs[c.key]) { return; }
    // Older history on screen (a search result) is not the conversation's
    // newest part: nothing of it is cached, and a reload opens the newest page.
    if (detached(c)) { cache.remove([cache.name('c:' + c.key)]); return; }
    // A gap left by a lost connection is filled by the sync from the cached rev,
    // which only moves on once the changes up to it are applied and saved.
    var kept = c.msgs;
    var trimmed = kept.length > CACHE_LIMIT;
    if (trimmed) { kept = kept.slice(kept.length - CACHE_LIMIT); }
    cache.set('c:' + c.key, {other: c.other, g: c.g, msgs: kept, hasMore: c.hasMore || trimmed});
  }

  function saveList() {
    var list = [];
    var order = listOrder();
    for (var i = 0; i < order.length; i++) {
      var c = order[i];
      list.push({other: c.other, g: c.g, last_message: c.last, unread: c.unread, floor: c.floor});
    }
    cache.set('list', list);
  }

  // -- conversations -----------------------------------------------------------

  function conversation(other) {
    var k = key(other.id);
    var c = convs[k];
    if (!c) {
      c = convs[k] = {key: k, other: {id: other.id}, last: null, unread: 0, msgs: [], byId: {},
                      pending: [], hasMore: false, loaded: false, hasNewer: false, held: {},
                      jumping: false, pageGen: 0,
                      syncing: false, readSent: 0, typingUntil: 0, notice: '',
                      draft: cache.get('draft:' + k) || '', newFrom: null, opening: false,
                      node: null};
      var saved = cache.get('c:' + k);
      c.tray = restoreTray(cache.get('tray:' + k));
      c.g = saved && saved.g;
      if (saved && saved.msgs && saved.msgs.length) {
        updateOther(c, saved.other);
        addMessages(c, saved.msgs);
        c.hasMore = !!saved.hasMore;
        c.loaded = c.cached = true;
      }
    }
    updateOther(c, other);
    return c;
  }

  // A group by its conversation id, with what `g` (a Conversation) says of it.
  // For the rows, headers and notifications its title stands in c.other.username.
  function group(g) {
    var c = conversation({id: 'g#' + g.id});
    c.group = true;
    c.cid = g.id;
    byCid[key(g.id)] = c;
    if (g.members || c.gen === undefined) { c.gen = listGen; }
    if (g.members) { c.g = g; }
    if (c.g && (g.members || !c.ver)) {  // news of its title or members: redraw its faces and senders
      c.ver = ++versions;
      c.other.username = c.g.title;
      for (var i = 0; i < c.g.members.length; i++) { people[key(c.g.members[i].id)] = c.g.members[i]; }
    }
    if (g.last_message && (!c.last || g.last_message.id >= c.last.id)) { c.last = g.last_message; }
    return c;
  }

  // The conversation a message (or an outbox entry) belongs to.
  function convFor(m) {
    if (m.to === null || m.to === undefined) { return group({id: m.conversation}); }
    var c = conversation({id: me && sameId(m.from, me.id) ? m.to : m.from});
    if (m.conversation) { c.cid = m.conversation; byCid[key(c.cid)] = c; }
    return c;
  }

  function userName(c, id) {
    if (me && sameId(id, me.id)) { return t('you'); }
    if (!c.group) { return nameOf(c.other); }
    var k = key(id);
    if (people[k]) { return nameOf(people[k]); }
    if (named[k] === 'gone') { return t('deleted_account'); }
    askName(c, id);
    return nameOf(null);  // "…" until the server answers
  }

  // People a group's messages name who are not among its members (they left,
  // were removed, or their account went) are asked of the server, a group's
  // unknown ids together: GET /groups/<id>/users (an extension of v2.0).
  function askName(c, id) {
    var k = key(id);
    if (named[k] || !c.cid || id === null || id === undefined) { return; }
    named[k] = 'asking';
    var wanted = c.namesWanted || (c.namesWanted = []);
    wanted.push(id);
    if (wanted.length > 1) { return; }  // already on its way out
    window.setTimeout(function () {
      var ids = c.namesWanted.splice(0, 100);
      c.namesWanted = null;
      var query = [];
      for (var i = 0; i < ids.length; i++) { query.push('id=' + encodeURIComponent(ids[i])); }
      api('/groups/' + encodeURIComponent(c.cid) + '/users?' + query.join('&'), function (err, data) {
        var found = {};
        var list = (!err && data && data.users) || [];
        for (var j = 0; j < list.length; j++) {
          found[key(list[j].id)] = true;
          if (!people[key(list[j].id)]) { people[key(list[j].id)] = list[j]; }
        }
        var retry = err && !(err.status >= 400 && err.status < 500);
        for (j = 0; j < ids.length; j++) {
          var n = key(ids[j]);
          // Not in the answer: the account is gone. A network or server failure
          // is asked again on a later redraw; a refusal (no longer a member) is not.
          if (!found[n]) { if (retry) { delete named[n]; } else if (!err) { named[n] = 'gone'; } }
        }
        if (err) { return; }
        changes += 1;
        renderList();
        if (current) { refresh(current); }
      });
    }, 0);
  }

  // What chat-to, typing and read name: the other user, or the group.
  function target(c) {
    return c.group ? {conversation: c.cid} : {to: c.other.id};
  }

  function path(c) {
    return (c.group ? '/groups/' + c.cid : '/conversations/' + encodeURIComponent(c.key)) + '/messages';
  }

  function updateOther(c, other) {
    if (!other) { return; }
    for (var k in other) {
      if (Object.prototype.hasOwnProperty.call(other, k)) { c.other[k] = other[k]; }
    }
  }

  function msgKey(m) {
    return key(m.from) + ':' + (m.client_id ? 'c' + m.client_id : '#' + m.id);
  }

  function addMessages(c, list) {
    for (var i = 0; i < list.length; i++) {
      var m = list[i];
      if (!m || typeof m.id !== 'number') { continue; }
      var old = c.byId[m.id];
      if (old) {
        if (m.read_at && !old.read_at) { old.read_at = m.read_at; }
        if (m.delivered && !old.delivered) { old.delivered = true; }
      } else {
        c.byId[m.id] = m;
        insertSorted(c.msgs, m);
        dropPending(c, m);
      }
      if (!c.last || m.id >= c.last.id) { c.last = c.byId[m.id]; }
    }
  }

  function insertSorted(msgs, m) {
    var i = msgs.length;
    while (i > 0 && msgs[i - 1].id > m.id) { i--; }
    msgs.splice(i, 0, m);
  }

  // A message from the server in its latest state (live, from sync or an ack):
  // merged by id, so nothing shows twice. One older than a loaded conversation's
  // first page waits for that page; a conversation not loaded only learns its last.
  function take(c, m) {
    if (c.byId[m.id]) {
      if (m.deleted || m.edited_at) { onChanged(m); }
    } else if (detached(c) && beyond(c, m)) {
      hold(c, m);
    } else if (c.loaded || c.syncing) {
      if (!(c.hasMore && c.msgs.length && m.id < c.msgs[0].id)) { addMessages(c, [m]); }
    } else if (!c.last || m.id > c.last.id) {
      c.last = m;
    }
  }

  // While a conversation shows a stretch of older history (a search result),
  // or is fetching one, what arrives below that stretch waits in c.held (by id,
  // in its latest state) until the pages scrolled in reach it: no gap, nothing
  // lost, nothing twice.
  function detached(c) {
    return c.hasNewer || c.jumping;
  }

  function beyond(c, m) {
    return c.jumping || !c.msgs.length || m.id > c.msgs[c.msgs.length - 1].id;
  }

  function hold(c, m) {
    var old = c.held[m.id];
    if (!old) {
      c.held[m.id] = m;
    } else if ((m.rev || 0) >= (old.rev || 0)) {
      applyChange(old, m);
      if (m.delivered) { old.delivered = true; }
    }
    if (m.sent_at && (!c.last || m.id > c.last.id)) { c.last = c.held[m.id]; }
  }

  // A message from the server (an ack, a page) into a conversation that may be
  // showing older history.
  function keep(c, m) {
    if (detached(c) && beyond(c, m)) { hold(c, m); } else { addMessages(c, [m]); }
  }

  // The held messages that the shown stretch now reaches join it (or bring it
  // their newer state); after the newest page, all of them.
  function settle(c) {
    var end = c.msgs.length ? c.msgs[c.msgs.length - 1].id : 0;
    var ids = [];
    for (var k in c.held) {
      if (Object.prototype.hasOwnProperty.call(c.held, k)) { ids.push(c.held[k].id); }
    }
    ids.sort(function (a, b) { return a - b; });
    for (var i = 0; i < ids.length; i++) {
      var m = c.held[ids[i]];
      if (detached(c) && m.id > end) { break; }
      delete c.held[m.id];
      var old = c.byId[m.id];
      if (old) {
        addMessages(c, [m]);  // its delivered or read state
        if ((m.rev || 0) > (old.rev || 0)) { onChanged(m); }
      } else if (m.sent_at && !(c.hasMore && c.msgs.length && m.id < c.msgs[0].id)) {
        addMessages(c, [m]);  // (a change without the message: its page brings it)
      }
    }
  }

  function dropPending(c, m) {
    if (!m.client_id || !me || !sameId(m.from, me.id)) { return; }
    for (var i = 0; i < c.pending.length; i++) {
      if (c.pending[i].client_id === m.client_id) { c.pending.splice(i, 1); saveOutbox(); return; }
    }
  }

  // -- the outbox: what was written but not yet stored by the server ------------
  // It lives in the cache, so a reload keeps it; it is sent, oldest first, over
  // every connection until the server acknowledges it. A resend carries the same
  // client_id, so the server stores it once.

  function outboxList() {
    var out = [];
    for (var k in convs) {
      if (Object.prototype.hasOwnProperty.call(convs, k)) { out = out.concat(convs[k].pending); }
    }
    out.sort(function (a, b) { return a.seq - b.seq; });
    return out;
  }

  function saveOutbox() {
    var list = outboxList();
    var kept = [];
    for (var i = 0; i < list.length; i++) {
      var p = list[i];
      kept.push({client_id: p.client_id, from: p.from, to: p.to, conversation: p.conversation,
                 content: p.content, reply_to: p.reply_to,
                 sent_at: p.sent_at, seq: p.seq, status: p.status === 'refused' ? 'refused' : 'queued',
                 error: p.status === 'refused' ? p.error : null, attachments: p.attachments});
    }
    cache.set('outbox', kept);
  }

  function restoreOutbox() {
    var list = cache.get('outbox') || [];
    for (var i = 0; i < list.length; i++) {
      var p = list[i];
      if (!p || !p.client_id || (p.to === undefined && !p.conversation)) { continue; }
      var c = convFor(p);
      var known = false;
      for (var j = 0; j < c.pending.length; j++) { known = known || c.pending[j].client_id === p.client_id; }
      if (!known) { c.pending.push(p); }
      if (p.seq >= outboxSeq) { outboxSeq = p.seq + 1; }
    }
  }

  var outboxSeq = 1;
  var flushGen = 0;

  function restartOutbox() {
    // A new connection: whatever waited for an ack on the old one is sent again.
    flushGen += 1;
    flushing = false;
    var list = outboxList();
    for (var i = 0; i < list.length; i++) {
      if (list[i].status !== 'refused') { list[i].status = 'queued'; }
    }
    flushOutbox();
  }

  function flushOutbox() {
    window.clearTimeout(flushTimer);
    if (flushing || !connected || !ready || stopped) { return; }
    var list = outboxList();
    for (var i = 0; i < list.length; i++) {
      if (list[i].status !== 'refused') {
        transmit(convFor(list[i]), list[i]);
        return;
      }
    }
  }

  function resetMessages(c) {
    c.msgs = [];
    c.byId = {};
    c.loaded = c.cached = false;
  }

  // Newest activity first; a group without messages sits where it was created.
  function rank(c) {
    return c.last ? c.last.id : c.floor || 0;
  }

  function listOrder() {
    var out = [];
    for (var k in convs) {
      if (Object.prototype.hasOwnProperty.call(convs, k) && (convs[k].last || convs[k].g)) { out.push(convs[k]); }
    }
    out.sort(function (a, b) { return rank(b) - rank(a); });
    return out;
  }

  // A conversation's newest page the first time it is opened; after that only
  // its newest message (the other's presence, the group's members). What
  // changes later arrives live or through catchUpChanges' sync from the cached rev.
  function sync(c) {
    if (c.syncing || c.jumping) { return; }
    c.syncing = true;
    var first = !c.loaded;
    var gen = c.pageGen;
    api(path(c) + '?limit=' + (first ? PAGE_SIZE : 1), function (err, data) {
      c.syncing = false;
      if (gen !== c.pageGen) { first = false; }  // a jump (jumpTo) loads the page now
      if (err) {
        if (err.code === 'unknown_user') { c.notice = t('no_such_user'); }
        if (err.code === 'not_found' && c.group) { dropConversation(c); }
        refresh(c);
        return;
      }
      updateOther(c, data.other);
      if (data.conversation) { group(data.conversation); }
      if (first) {
        var got = data.messages || [];
        // Whatever came meanwhile below a partial page stays for the older pages.
        if (data.has_more && got.length) {
          c.msgs = c.msgs.filter(function (m) { return m.id >= got[0].id || !delete c.byId[m.id]; });
        }
        c.loaded = true;
        c.hasMore = !!data.has_more;
        addMessages(c, got);
        settle(c);  // anything still held from a jump that failed
        if (c.group) { readUpTo(c, data.conversation.unread); }
      }
      saveConv(c);
      renderList();
      refresh(c);
      if (c === current) { markRead(c); }
    });
  }

  // A group's messages carry no read_at: all but its `unread` newest from
  // others count as read.
  function readUpTo(c, unread) {
    c.unread = unread || 0;
    var n = c.unread;
    for (var i = c.msgs.length - 1; i >= 0; i--) {
      var m = c.msgs[i];
      if (sameId(m.from, me.id) || m.deleted) { continue; }
      if (n-- <= 0) { c.readSent = Math.max(c.readSent, m.id); return; }
    }
  }

  // Presence events only come for people we share a conversation with: a chat
  // opened from search, without messages yet, asks the server instead.
  function checkPresence() {
    var c = current;
    if (!c || c.group || !connected || !ready || c.last || c.msgs.length || document.hidden) { return; }
    api(path(c) + '?limit=1', function (err, data) {
      if (err || !data) { return; }
      updateOther(c, data.other);
      if (data.messages && data.messages.length) { sync(c); }
      renderList();
      refresh(c);
    });
  }

  function loadOlder(c) {
    if (c.loadingOlder || c.jumping || !c.hasMore || !c.msgs.length) { return; }
    c.loadingOlder = true;
    var gen = c.pageGen;
    var query = '?before=' + c.msgs[0].id + '&limit=' + PAGE_SIZE;
    api(path(c) + query, function (err, data) {
      if (gen !== c.pageGen) { return; }  // for a stretch no longer shown
      c.loadingOlder = false;
      if (err) { return; }
      c.hasMore = !!data.has_more;
      var box = ui.content;
      var fromBottom = box.scrollHeight - box.scrollTop;
      addMessages(c, data.messages || []);
      saveConv(c);
      if (c === current) {
        renderMessages(c);
        box.scrollTop = box.scrollHeight - fromBottom;  // keep the reader's place
      }
    });
  }

  // Scrolled down through older history: the next newer page, until the
  // server says it was the newest; then what arrived meanwhile joins it.
  function loadNewer(c) {
    if (c.loadingNewer || c.jumping || !c.hasNewer || !c.msgs.length) { return; }
    c.loadingNewer = true;
    var gen = c.pageGen;
    var query = '?after=' + c.msgs[c.msgs.length - 1].id + '&limit=' + PAGE_SIZE;
    api(path(c) + query, function (err, data) {
      if (gen !== c.pageGen) { return; }
      c.loadingNewer = false;
      if (err) { return; }
      var box = ui.content;
      var top = box.scrollTop;
      addMessages(c, data.messages || []);
      c.hasNewer = !!data.has_more;
      settle(c);
      saveConv(c);
      renderList();
      if (c === current) {
        renderMessages(c);
        box.scrollTop = top;  // keep the reader's place
        markRead(c);
        nearEnd(c);
      }
    });
  }

  // The page around message id (the newest page without one) in place of
  // what the conversation holds, unless it joins that without a gap. Older
  // pages then come with loadOlder, newer ones with loadNewer.
  function jumpTo(c, id) {
    var gen = ++c.pageGen;
    c.jumping = true;
    c.loadingOlder = c.loadingNewer = false;  // their answers are dropped (pageGen)
    api(path(c) + (id ? '?around=' + id + '&' : '?') + 'limit=' + PAGE_SIZE, function (err, data) {
      if (gen !== c.pageGen) { return; }
      c.jumping = false;
      if (err) {
        if (id && err.code === 'not_found' && !c.loaded) { jumpTo(c, null); return; }  // gone: the newest
        if (err.code === 'unknown_user') { c.notice = t('no_such_user'); }
        if (err.code === 'not_found' && c.group && !id) { dropGroup(c); }
        if (c.loaded) { settle(c); }
        refresh(c);
        return;
      }
      updateOther(c, data.other);
      if (data.conversation) { group(data.conversation); }
      var got = data.messages || [];
      var newer = !!data.has_newer;
      if (c.loaded && !c.hasNewer && c.msgs.length && got.length &&
          (!newer || got[got.length - 1].id >= c.msgs[0].id)) {
        // It reaches the newest part already here: one gap-free run.
        if (got[0].id < c.msgs[0].id) { c.hasMore = !!data.has_more; }
        addMessages(c, got);
      } else {
        c.msgs = [];
        c.byId = {};
        addMessages(c, got);
        c.hasMore = !!data.has_more;
        c.hasNewer = newer;
        c.cached = false;
      }
      c.loaded = true;
      settle(c);
      if (c.group && data.conversation && !c.hasNewer) { readUpTo(c, data.conversation.unread); }
      saveConv(c);
      renderList();
      if (c === current) {
        renderMessages(c, !id);
        if (id) { scrollToMessage(id); }
        markRead(c);
        nearEnd(c);
      }
    });
  }

  // From older history back to the newest page (the ↓ button, or sending).
  function toPresent(c) {
    c.msgs = [];
    c.byId = {};
    c.loaded = c.hasNewer = c.hasMore = false;
    jumpTo(c, null);
    refresh(c, true);
  }

  // Older history too short to scroll: the next newer page at once.
  function nearEnd(c) {
    var box = ui.content;
    if (c.hasNewer && box.scrollHeight - box.scrollTop - box.clientHeight < 40) { loadNewer(c); }
  }

  // Every page of the list (both kinds), then applied at once: a group missing
  // from it was left or removed while away.
  function loadList() {
    var gen = ++listGen;
    var all = [];
    (function page(before) {
      api('/conversations?limit=100' + (before ? '&before=' + before : ''), function (err, data) {
        if (err) { return; }
        var list = data.conversations || [];
        all = all.concat(list);
        if (data.has_more && list.length) { page(list[list.length - 1].id); } else { applyList(all, gen); }
      });
    }(0));
  }

  function applyList(list, gen) {
    listKnown = true;
    var seen = {};
    var below = 0;
    var top = 0;
    for (var i = list.length - 1; i >= 0; i--) {  // bottom up: an empty group ranks above the row below it
      var entry = list[i];
      var m = entry.last_message;
      var c = entry.kind === 'group' ? group(entry) : convFor({from: entry.other.id, to: me.id, conversation: entry.id});
      updateOther(c, entry.other);
      seen[c.key] = true;
      if (m && (!c.last || m.id >= c.last.id)) { c.last = m; }
      c.floor = m ? 0 : below + 0.5;
      below = rank(c);
      top = Math.max(top, m ? m.id : 0);
      applyReadAt(c, m);
      c.unread = entry.unread;
      if (c === current && entry.unread) { markRead(c); }
    }
    for (var k in convs) {
      c = convs[k];
      if (!Object.prototype.hasOwnProperty.call(convs, k) || seen[k]) { continue; }
      if (c.group && c.gen < gen) { dropConversation(c); } else if (!c.group && c.last && c.last.id <= (top || Infinity)) {
        c.last = null;  // gone from the server's list (e.g. account deleted)
      }
    }
    saveList();
    renderList();
    if (current) { renderHeader(current); renderMembers(current); }
  }

  // Left, removed, or gone (a group), or the other side's account deleted (a
  // direct conversation): out of the list and the cache; on screen it stays
  // read-only with a notice.
  function dropConversation(c) {
    delete convs[c.key];
    delete byCid[key(c.cid)];
    cache.remove([cache.name('c:' + c.key), cache.name('draft:' + c.key), cache.name('tray:' + c.key)]);
    c.removed = true;
    c.notice = t(c.group ? 'group_gone' : 'account_gone');
    if (c === current) { showMembers(false); }
    saveList();
    saveOutbox();
    renderList();
    refresh(c);
  }

  function applyReadAt(c, m) {
    // The list's last message tells whether our newest message was seen.
    if (!m || !m.read_at || !me || !sameId(m.from, me.id)) { return; }
    for (var i = 0; i < c.msgs.length; i++) {
      var x = c.msgs[i];
      if (x.id <= m.id && sameId(x.from, me.id) && !x.read_at) { x.read_at = m.read_at; }
    }
  }

  // -- socket ------------------------------------------------------------------

  function connect() {
    socket = window.io(NAMESPACE, {
      // Without WebSocket, skip the doomed upgrade probe and stay on polling.
      transports: window.WebSocket ? ['polling', 'websocket'] : ['polling'],
      reconnectionDelayMax: 5000,
      auth: {lang: I18N.lang}  // acks are worded in the widget's language
    });
    ChatWidget.socket = socket;
    socket.on('connect', function () {
      connected = true;
      setStatus('connected');
      if (ready) { catchUp(); }  // else start() catches up once /api/me answers
    });
    socket.on('disconnect', function (reason) {
      connected = false;
      if (reason === 'io server disconnect') {
        setStatus('offline');
        checkSession();
      } else if (reason !== 'io client disconnect') {
        setStatus('reconnecting');
      }
    });
    socket.on('connect_error', function (err) {
      connected = false;
      if (err && (err.message === 'unauthorized' || err.message === 'forbidden')) {
        setStatus('offline');
        checkSession();
      } else {
        setStatus('reconnecting');
      }
    });
    socket.io.on('reconnect_failed', function () { setStatus('offline'); });
    socket.on('message', onMessage);
    socket.on('read', onRead);
    socket.on('presence', onPresence);
    socket.on('typing', onTyping);
    socket.on('message-edited', onChanged);
    socket.on('message-deleted', function (e) {
      if (e && typeof e.id === 'number') {
        onChanged({id: e.id, conversation: e.conversation, deleted: true, content: '', rev: e.rev});
      }
    });
    socket.on('conversation', function (g) {
      if (!g || typeof g.id !== 'number') { return; }
      var fresh = !convs['g#' + g.id];
      var c = group(g);
      c.unread = g.unread || 0;
      if (fresh && !c.last) { c.floor = (listOrder()[0] ? rank(listOrder()[0]) : 0) + 0.5; }
      saveList();
      saveConv(c);
      renderList();
      if (c === current) { refresh(c); renderMembers(c); }
    });
    socket.on('conversation-removed', function (e) {
      var c = e && byCid[key(e.id)];
      if (c) { dropConversation(c); }
    });
  }

  // -- edits and deletes (contract v2.0) -------------------------------------------

  var changes = 0;  // bumped by every edit or delete, and names learnt: the screen redraws every bubble

  function applyChange(old, m) {
    old.deleted = !!m.deleted;
    old.content = m.deleted ? '' : m.content;
    if (m.edited_at) { old.edited_at = m.edited_at; }
    if (m.rev) { old.rev = m.rev; }
  }

  function onChanged(m) {
    if (!m || typeof m.id !== 'number') { return; }
    var k;
    var c;
    for (k in convs) {
      if (Object.prototype.hasOwnProperty.call(convs, k) && convs[k].held[m.id]) { hold(convs[k], m); }
    }
    // Below a stretch of older history on screen: kept for when it is reached.
    c = m.conversation !== undefined && byCid[key(m.conversation)];
    if (c && !c.byId[m.id] && detached(c) && beyond(c, m)) { hold(c, m); }
    for (k in convs) {
      if (!Object.prototype.hasOwnProperty.call(convs, k)) { continue; }
      c = convs[k];
      var old = c.byId[m.id] || (c.last && c.last.id === m.id ? c.last : null);
      if (!old) { continue; }
      applyChange(old, m);
      if (editing && editing.id === m.id && m.deleted) { stopEditing(); }
      // Replies quoting it quote what it says now (or its tombstone).
      for (var i = 0; i < c.msgs.length; i++) {
        var q = c.msgs[i].reply_to;
        if (q && q.id === m.id) {
          c.msgs[i].reply_to = {id: q.id, from: q.from, deleted: !!m.deleted,
                                content: m.deleted ? '' : String(m.content).slice(0, 200)};
        }
      }
      changes += 1;
      refresh(c);
      renderList();
      saveSoon(c);
      return;
    }
  }

  var editing = null;  // {id, c}: the own message the composer is changing

  function startEditing(c) {
    if (c.hasNewer) { return false; }  // the last one shown is not the last one
    for (var i = c.msgs.length - 1; i >= 0; i--) {
      var m = c.msgs[i];
      if (me && sameId(m.from, me.id) && !m.deleted) {
        editing = {id: m.id, c: c};
        ui.input.value = m.content;
        toggle(ui.form, 'is-editing', true);
        c.notice = t('editing_notice');
        refresh(c);
        return true;
      }
    }
    return false;
  }

  function stopEditing() {
    if (!editing) { return; }
    var c = editing.c;
    editing = null;
    toggle(ui.form, 'is-editing', false);
    ui.input.value = '';
    c.notice = '';
    refresh(c);
  }

  function saveEdit() {
    var e = editing;
    var text = String(ui.input.value).trim();
    if (!text) { return; }
    emit('edit', {id: e.id, content: text}, function (err, ack) {
      if (ack && ack.ok) { onChanged(ack.message); } else if (e.c === current) {
        e.c.notice = t('edit_not_saved', {reason: (ack && ack.error && ack.error.message) || t('try_again')});
        refresh(e.c);
      }
    });
    stopEditing();
  }

  var replying = null;  // {id, from, content, c}: the message the next one answers

  function startReplying(id) {
    var m = current && current.byId[id];
    if (!m || m.deleted) { return; }
    if (editing) { stopEditing(); }
    replying = {id: m.id, from: m.from, content: String(m.content), c: current};
    setText(ui.replyText, t(sameId(m.from, me.id) ? 'replying_to_self' : 'replying_to',
      {name: userName(current, m.from), text: String(m.content).slice(0, 200)}));
    show(ui.replyBar, true);
    ui.input.focus();
  }

  function stopReplying() {
    replying = null;
    show(ui.replyBar, false);
  }

  function scrollToMessage(id) {
    var li = ui.messages.querySelector('li[data-message-id="' + id + '"]');
    if (!li) { return; }
    li.scrollIntoView({block: 'center'});
    toggle(li, 'is-highlighted', true);
    window.setTimeout(function () { toggle(li, 'is-highlighted', false); }, 1500);
  }

  // -- blocks: whom this user blocked (the server enforces it both ways) --------------

  var blocked = {};

  function loadBlocks() {
    api('/blocks', function (err, data) {
      if (err || !data || !data.users) { return; }
      blocked = {};
      for (var i = 0; i < data.users.length; i++) { blocked[key(data.users[i].id)] = true; }
      if (current) { renderHeader(current); }
    });
  }

  function toggleBlock() {
    var c = current;
    if (!c) { return; }
    var was = !!blocked[c.key];
    if (!was && !window.confirm(t('block_confirm', {name: nameOf(c.other)}))) { return; }
    request(was ? 'DELETE' : 'PUT', PREFIX + '/api/blocks/' + encodeURIComponent(c.other.id), undefined,
      function (err) {
        if (err) { return; }
        if (was) { delete blocked[c.key]; } else { blocked[c.key] = true; }
        c.notice = was ? '' : t('blocked_notice', {name: nameOf(c.other)});
        refresh(c);
      });
  }

  function deleteMessage(id) {
    if (!window.confirm(t('delete_confirm'))) { return; }
    emit('delete', {id: id}, function (err, ack) {
      if (ack && ack.ok) { onChanged({id: id, deleted: true, content: ''}); }
    });
  }

  function catchUp() {
    // After any (re)connection: the open conversation and the list, by id, then
    // whatever the outbox holds.
    connectedOnce = true;
    if (current) { sync(current); }
    loadList();
    restartOutbox();
    catchUpChanges();
    loadBlocks();
  }

  // Everything missed while away, in every conversation: new messages, edits
  // and deletes, through the server-wide change number (`rev`, kept in the
  // cache). The rev moves on only once a page is applied and saved.
  var syncingRevs = false;
  var revAgain = false;

  function catchUpChanges() {
    if (syncingRevs) { revAgain = true; return; }
    var since = cache.get('rev');
    syncingRevs = true;
    revAgain = false;
    function done() {
      syncingRevs = false;
      if (revAgain && connected) { catchUpChanges(); }
    }
    if (typeof since !== 'number') {
      // A first start, or a lost cursor: the cached pages cannot be caught up.
      for (var k in convs) {
        if (Object.prototype.hasOwnProperty.call(convs, k) && convs[k].cached) { resetMessages(convs[k]); }
      }
      if (current) { current.syncing = false; sync(current); }
      api('/sync', function (err, data) {  // only where to begin
        if (!err && data && typeof data.rev === 'number') { cache.set('rev', data.rev); }
        done();
      });
      return;
    }
    (function page(from) {
      api('/sync?since=' + from + '&limit=500', function (err, data) {
        if (err || !data || typeof data.rev !== 'number') { done(); return; }
        var list = data.messages || [];
        var touched = {};
        var unknown = false;
        for (var i = 0; i < list.length; i++) {
          var m = list[i];
          if (!m || typeof m.id !== 'number') { continue; }
          var c = convFor(m);
          take(c, m);
          touched[c.key] = c;
          unknown = unknown || !c.other.username;
        }
        if (unknown) { loadList(); }  // a group joined while away
        for (var k in touched) {
          if (Object.prototype.hasOwnProperty.call(touched, k)) { saveConv(touched[k]); refresh(touched[k]); }
        }
        saveList();
        renderList();
        cache.set('rev', data.rev);
        if (data.has_more && data.rev > from) { page(data.rev); } else { done(); }
      });
    }(since));
  }

  function checkSession() {
    // Refused or dropped by the server: signed out, or worth another try later.
    request('GET', PREFIX + '/api/me', undefined, function (err, data) {
      if (stopped) { return; }
      if (err && err.status === 401) { signedOut(); return; }
      if (!err && data && me && !sameId(data.user.id, me.id)) { signedOut(); return; }
      window.setTimeout(function () {
        if (!stopped && socket && !socket.connected) { setStatus('reconnecting'); socket.connect(); }
      }, err ? 5000 : 1000);
    });
  }

  function emit(event, data, done) {
    if (!socket) { return; }
    if (done) {
      socket.timeout(SEND_TIMEOUT).emit(event, data, done);
    } else {
      socket.emit(event, data);
    }
  }

  function onMessage(m) {
    if (!me || !m || typeof m.id !== 'number') { return; }
    var mine = sameId(m.from, me.id);
    var c = convFor(m);
    var isNew = !c.byId[m.id] && !(c.last && c.last.id >= m.id);
    take(c, m);
    if (!mine) {
      c.typingUntil = 0;
      if (!c.group) { c.other.online = true; }  // they just wrote
      if (isNew) { c.unread += 1; }
      if (isNew && document.hidden) {
        unseen += 1;
        updateTitle();
        notify(c, m);
      }
      if (isNew) { announce(t('announce_message', {name: userName(c, m.from), text: m.content})); }
    }
    if (!c.other.username) { loadList(); }
    refresh(c);  // on screen first; the cache is written in a task of its own
    renderList();
    saveSoon(c);
  }

  var saveTimer = null;
  var toSave = {};

  function saveSoon(c) {
    toSave[c.key] = c;
    if (saveTimer) { return; }
    saveTimer = window.setTimeout(function () {
      saveTimer = null;
      var list = toSave;
      toSave = {};
      for (var k in list) {
        if (Object.prototype.hasOwnProperty.call(list, k)) { saveConv(list[k]); }
      }
      saveList();
    }, 0);
  }

  function onRead(e) {
    if (!me || !e) { return; }
    var g = e['with'] === undefined && byCid[key(e.conversation)];
    if (sameId(e.by, me.id)) {
      var mineConv = g || convs[key(e['with'])];
      if (mineConv) {
        mineConv.unread = 0;  // read here or in another tab
        if (e.up_to > mineConv.readSent) { mineConv.readSent = e.up_to; }
      }
    } else {
      var c = g || convs[key(e.by)];
      if (!c) { return; }
      var now = new Date().toISOString();
      var all = c.msgs;
      for (var h in c.held) {
        if (Object.prototype.hasOwnProperty.call(c.held, h)) { all = all.concat([c.held[h]]); }
      }
      for (var i = 0; i < all.length; i++) {
        var m = all[i];
        if (m.id <= e.up_to && sameId(m.from, me.id) && !m.read_at) { m.read_at = now; }
      }
      if (c.last && c.last.id <= e.up_to && sameId(c.last.from, me.id) && !c.last.read_at) {
        c.last.read_at = now;
      }
      saveConv(c);
      refresh(c);
    }
    saveList();
    renderList();
  }

  function onPresence(e) {
    if (!e) { return; }
    var online = !!e.online;
    // Every group's member record of that user (the member panel shows them).
    for (var k in convs) {
      if (!Object.prototype.hasOwnProperty.call(convs, k) || !convs[k].group || !convs[k].g) { continue; }
      var list = convs[k].g.members;
      for (var i = 0; i < list.length; i++) {
        if (sameId(list[i].id, e.user_id)) { list[i].online = online; }
      }
    }
    if (people[key(e.user_id)]) { people[key(e.user_id)].online = online; }
    if (current && current.group) { memberPresence(current); }
    var c = convs[key(e.user_id)];
    if (!c) { return; }
    c.other.online = online;
    if (online) { c.notice = ''; }
    renderList();
    refresh(c);
  }

  function onTyping(e) {
    var g = e && e.conversation && byCid[key(e.conversation)];
    var c = g && g.group ? g : e && convs[key(e.from)];
    if (!c) { return; }
    c.typer = e.from;
    c.typingUntil = Date.now() + TYPING_SHOWN;
    renderList();
    refresh(c);
    window.setTimeout(function () { renderList(); refresh(c); }, TYPING_SHOWN + 50);
  }

  function isTyping(c) {
    return c.typingUntil > Date.now();
  }

  // -- reading and sending -------------------------------------------------------

  function viewing() {
    return !document.hidden && panelOpen && !!current;
  }

  // The newest message of the other's that the user can see: the tab is
  // visible, the panel open, and the message's foot is inside the scroll box.
  function visibleUpTo(c) {
    if (c !== current || !viewing() || !ui.messages.children.length) { return 0; }
    var box = ui.content.getBoundingClientRect();
    if (!box.height) { return 0; }
    var kids = ui.messages.children;
    for (var i = kids.length - 1; i >= 0; i--) {
      var li = kids[i];
      var id = li.getAttribute('data-id');
      if (!id || !/\bchat-other\b/.test(li.className)) { continue; }
      if (li.getBoundingClientRect().bottom <= box.bottom + 2) { return parseInt(id, 10); }
    }
    return 0;
  }

  function markRead(c) {
    if (!socket || c !== current || !viewing()) { return; }
    var upTo = visibleUpTo(c);
    var unreadHere = false;
    var left = 0;
    var now = new Date().toISOString();
    for (var i = 0; i < c.msgs.length; i++) {
      var m = c.msgs[i];
      if (sameId(m.from, me.id) || m.read_at || m.id <= c.readSent) { continue; }
      if (m.id <= upTo) { unreadHere = true; m.read_at = now; } else { left += 1; }
    }
    var before = c.unread;
    c.unread = c.loaded && !detached(c) ? left : c.unread;
    if (upTo > c.readSent && unreadHere) {
      c.readSent = upTo;
      emit('read', c.group ? {conversation: c.cid, up_to: upTo} : {'with': c.other.id, up_to: upTo});
    }
    if (unreadHere || before !== c.unread) { renderList(); updateJump(c); }
  }

  function clientId() {
    var rand = '';
    var crypto = window.crypto || window.msCrypto;
    if (crypto && crypto.getRandomValues) {
      var bytes = new Uint32Array(2);
      crypto.getRandomValues(bytes);
      rand = bytes[0].toString(36) + bytes[1].toString(36);
    } else {
      rand = Math.random().toString(36).slice(2) + Math.random().toString(36).slice(2);
    }
    return 'c-' + Date.now().toString(36) + '-' + rand;
  }

  function codePoints(text) {
    return text.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, '_').length;
  }

  function tooLong(text) {
    return codePoints(String(text).trim()) > MAX_LENGTH;
  }

  function send(c, text) {
    text = String(text).trim();
    var files = trayFiles(c);  // null while an upload runs or failed: its notice says so
    if (!files || (!text && !files.length) || !me || c.removed || codePoints(text) > MAX_LENGTH) { return false; }
    if (c.hasNewer) { toPresent(c); }  // what is sent shows below the newest, not below older history
    var p = {client_id: clientId(), from: me.id, to: c.group ? null : c.other.id, conversation: c.cid, content: text,
             sent_at: new Date().toISOString(), seq: outboxSeq++, status: 'queued', error: null};
    if (files.length) { p.attachments = files; c.tray = []; saveTray(c); renderTray(); }
    if (replying && replying.c === c) {
      p.reply_to = {id: replying.id, from: replying.from, content: replying.content.slice(0, 200),
                    deleted: false};
      stopReplying();
    }
    c.pending.push(p);
    c.notice = '';
    flushOutbox();  // on the wire first; then the screen and the cache
    refresh(c, true);
    saveOutbox();
    return true;
  }

  // One message at a time, so they arrive in the order they were written. A
  // resend carries the same client_id, so the server never stores it twice.
  function transmit(c, p) {
    var gen = flushGen;
    flushing = true;
    p.status = 'pending';
    p.error = null;
    window.setTimeout(function () { refresh(c); }, 0);
    var payload = target(c);
    payload.content = p.content;
    payload.client_id = p.client_id;
    if (p.reply_to) { payload.reply_to = p.reply_to.id; }
    if (p.attachments) { payload.attachments = p.attachments.map(function (a) { return a.id; }); }
    emit('chat-to', payload, function (err, ack) {
      if (gen !== flushGen) { return; }  // that connection is gone; the outbox starts over
      flushing = false;
      if (c.pending.indexOf(p) < 0) {  // a catch-up brought it first: the ack still says who has it
        if (ack && ack.ok && ack.message && (c.byId[ack.message.id] || c.held[ack.message.id])) {
          ack.message.delivered = ack.delivered !== false;
          keep(c, ack.message);
          saveConv(c);
          refresh(c);
        }
        flushOutbox();
        return;
      }
      if (err || !ack || !ack.ok) {
        p.error = ack && ack.error ? ack.error : {code: 'timeout', message: t('no_answer')};
        p.status = FINAL[p.error.code] ? 'refused' : 'failed';
        saveOutbox();
        refresh(c);
        if (p.status === 'failed') {
          window.clearTimeout(flushTimer);
          flushTimer = window.setTimeout(flushOutbox, RETRY_AFTER);
        } else {
          flushOutbox();
        }
        return;
      }
      ack.message.delivered = ack.delivered !== false;
      keep(c, ack.message);
      dropPending(c, ack.message);
      if (typeof ack.delivered === 'boolean' && !c.group) { c.other.online = ack.delivered; }
      c.notice = ack.delivered === false
        ? t(c.group ? 'group_offline' : 'is_offline_will_see', {name: nameOf(c.other)})
        : '';
      saveConv(c);
      saveList();
      renderList();
      refresh(c);
      flushOutbox();
    });
  }

  function retry(clientIdValue) {
    if (!current) { return; }
    for (var i = 0; i < current.pending.length; i++) {
      if (current.pending[i].client_id === clientIdValue) { current.pending[i].status = 'queued'; }
    }
    flushOutbox();
    refresh(current);
  }

  // A refused message becomes the draft again, with the reason beside it.
  function editRefused(clientIdValue) {
    var c = current;
    if (!c) { return; }
    for (var i = 0; i < c.pending.length; i++) {
      var p = c.pending[i];
      if (p.client_id !== clientIdValue) { continue; }
      c.pending.splice(i, 1);
      var draft = ui.input.value.trim();
      ui.input.value = draft ? p.content + '\n' + draft : p.content;
      c.notice = p.error && p.error.message ? t('not_sent', {reason: p.error.message}) : '';
      untray(c, p.attachments);
      saveOutbox();
      saveDraft(c);
      composerChanged();
      refresh(c);
      ui.input.focus();
      return;
    }
  }

  function saveDraft(c) {
    c.draft = ui.input.value;
    if (c.draft) { cache.set('draft:' + c.key, c.draft); } else { cache.remove([cache.name('draft:' + c.key)]); }
  }

  function composerChanged() {
    autoGrow();
    var left = MAX_LENGTH - codePoints(ui.input.value.trim());
    var over = left < 0;
    setText(ui.counter, left <= COUNTER_FROM ? String(left) : '');
    toggle(ui.counter, 'is-over', over);
    toggle(ui.form, 'is-over', over);
    ui.counter.title = over ? t('too_long_by', {count: -left, limit: MAX_LENGTH})
      : t('chars_left', {count: left});
    ui.send.setAttribute('aria-disabled', over ? 'true' : 'false');
  }

  // -- groups: creating one, its members ----------------------------------------------

  // People picked from the user search, as removable chips; `skip(user)` leaves
  // some out of the results (the members already in).
  function picker(skip) {
    var p = {ids: [], box: el('div', 'chat-picker'), chips: el('ul', 'chat-chips'),
             results: el('ul', 'chat-picker-results')};
    p.input = attrs(el('input', 'chat-field'), {type: 'search', placeholder: t('add_people'),
      'aria-label': t('add_people'), autocomplete: 'off', spellcheck: 'false'});
    p.box.appendChild(p.chips);
    p.box.appendChild(p.input);
    p.box.appendChild(p.results);
    show(p.results, false);
    var seq = 0;
    var timer = null;
    on(p.input, 'input', function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(function () {
        var q = p.input.value.trim();
        var n = ++seq;
        if (!q) { show(p.results, false); return; }
        api('/users?q=' + encodeURIComponent(q) + '&limit=8', function (err, data) {
          if (n !== seq) { return; }
          clear(p.results);
          var users = (!err && data.users) || [];
          for (var i = 0; i < users.length; i++) {
            var u = users[i];
            if (p.ids.indexOf(u.id) >= 0 || (skip && skip(u))) { continue; }
            var li = attrs(el('li', 'chat-result'), {'data-user-id': key(u.id)});
            var b = attrs(el('button', 'chat-item-button'), {type: 'button'});
            b.appendChild(avatar({avatar: u.avatar}));
            b.appendChild(el('span', 'chat-name', u.username));
            li.appendChild(b);
            li.userData = u;
            p.results.appendChild(li);
          }
          if (!p.results.children.length) { p.results.appendChild(el('li', 'chat-search-none', t('no_one_found'))); }
          show(p.results, true);
        });
      }, 200);
    });
    on(p.results, 'click', function (e) {
      var li = closest(e.target, 'li[data-user-id]');
      if (!li) { return; }
      var u = li.userData;
      p.ids.push(u.id);
      var chip = attrs(el('li', 'chat-chip', u.username), {'data-user-id': key(u.id)});
      chip.appendChild(button('chat-chip-remove', t('remove_person', {name: u.username}), null, '\u00d7'));
      p.chips.appendChild(chip);
      p.input.value = '';
      show(p.results, false);
      p.input.focus();
    });
    on(p.chips, 'click', function (e) {
      var chip = closest(e.target, '.chat-chip-remove') && closest(e.target, 'li[data-user-id]');
      if (!chip) { return; }
      p.ids.splice(p.ids.indexOf(toId(chip.getAttribute('data-user-id'))), 1);
      p.chips.removeChild(chip);
    });
    p.reset = function () { p.ids = []; clear(p.chips); p.input.value = ''; show(p.results, false); };
    return p;
  }

  // "New group" and its form, between the list's head and the people search.
  function buildGroupForm() {
    var bar = el('div', 'chat-groups-bar');
    ui.newGroup = attrs(button('chat-new-group', null, null, t('new_group')), {'aria-expanded': 'false'});
    bar.appendChild(ui.newGroup);
    var form = ui.groupForm = attrs(el('form', 'chat-group-form'), {autocomplete: 'off', 'aria-label': t('new_group')});
    bar.appendChild(form);
    ui.groupTitle = attrs(el('input', 'chat-field chat-group-title'), {
      type: 'text', placeholder: t('group_title'), 'aria-label': t('group_title'), maxlength: '100'});
    form.appendChild(ui.groupTitle);
    ui.groupPick = picker(null);
    form.appendChild(ui.groupPick.box);
    ui.groupError = attrs(el('p', 'chat-group-error'), {role: 'alert'});
    form.appendChild(ui.groupError);
    var row = el('div', 'chat-group-actions');
    var create = button('chat-group-create', null, null, t('create_group'));
    create.type = 'submit';
    var cancel = button('chat-group-cancel', null, null, t('cancel'));
    row.appendChild(create);
    row.appendChild(cancel);
    form.appendChild(row);
    show(form, false);
    on(ui.newGroup, 'click', function () { groupForm(form.hidden); });
    on(cancel, 'click', function () { groupForm(false); });
    on(form, 'submit', function (e) {
      e.preventDefault();
      var title = ui.groupTitle.value.trim();
      var error = !title ? t('group_title_needed') : (!ui.groupPick.ids.length ? t('group_people_needed') : '');
      setText(ui.groupError, error);
      if (error) { return; }
      request('POST', PREFIX + '/api/groups', {title: title, members: ui.groupPick.ids}, function (err, data) {
        if (err) { setText(ui.groupError, err.message || t('try_again')); return; }
        var c = group(data.conversation);
        if (!c.last) { c.floor = rank(listOrder()[0] || c) + 0.5; }
        groupForm(false);
        renderList();
        saveList();
        openConversation(c);
      });
    });
    return bar;
  }

  function groupForm(open) {
    show(ui.groupForm, open);
    ui.newGroup.setAttribute('aria-expanded', open ? 'true' : 'false');
    setText(ui.groupError, '');
    if (open) { ui.groupTitle.focus(); } else { ui.groupTitle.value = ''; ui.groupPick.reset(); }
  }

  function buildMembers() {
    var box = ui.members = attrs(el('section', 'chat-members'), {'aria-label': t('members_title')});
    var head = el('div', 'chat-members-head');
    head.appendChild(el('h3', null, t('members_title')));
    var close = button('chat-icon-button', t('close_members'), 'close');
    head.appendChild(close);
    box.appendChild(head);
    ui.rename = attrs(el('form', 'chat-rename'), {autocomplete: 'off'});
    ui.renameInput = attrs(el('input', 'chat-field'), {type: 'text', maxlength: '100',
      'aria-label': t('group_title')});
    var save = button('chat-group-create', null, null, t('rename'));
    save.type = 'submit';
    ui.rename.appendChild(ui.renameInput);
    ui.rename.appendChild(save);
    box.appendChild(ui.rename);
    ui.memberList = el('ul', 'chat-member-list');
    box.appendChild(ui.memberList);
    ui.adding = el('form', 'chat-add-members');
    ui.memberPick = picker(function (u) { return !!(current && current.g && memberOf(current, u.id)); });
    ui.adding.appendChild(ui.memberPick.box);
    var add = button('chat-group-create', null, null, t('add'));
    add.type = 'submit';
    ui.adding.appendChild(add);
    box.appendChild(ui.adding);
    ui.memberError = attrs(el('p', 'chat-group-error'), {role: 'alert'});
    box.appendChild(ui.memberError);
    ui.leave = button('chat-leave', null, null, t('leave_group'));
    box.appendChild(ui.leave);
    show(box, false);
    on(close, 'click', function () { showMembers(false); });
    on(ui.membersButton, 'click', function () { showMembers(ui.members.hidden); });
    on(ui.rename, 'submit', function (e) {
      e.preventDefault();
      groupCall('PATCH', '', {title: ui.renameInput.value.trim()});
    });
    on(ui.adding, 'submit', function (e) {
      e.preventDefault();
      if (ui.memberPick.ids.length) { groupCall('POST', '/members', {members: ui.memberPick.ids}); }
    });
    on(ui.memberList, 'click', function (e) {
      var li = closest(e.target, '.chat-remove') && closest(e.target, 'li[data-user-id]');
      if (li) { groupCall('DELETE', '/members/' + encodeURIComponent(li.getAttribute('data-user-id'))); }
    });
    on(ui.leave, 'click', function () {
      var c = current;
      if (c && window.confirm(t('leave_confirm', {title: nameOf(c.other)}))) {
        groupCall('DELETE', '/members/' + encodeURIComponent(me.id), undefined, function () { dropConversation(c); });
      }
    });
    return box;
  }

  function memberOf(c, id) {
    var list = c.g ? c.g.members : [];
    for (var i = 0; i < list.length; i++) { if (sameId(list[i].id, id)) { return true; } }
    return false;
  }

  // A change to the open group; its answer (or the `conversation` event) redraws it.
  function groupCall(method, suffix, body, done) {
    var c = current;
    setText(ui.memberError, '');
    request(method, PREFIX + '/api/groups/' + c.cid + suffix, body, function (err, data) {
      if (err) { setText(ui.memberError, err.message || t('try_again')); return; }
      if (data && data.conversation) { group(data.conversation); }
      ui.memberPick.reset();
      if (done) { done(); }
      renderList();
      refresh(c);
      renderMembers(c);
    });
  }

  function showMembers(open) {
    show(ui.members, open);
    ui.membersButton.setAttribute('aria-expanded', open ? 'true' : 'false');
    setText(ui.memberError, '');
    if (open) { ui.renameInput.value = nameOf(current.other); renderMembers(current); }
  }

  function renderMembers(c) {
    if (c !== current || !ui.members || ui.members.hidden || !c.g) { return; }
    var owner = me && sameId(c.g.owner, me.id);
    show(ui.rename, owner);
    show(ui.adding, owner);
    clear(ui.memberList);
    for (var i = 0; i < c.g.members.length; i++) {
      var u = c.g.members[i];
      var mine = sameId(u.id, me.id);
      var li = attrs(el('li', 'chat-member'), {'data-user-id': key(u.id)});
      li.appendChild(avatar({avatar: u.avatar}));
      li.appendChild(el('span', 'chat-name', mine ? t('you') : u.username));
      if (!mine) { li.appendChild(el('span', 'chat-sr-only chat-member-state')); }
      if (sameId(u.id, c.g.owner)) { li.appendChild(el('span', 'chat-owner', t('owner'))); }
      if (owner && !mine) {
        li.appendChild(button('chat-remove', t('remove_person', {name: u.username}), null, t('remove')));
      }
      li.chatUser = u;
      ui.memberList.appendChild(li);
    }
    memberPresence(c);
  }

  // Others' presence in the open member panel, as in the list (known only
  // while we are connected ourselves), painted in place: `presence` and the
  // connection's changes never rebuild the rows (nor move the focus).
  function memberPresence(c) {
    if (c !== current || !ui.members || ui.members.hidden || !c.g) { return; }
    var rows = ui.memberList.children;
    for (var i = 0; i < rows.length; i++) {
      var u = rows[i].chatUser;
      if (!u || sameId(u.id, me.id)) { continue; }
      var online = connected && !!u.online;
      toggle(rows[i], 'online', online);
      setAvatar(rows[i].firstChild, {avatar: u.avatar, online: online});
      setText(rows[i].querySelector('.chat-member-state'), online ? t('online') : t('offline'));
    }
  }

  // -- building the widget -------------------------------------------------------

  function build() {
    var shell = el('div', 'chat-shell');
    ui.shell = shell;

    var side = el('aside', 'chat-sidebar');
    var head = el('header', 'chat-sidebar-head');
    ui.meAvatar = avatar(null, 'chat-avatar-me');
    ui.meName = el('span', 'chat-me-name', '\u2026');
    ui.status = attrs(el('span', 'chat-status'), {'data-state': 'connecting', role: 'status'});
    var who = el('div', 'chat-me');
    who.appendChild(ui.meName);
    who.appendChild(ui.status);
    head.appendChild(ui.meAvatar);
    head.appendChild(who);
    if (window.Notification) {
      ui.notify = attrs(button('chat-icon-button chat-notify', t('notify_me'), 'bell'),
                        {'aria-pressed': 'false'});
      head.appendChild(ui.notify);
    }
    var menu = languageMenu();
    if (menu) { head.appendChild(menu); }
    if (MODE === 'page') {
      ui.logout = button('chat-icon-button chat-logout', t('log_out'), 'logout');
      ui.logout.setAttribute('data-chat-logout', '');
      head.appendChild(ui.logout);
    } else {
      ui.close = button('chat-icon-button chat-close', t('close_chat'), 'close');
      head.appendChild(ui.close);
    }
    side.appendChild(head);
    if (root.getAttribute('data-groups') !== 'off') { side.appendChild(buildGroupForm()); }

    var searchBox = el('div', 'chat-search');
    ui.search = attrs(el('input', 'chat-search-input'), {
      type: 'search', placeholder: t('search_people'), 'aria-label': t('search_people_label'),
      autocomplete: 'off', spellcheck: 'false'});
    searchBox.appendChild(ui.search);
    side.appendChild(searchBox);
    ui.results = attrs(el('ul', 'chat-search-results'), {'aria-label': t('people')});
    show(ui.results, false);
    side.appendChild(ui.results);
    buildFind(side, searchBox);

    ui.list = attrs(el('ul', 'chat-list'), {'aria-label': t('conversations')});
    side.appendChild(ui.list);
    ui.listEmpty = el('p', 'chat-empty', t('no_conversations'));
    show(ui.listEmpty, false);
    side.appendChild(ui.listEmpty);
    ui.listLoading = attrs(el('div', 'chat-skeleton'), {role: 'status', 'aria-label': t('loading_conversations')});
    for (var i = 0; i < 4; i++) {
      var row = el('div', 'chat-skeleton-row');
      row.appendChild(el('span', 'chat-skeleton-avatar'));
      var lines = el('span', 'chat-skeleton-lines');
      lines.appendChild(el('span', 'chat-skeleton-line'));
      lines.appendChild(el('span', 'chat-skeleton-line chat-skeleton-short'));
      row.appendChild(lines);
      ui.listLoading.appendChild(row);
    }
    side.appendChild(ui.listLoading);
    shell.appendChild(side);

    shell.appendChild(buildConversation());
    ui.placeholder = el('div', 'chat-placeholder');
    ui.placeholder.appendChild(icon('chat'));
    ui.placeholder.appendChild(el('p', null, t('pick_conversation')));
    shell.appendChild(ui.placeholder);

    ui.announce = attrs(el('div', 'chat-sr-only'), {'aria-live': 'polite', 'aria-atomic': 'true'});
    shell.appendChild(ui.announce);

    if (MODE === 'docked') {
      ui.launcher = attrs(button('chat-launcher', t('open_chat'), 'chat'), {'aria-expanded': 'false'});
      ui.badge = el('span', 'chat-launcher-badge');
      ui.launcher.appendChild(ui.badge);
      ui.panel = attrs(el('div', 'chat-panel'), {role: 'dialog', 'aria-label': t('chat')});
      ui.panel.appendChild(shell);
      show(ui.panel, false);
      root.appendChild(ui.panel);
      root.appendChild(ui.launcher);
    } else {
      root.appendChild(shell);
    }
    bindEvents();
  }

  // data-languages: [[tag, name], ...] offered by the server. Choosing one keeps
  // it in the chat_lang cookie (the server reads it next) and reloads the page.
  function languageMenu() {
    var list;
    try { list = JSON.parse(root.getAttribute('data-languages') || 'null'); } catch (e) { list = null; }
    if (!list || list.length < 2) { return null; }
    var select = attrs(el('select', 'chat-language'), {'aria-label': t('language'), title: t('language')});
    for (var i = 0; i < list.length; i++) {
      var option = attrs(el('option', null, list[i][1]), {value: list[i][0], lang: list[i][0]});
      if (window.ChatI18n.match(list[i][0]) === I18N.lang) { option.selected = true; }
      select.appendChild(option);
    }
    on(select, 'change', function () {
      document.cookie = 'chat_lang=' + encodeURIComponent(select.value) +
        '; path=/; max-age=31536000; samesite=lax';
      window.location.reload();
    });
    ui.language = select;
    return select;
  }

  function buildConversation() {
    var box = attrs(el('section', 'chat-container'), {'aria-label': t('conversation')});
    var header = el('header', 'chat-header');
    ui.back = button('chat-icon-button chat-back', t('back'), 'back');
    ui.otherAvatar = avatar(null);
    ui.otherName = el('h2', 'chat-header-name');
    ui.otherState = el('span', 'chat-header-state');
    var names = el('div', 'chat-header-text');
    names.appendChild(ui.otherName);
    names.appendChild(ui.otherState);
    ui.stack = el('span', 'chat-avatars');
    header.appendChild(ui.back);
    header.appendChild(ui.otherAvatar);
    header.appendChild(ui.stack);
    header.appendChild(names);
    ui.block = attrs(el('button', 'chat-block', t('block')), {type: 'button', 'aria-pressed': 'false'});
    header.appendChild(ui.block);
    ui.membersButton = attrs(el('button', 'chat-members-button', t('members_title')),
                             {type: 'button', 'aria-expanded': 'false'});
    header.appendChild(ui.membersButton);
    if (MODE === 'docked') {
      // Full screen on a phone, the conversation needs its own way out.
      ui.closeConv = button('chat-icon-button chat-close chat-close-conv', t('close_chat'), 'close');
      header.appendChild(ui.closeConv);
    }
    box.appendChild(header);
    ui.conn = attrs(el('div', 'chat-conn'), {role: 'status'});
    show(ui.conn, false);
    box.appendChild(ui.conn);

    ui.content = attrs(el('div', 'chat-content'), {tabindex: '0', 'aria-label': t('messages_label')});
    ui.older = button('chat-older', null, null, t('load_older'));
    ui.messages = el('ul', 'chat-messages');
    ui.convEmpty = el('p', 'chat-conv-empty', t('no_messages'));
    ui.convLoading = attrs(el('p', 'chat-conv-loading', t('loading_messages')), {role: 'status'});
    show(ui.convEmpty, false);
    show(ui.convLoading, false);
    ui.content.appendChild(ui.older);
    ui.content.appendChild(ui.convEmpty);
    ui.content.appendChild(ui.convLoading);
    ui.content.appendChild(ui.messages);
    var scroller = el('div', 'chat-scroller');
    scroller.appendChild(ui.content);
    ui.jump = button('chat-jump', t('jump_label'), 'down');
    ui.jumpText = el('span', 'chat-jump-text');
    ui.jump.appendChild(ui.jumpText);
    show(ui.jump, false);
    scroller.appendChild(ui.jump);
    box.appendChild(scroller);
    box.appendChild(buildMembers());

    ui.typing = attrs(el('div', 'chat-typing'), {'aria-hidden': 'true'});
    box.appendChild(ui.typing);
    ui.notice = attrs(el('p', 'chat-notice'), {role: 'status'});
    box.appendChild(ui.notice);

    ui.replyBar = el('div', 'chat-reply-draft');
    ui.replyText = el('span', 'chat-reply-draft-text');
    ui.replyCancel = button('chat-reply-cancel', t('cancel_reply'), null, '\u00d7');
    ui.replyBar.appendChild(ui.replyText);
    ui.replyBar.appendChild(ui.replyCancel);
    show(ui.replyBar, false);
    box.appendChild(ui.replyBar);
    buildTray(box);

    ui.form = attrs(el('form', 'chat-compose'), {autocomplete: 'off'});
    ui.input = attrs(el('textarea', 'chat-input'), {
      id: 'chat-input', rows: '1', placeholder: t('write_message'),
      'aria-label': t('message_label'), enterkeyhint: 'send'});
    ui.send = button('chat-send', t('send'), 'send');
    ui.send.type = 'submit';
    ui.counter = attrs(el('span', 'chat-counter'), {'aria-live': 'polite'});
    ui.form.appendChild(buildAttach(box));
    ui.form.appendChild(ui.input);
    ui.form.appendChild(ui.counter);
    ui.form.appendChild(ui.send);
    box.appendChild(ui.form);
    ui.container = box;
    show(box, false);
    return box;
  }

  // -- rendering -------------------------------------------------------------------

  function setStatus(state) {
    var labels = {connecting: t('status_connecting'), connected: t('status_connected'),
                  reconnecting: t('status_reconnecting'), offline: t('status_offline')};
    var banners = {connecting: t('status_connecting'), reconnecting: t('banner_reconnecting'),
                   offline: t('banner_offline')};
    ui.status.setAttribute('data-state', state);
    setText(ui.status, labels[state]);
    ui.conn.setAttribute('data-state', state);
    setText(ui.conn, banners[state] || '');
    show(ui.conn, state !== 'connected');
    toggle(root, 'chat-is-offline', state !== 'connected');
    if (current) { refresh(current); memberPresence(current); }
    if (ui.list) { renderList(); }
  }

  function renderMe() {
    renderNotifyToggle();
    setText(ui.meName, nameOf(me));
    setAvatar(ui.meAvatar, me && {avatar: me.avatar});
  }

  function renderList() {
    if (!ui.list) { return; }
    var order = listOrder();
    var total = 0;
    for (var i = 0; i < order.length; i++) {
      var c = order[i];
      if (!c.node) { c.node = buildItem(c); }
      updateItem(c);
      total += c.unread;
      if (ui.list.children[i] !== c.node) { ui.list.insertBefore(c.node, ui.list.children[i] || null); }
    }
    while (ui.list.children.length > order.length) { ui.list.removeChild(ui.list.lastChild); }
    show(ui.listEmpty, !order.length && listKnown);
    show(ui.listLoading, !order.length && !listKnown);
    if (ui.badge) { setText(ui.badge, total ? (total > 99 ? '99+' : total) : ''); }
  }

  function buildItem(c) {
    var li = el('li', 'chat-item');
    li.chatConv = c;
    if (!c.group) { li.setAttribute('data-user-id', c.key); }
    var b = attrs(el('button', 'chat-item-button'), {type: 'button'});
    var body = el('span', 'chat-item-body');
    var top = el('span', 'chat-item-top');
    var bottom = el('span', 'chat-item-bottom');
    c.nodes = {avatar: c.group ? el('span', 'chat-avatars') : avatar(c.other), name: el('span', 'chat-name'), time: timeNode('chat-time'),
               preview: el('span', 'chat-preview'), unread: el('span', 'unread')};
    top.appendChild(c.nodes.name);
    top.appendChild(c.nodes.time);
    bottom.appendChild(c.nodes.preview);
    bottom.appendChild(c.nodes.unread);
    body.appendChild(top);
    body.appendChild(bottom);
    b.appendChild(c.nodes.avatar);
    b.appendChild(body);
    li.appendChild(b);
    return li;
  }

  function updateItem(c) {
    var cid = c.cid || (c.last && c.last.conversation);
    if (cid) { c.node.setAttribute('data-conversation-id', cid); }
    var n = c.nodes;
    var typing = isTyping(c);
    var last = c.last;
    var preview = typing ? t('typing') : '';
    if (!typing && last) {
      preview = last.deleted ? t('message_deleted') : String(last.content).replace(/\s+/g, ' ') || fileNames(last);
      if (me && sameId(last.from, me.id)) { preview = t('you_prefix', {text: preview}); }
      else if (c.group) { preview = t('sender_prefix', {name: userName(c, last.from), text: preview}); }
    }
    setText(n.name, nameOf(c.other));
    setText(n.preview, preview);
    setText(n.unread, c.unread ? (c.unread > 99 ? '99+' : c.unread) : '');
    setTime(n.time, last ? last.sent_at : '');
    if (c.group) { stack(n.avatar, c); } else { setAvatar(n.avatar, c.other); }
    toggle(c.node, 'online', connected && !c.group && !!c.other.online);
    toggle(c.node, 'active', c === current);
    toggle(c.node, 'has-unread', c.unread > 0);
    toggle(c.node, 'is-typing', typing);
    var parts = [connected && !c.group && c.other.online ? t('row_online', {name: nameOf(c.other)}) : nameOf(c.other)];
    if (c.unread) { parts.push(t('unread', {count: c.unread})); }
    if (preview) { parts.push(preview); }
    var label = parts.join(t('list_sep'));
    c.node.firstChild.setAttribute('aria-label', label);
    if (c === current) { c.node.firstChild.setAttribute('aria-current', 'true'); } else {
      c.node.firstChild.removeAttribute('aria-current');
    }
  }

  // Two or three members' faces (not one's own), without presence dots.
  function stack(box, c) {
    if (box.chatVer === c.ver) { return; }
    box.chatVer = c.ver;
    clear(box);
    var list = c.g ? c.g.members : [];
    for (var i = 0; i < list.length && box.children.length < 3; i++) {
      if (!sameId(list[i].id, me && me.id) || list.length < 3) { box.appendChild(avatar({avatar: list[i].avatar})); }
    }
  }

  function refresh(c, toBottom) {
    if (c !== current) { return; }
    renderHeader(c);
    renderMessages(c, toBottom);
    markRead(c);
    ui.input.disabled = !!c.removed;
    toggle(ui.container, 'is-readonly', !!c.removed);
    setText(ui.typing, isTyping(c) ? t('is_typing', {name: c.group ? userName(c, c.typer) : nameOf(c.other)}) : '');
    toggle(ui.typing, 'is-active', isTyping(c));
    setText(ui.notice, c.notice);
    show(ui.notice, !!c.notice);
  }

  // Another's presence is only known while we are connected ourselves.
  function renderHeader(c) {
    var isBlocked = !!blocked[c.key];
    setText(ui.block, isBlocked ? t('unblock') : t('block'));
    ui.block.setAttribute('aria-pressed', isBlocked ? 'true' : 'false');
    setText(ui.otherName, nameOf(c.other));
    show(ui.block, !c.group);
    show(ui.otherAvatar, !c.group);
    show(ui.stack, !!c.group);
    show(ui.membersButton, !!c.group && !c.removed);
    if (c.group) {
      stack(ui.stack, c);
      setText(ui.otherState, c.g ? t('members', {count: c.g.members.length}) : '');
      toggle(ui.otherState, 'is-online', false);
      return;
    }
    setAvatar(ui.otherAvatar, c.other);
    setText(ui.otherState, connected ? (c.other.online ? t('online') : t('offline')) : t('waiting_network'));
    toggle(ui.otherState, 'is-online', connected && !!c.other.online);
  }

  function atBottom() {
    var box = ui.content;
    return box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  }

  function renderMessages(c, toBottom) {
    var box = ui.content;
    var ul = ui.messages;
    var wasAtBottom = toBottom || atBottom();
    var list = c.hasNewer ? c.msgs.slice() : c.msgs.concat(c.pending);
    var kids = ul.children;
    // Append when the screen already shows a prefix of the list; else rebuild.
    var keep = ul.getAttribute('data-conv') === c.key && kids.length <= list.length;
    for (var i = 0; keep && i < kids.length; i++) {
      keep = kids[i].getAttribute('data-key') === msgKey(list[i]);
    }
    var shown = keep ? kids.length : 0;
    if (!keep) {
      clear(ul);
      ul.setAttribute('data-conv', c.key);
    }
    // Unread messages that arrive out of sight get a divider above the first;
    // it moves down once everything above it has been read.
    var fresh = firstUnread(c);
    if (fresh !== null && (c.newFrom === null || fresh > c.newFrom) &&
        (c.opening || !wasAtBottom || document.hidden)) {
      c.newFrom = fresh;
    }
    if (c.loaded) { c.opening = false; }
    for (i = kids.length; i < list.length; i++) { ul.appendChild(buildBubble(list[i])); }
    var seenId = lastSeenOfMine(c);
    var lastMine = lastOfMine(c);
    // Only the tail can change when nothing else did: the last bubble shown
    // (its group may end), the new ones, and the pending ones.
    var sig = [seenId, lastMine, c.newFrom, connected, list.length && list[0].id, changes, c.ver].join('|');
    var from = 0;
    if (keep && ul.chatSig === sig) { from = Math.max(0, Math.min(shown - 1, c.msgs.length - 1)); }
    ul.chatSig = sig;
    for (i = from; i < list.length; i++) {
      updateBubble(kids[i], list[i], list[i - 1], list[i + 1], seenId, lastMine, c.newFrom);
    }
    show(ui.older, c.hasMore && c.msgs.length > 0);
    show(ui.convEmpty, c.loaded && !list.length);
    show(ui.convLoading, !c.loaded && !list.length && !c.notice);
    if (wasAtBottom) { box.scrollTop = box.scrollHeight; }
    updateJump(c);
  }

  function firstUnread(c) {
    for (var i = 0; i < c.msgs.length; i++) {
      var m = c.msgs[i];
      if (!sameId(m.from, me && me.id) && !m.read_at && m.id > c.readSent) { return m.id; }
    }
    return null;
  }

  function unreadBelow(c) {
    var n = 0;
    for (var i = c.msgs.length - 1; i >= 0; i--) {
      var m = c.msgs[i];
      if (!sameId(m.from, me && me.id) && !m.read_at && m.id > c.readSent) { n += 1; }
    }
    return n;
  }

  function updateJump(c) {
    var n = unreadBelow(c);
    var away = !atBottom();
    setText(ui.jumpText, n ? t('jump_new', {count: n}) : '');
    ui.jump.setAttribute('aria-label', n ? t('jump_label_new', {count: n}) : t('jump_label'));
    show(ui.jump, c.hasNewer || away && (n > 0 || ui.content.scrollHeight - ui.content.scrollTop - ui.content.clientHeight > 400));
  }

  function lastSeenOfMine(c) {
    for (var i = c.msgs.length - 1; i >= 0; i--) {
      if (sameId(c.msgs[i].from, me && me.id) && c.msgs[i].read_at) { return c.msgs[i].id; }
    }
    return null;
  }

  function lastOfMine(c) {
    for (var i = c.msgs.length - 1; i >= 0; i--) {
      if (sameId(c.msgs[i].from, me && me.id)) { return c.msgs[i].id; }
    }
    return null;
  }

  // Links: http, https and www only, built as elements with text nodes.
  var LINK = /(\bhttps?:\/\/[^\s<>"]+|\bwww\.[^\s<>"]+)/gi;
  var LINK_TAIL = /[.,;:!?'"\)\]]+$/;

  function appendLinked(node, text) {
    var at = 0;
    var found;
    LINK.lastIndex = 0;
    while ((found = LINK.exec(text)) !== null) {
      var url = found[0];
      var tail = url.match(LINK_TAIL);
      if (tail && !(tail[0].charAt(0) === ')' && url.indexOf('(') >= 0)) { url = url.slice(0, url.length - tail[0].length); }
      if (!url || /^www\.$/i.test(url)) { continue; }
      if (found.index > at) { node.appendChild(document.createTextNode(text.slice(at, found.index))); }
      var href = /^www\./i.test(url) ? 'https://' + url : url;
      var a = attrs(el('a', 'chat-link', url), {href: href, target: '_blank', rel: 'noopener noreferrer nofollow'});
      node.appendChild(a);
      at = found.index + url.length;
      LINK.lastIndex = at;
    }
    if (at < text.length) { node.appendChild(document.createTextNode(text.slice(at))); }
    return node;
  }

  function dayLabel(iso) {
    var ms = Date.parse(iso);
    if (isNaN(ms)) { return ''; }
    return I18N.dayHeading(new Date(ms));  // Today / 今天, 'Fri, 3 Nov' / '11月3日 周五'
  }

  function buildBubble(m) {
    var mine = me && sameId(m.from, me.id);
    var li = el('li', mine ? 'chat-self' : 'chat-other');
    li.setAttribute('data-key', msgKey(m));
    var day = attrs(el('div', 'chat-day'), {role: 'separator'});
    var divider = attrs(el('div', 'chat-new-divider', t('new_messages_divider')), {role: 'separator'});
    show(day, false);
    show(divider, false);
    li.appendChild(day);
    li.appendChild(divider);
    var who = null;
    if (!mine) {  // the sender, in a group
      who = el('div', 'chat-sender');
      who.appendChild(avatar(null));
      who.appendChild(el('span', 'chat-sender-name'));
      show(who, false);
      li.appendChild(who);
    }
    var bubble = el('div', 'chat-bubble');
    var text = el('div', 'chat-text');
    bubble.appendChild(text);
    var meta = el('div', 'chat-meta');
    meta.appendChild(attrs(timeNode('chat-stamp', false), {'data-clock': '1'}));
    var state = el('span', 'chat-state');
    meta.appendChild(state);
    bubble.appendChild(meta);
    var rep = button('chat-reply-button', t('reply_label'), null, t('reply'));
    show(rep, false);
    bubble.appendChild(rep);
    // Delete: one's own messages, and (a group's owner) anyone's in the group.
    var del = button('chat-delete', t('delete_label'), null, t('delete'));
    show(del, false);
    bubble.appendChild(del);
    li.appendChild(bubble);
    li.chatParts = {day: day, divider: divider, meta: meta, stamp: meta.firstChild, state: state,
                    text: text, del: del, reply: rep, who: who};
    renderText(li, m);
    return li;
  }

  // The text of a bubble, or its tombstone; "edited" after a changed one.
  function renderText(li, m) {
    var q = m.reply_to;
    var who = q && typeof q.id === 'number' && current ? userName(current, q.from) : '';
    var sig = (m.deleted ? 'D' : 'T') + (m.edited_at || '') + '|' + attachmentKey(m) + '|' +
      m.content + (q ? '|' + q.id + (q.deleted ? 'D' : '') + q.content + '|' + who : '');
    if (li.chatTextSig === sig) { return; }
    li.chatTextSig = sig;
    var text = li.chatParts.text;
    clear(text);
    toggle(li, 'is-deleted', !!m.deleted);
    renderAttachments(li, m.deleted ? [] : (m.attachments || []));
    if (q && typeof q.id === 'number') {
      var quote = attrs(el('button', 'chat-reply'), {type: 'button', 'data-quote': q.id});
      if (who) { quote.appendChild(el('span', 'chat-reply-name', who)); }
      quote.appendChild(el('span', 'chat-reply-text', q.deleted ? t('message_deleted') : String(q.content)));
      text.appendChild(quote);
    }
    if (m.deleted) {
      text.appendChild(el('span', 'chat-deleted', t('message_deleted')));
      return;
    }
    appendLinked(text, String(m.content));
    if (m.edited_at) {
      text.appendChild(document.createTextNode(' '));
      text.appendChild(el('span', 'chat-edited', t('edited_mark')));
    }
  }

  function attachmentKey(m) {
    var ids = [];
    var files = m.attachments || [];
    for (var i = 0; i < files.length; i++) { ids.push(files[i] && files[i].id); }
    return ids.join(',');
  }

  // Only chat's own paths: never another origin's URL from a message.
  function localPath(url) {
    return typeof url === 'string' && url.charAt(0) === '/' && url.charAt(1) !== '/' &&
      url.charAt(1) !== '\\';
  }

  function fileSize(n) {
    if (typeof n !== 'number' || n < 0) { return ''; }
    if (n < 1024) { return t('size_bytes', {n: n}); }
    if (n < 1048576) { return t('size_kb', {n: Math.round(n / 1024)}); }
    return t('size_mb', {n: Math.round(n / 104857.6) / 10});
  }

  // Images as thumbnails that open the full image; other files as cards
  // (name, size) that download.
  // (Beside the text, not in it: .chat-text stays the message's words.)
  function renderAttachments(li, files) {
    var box = li.chatParts.files;
    if (!box) {
      if (!files.length) { return; }
      box = li.chatParts.files = el('div', 'chat-attachments');
      var text = li.chatParts.text;
      text.parentNode.insertBefore(box, text.nextSibling);
    }
    clear(box);
    show(box, files.length > 0);
    for (var i = 0; i < files.length; i++) {
      var f = files[i];
      if (!f || !localPath(f.url)) { continue; }
      var name = String(f.name || t('file_unnamed'));
      if (f.thumb_url && localPath(f.thumb_url)) {
        var open = attrs(el('a', 'chat-image'), {href: f.url, target: '_blank', rel: 'noopener'});
        var img = attrs(el('img', 'chat-attachment'), {src: f.thumb_url, alt: name, loading: 'lazy'});
        if (f.width > 0 && f.height > 0) {
          var scale = Math.min(1, 320 / Math.max(f.width, f.height));
          img.setAttribute('width', String(Math.max(1, Math.round(f.width * scale))));
          img.setAttribute('height', String(Math.max(1, Math.round(f.height * scale))));
        }
        open.appendChild(img);
        box.appendChild(open);
      } else {
        var card = attrs(el('a', 'chat-attachment chat-file'), {href: f.url, download: name});
        card.appendChild(el('span', 'chat-file-name', name));
        card.appendChild(el('span', 'chat-file-size', fileSize(f.size)));
        box.appendChild(card);
      }
    }
  }

  function closeInTime(a, b) {
    return a && b && sameId(a.from, b.from) && Date.parse(b.sent_at) - Date.parse(a.sent_at) < GROUP_GAP &&
      sameDay(new Date(Date.parse(a.sent_at)), new Date(Date.parse(b.sent_at)));
  }

  function updateBubble(li, m, prev, next, seenId, lastMine, newFrom) {
    var parts = li.chatParts;
    var mine = me && sameId(m.from, me.id);
    var isNewFrom = newFrom !== null && m.id === newFrom;
    var grouped = closeInTime(prev, m) && !isNewFrom;
    var groupEnd = !closeInTime(m, next) || (next && newFrom !== null && next.id === newFrom);
    if (m.id) {
      li.setAttribute('data-id', m.id);
      li.setAttribute('data-message-id', m.id);
    }
    renderText(li, m);
    parts.reply.setAttribute('data-reply', m.id || '');
    show(parts.reply, !!m.id && !m.deleted && !m.status);
    parts.del.setAttribute('data-delete', m.id || '');
    show(parts.del, !!m.id && !m.deleted && !m.status && !!me && (sameId(m.from, me.id) ||
      !!(current && current.group && current.g && sameId(current.g.owner, me.id))));
    if (parts.who) {
      var g = !grouped && current && current.group;
      show(parts.who, !!g);
      if (g) {
        setText(parts.who.lastChild, userName(current, m.from));
        setAvatar(parts.who.firstChild, {avatar: (people[key(m.from)] || {}).avatar});
      }
    }
    var newDay = !prev || !sameDay(new Date(Date.parse(prev.sent_at)), new Date(Date.parse(m.sent_at)));
    setText(parts.day, newDay ? dayLabel(m.sent_at) : '');
    show(parts.day, newDay);
    show(parts.divider, isNewFrom);
    toggle(li, 'chat-grouped', !!grouped);
    toggle(li, 'chat-group-end', !!groupEnd);
    var status = m.status;
    toggle(li, 'chat-pending', status === 'pending' || status === 'queued');
    toggle(li, 'chat-failed', status === 'failed' || status === 'refused');
    setTime(parts.stamp, m.sent_at);
    var state = '';
    if (status === 'queued') { state = connected ? t('sending') : t('waiting_network_state'); }
    else if (status === 'pending') { state = t('sending'); }
    else if (status === 'failed' || status === 'refused') { state = status; }
    else if (mine && m.id === seenId) { state = t('seen'); }
    else if (mine && m.id === lastMine) { state = m.delivered ? t('delivered') : t('sent'); }
    show(parts.stamp, !!groupEnd || !!state);
    show(parts.meta, !!groupEnd || !!state);
    var stateNode = parts.state;
    var sig = state + (m.error ? m.error.message : '');
    if (stateNode.getAttribute('data-sig') === sig) { return; }
    stateNode.setAttribute('data-sig', sig);
    clear(stateNode);
    if (state === 'failed' || state === 'refused') {
      stateNode.appendChild(el('span', 'chat-error', t('not_sent', {reason: m.error && m.error.message || t('error')})));
      stateNode.appendChild(document.createTextNode(' '));
      var again = state === 'failed' ? button('chat-retry', null, null, t('retry_now'))
        : button('chat-retry chat-edit', null, null, t('edit'));
      again.setAttribute(state === 'failed' ? 'data-retry' : 'data-edit', m.client_id);
      stateNode.appendChild(again);
    } else {
      stateNode.appendChild(document.createTextNode(state));
    }
  }

  function announce(text) {
    setText(ui.announce, '');
    window.setTimeout(function () { setText(ui.announce, text); }, 50);
  }

  function updateTitle() {
    document.title = unseen ? '(' + unseen + ') ' + baseTitle : baseTitle;
    updateFavicon();
  }

  // -- notifications: asked for from a click, shown only for a hidden tab ----------

  var prefs = (function () {
    try { return window.localStorage; } catch (e) { return null; }
  }());

  function pref(name, value) {
    try {
      if (value === undefined) { return prefs ? prefs.getItem('chat-pref:' + name) : null; }
      if (prefs) { prefs.setItem('chat-pref:' + name, value); }
    } catch (e) { /* private mode: the preference lasts this page */ }
    return value;
  }

  function notifyWanted() {
    return !!window.Notification && window.Notification.permission === 'granted' && pref('notify') === '1';
  }

  function renderNotifyToggle() {
    if (!ui.notify) { return; }
    var onNow = notifyWanted();
    ui.notify.setAttribute('aria-pressed', onNow ? 'true' : 'false');
    var label = onNow ? t('notify_on') : t('notify_me');
    ui.notify.setAttribute('aria-label', label);
    ui.notify.title = label;
    toggle(ui.notify, 'is-on', onNow);
  }

  function toggleNotify() {
    if (notifyWanted()) { pref('notify', '0'); renderNotifyToggle(); return; }
    pref('notify', '1');
    var asked = window.Notification.requestPermission(function () { renderNotifyToggle(); });
    if (asked && asked.then) { asked.then(renderNotifyToggle); }
    renderNotifyToggle();
  }

  function notify(c, m) {
    if (notifyWanted()) {
      try {
        var n = new window.Notification(nameOf(c.other), {
          body: (c.group ? t('sender_prefix', {name: userName(c, m.from), text: m.content}) : String(m.content)).slice(0, 160), tag: 'chat-' + c.key, icon: c.other.avatar || undefined});
        n.onclick = function () { window.focus(); openConversation(c); n.close(); };
      } catch (e) { /* some browsers only notify from a service worker */ }
    }
    if (pref('sound') === '1' || root.getAttribute('data-sound') === 'on') { chime(); }
  }

  var audio = null;

  function chime() {
    var Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) { return; }
    try {
      audio = audio || new Ctx();
      var osc = audio.createOscillator();
      var gain = audio.createGain();
      osc.frequency.value = 880;
      gain.gain.setValueAtTime(0.08, audio.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.25);
      osc.connect(gain);
      gain.connect(audio.destination);
      osc.start();
      osc.stop(audio.currentTime + 0.25);
    } catch (e) { /* no sound then */ }
  }

  // The standalone page (or a host that asks with data-favicon="badge") shows
  // the count of unseen messages on its favicon.
  var favicon = null;

  function updateFavicon() {
    if (MODE !== 'page' && root.getAttribute('data-favicon') !== 'badge') { return; }
    var link = document.querySelector('link[rel~="icon"]');
    if (!link) { return; }
    if (!favicon) { favicon = {link: link, href: link.getAttribute('href'), img: null}; }
    if (!unseen) { favicon.link.setAttribute('href', favicon.href); return; }
    var canvas = document.createElement('canvas');
    if (!canvas.getContext) { return; }
    canvas.width = canvas.height = 64;
    var g = canvas.getContext('2d');
    function draw() {
      try {
        g.clearRect(0, 0, 64, 64);
        if (favicon.img && favicon.img.complete) { g.drawImage(favicon.img, 0, 0, 64, 64); }
        g.fillStyle = '#dc2626';
        g.beginPath();
        g.arc(42, 22, 22, 0, 2 * Math.PI);
        g.fill();
        g.fillStyle = '#fff';
        g.font = 'bold 30px sans-serif';
        g.textAlign = 'center';
        g.textBaseline = 'middle';
        g.fillText(unseen > 9 ? '9+' : String(unseen), 42, 24);
        favicon.link.setAttribute('href', canvas.toDataURL('image/png'));
      } catch (e) { /* a tainted canvas: keep the plain icon */ }
    }
    if (!favicon.img) {
      favicon.img = new window.Image();
      favicon.img.onload = draw;
      favicon.img.src = favicon.href;
    }
    draw();
  }

  function renderSearch(users) {
    clear(ui.results);
    if (!users) { show(ui.results, false); return; }
    if (!users.length) {
      ui.results.appendChild(el('li', 'chat-search-none', t('no_one_found')));
    }
    for (var i = 0; i < users.length; i++) {
      var u = users[i];
      var li = el('li', 'chat-result' + (u.online ? ' online' : ''));
      li.setAttribute('data-user-id', key(u.id));
      var b = attrs(el('button', 'chat-item-button'), {type: 'button'});
      b.appendChild(avatar(u));
      b.appendChild(el('span', 'chat-name', u.username));
      li.appendChild(b);
      li.userData = u;
      ui.results.appendChild(li);
    }
    show(ui.results, true);
  }

  // -- actions -----------------------------------------------------------------------

  // With messageId: scrolled to that message (showMessage) instead of the newest.
  function openConversation(c, messageId) {
    if (current && current !== c) { saveDraft(current); current.newFrom = null; }
    if (current !== c) { c.newFrom = null; c.opening = true; }
    if (current !== c) { showMembers(false); }
    current = c;
    cache.set('open', c.key);
    ui.input.value = c.draft || '';
    composerChanged();
    renderTray();
    show(ui.container, true);
    show(ui.placeholder, false);
    toggle(root, 'chat-view-conv', true);
    setPanel(true);
    autoGrow();
    refresh(c, true);
    renderList();
    markRead(c);
    if (messageId) { showMessage(c, messageId); } else if (c.hasNewer) { toPresent(c); }
    sync(c);  // (not while jumpTo loads a page)
    ui.input.focus();
  }

  // A conversation by its contract v2.0 id, a group's or a direct one's,
  // scrolled to one of its messages if messageId is given.
  function openConversationById(id, messageId) {
    var known = byCid[key(id)];
    if (known) { openConversation(known, messageId); return; }
    api('/groups/' + encodeURIComponent(id), function (err, data) {
      if (!err && data && data.conversation) {
        openConversation(group(data.conversation), messageId);
        return;
      }
      api('/conversations', function (err2, data2) {
        var list = (!err2 && data2 && data2.conversations) || [];
        for (var i = 0; i < list.length; i++) {
          if (sameId(list[i].id, id) && list[i].other) {
            openUser(list[i].other.id, messageId);
            return;
          }
        }
      });
    });
  }

  function openUser(userId, messageId) {
    if (!ready) { queuedOpen = userId; setPanel(true); return; }
    var id = toId(userId);
    if (sameId(id, me.id)) { return; }
    openConversation(conversation({id: id}), messageId);
  }

  function backToList() {
    toggle(root, 'chat-view-conv', false);
    var item = current && current.node;
    // (Not to a row hidden under message search results: to its field then.)
    (item && item.parentNode && item.offsetParent ? item.firstChild : ui.search.hidden ? ui.find : ui.search).focus();
  }

  function setPanel(open) {
    if (MODE !== 'docked') { return; }
    panelOpen = open;
    show(ui.panel, open);
    ui.launcher.setAttribute('aria-expanded', open ? 'true' : 'false');
    toggle(root, 'chat-open', open);
    cache.set('panel', open ? 1 : 0);
    if (open && current) { markRead(current); }
  }

  var searchSeq = 0;
  var searchTimer = null;

  function searchNow() {
    var q = ui.search.value.trim();
    var seq = ++searchSeq;
    if (!q) { renderSearch(null); return; }
    api('/users?q=' + encodeURIComponent(q) + '&limit=8', function (err, data) {
      if (seq !== searchSeq) { return; }  // an older answer to a newer query
      renderSearch(err ? [] : data.users);
    });
  }

  function pickResult(li) {
    var u = li.userData;
    ui.search.value = '';
    renderSearch(null);
    openConversation(conversation(u));
  }

  function autoGrow() {
    // Grow with the text up to a few lines; a hidden box has no height to copy.
    ui.input.style.height = 'auto';
    if (ui.input.scrollHeight) { ui.input.style.height = Math.min(ui.input.scrollHeight, 140) + 'px'; }
  }

  var lastTypingSent = 0;

  function bindEvents() {
    on(ui.list, 'click', function (e) {
      var li = closest(e.target, 'li.chat-item');
      if (li && li.chatConv && convs[li.chatConv.key]) { openConversation(li.chatConv); }
    });
    on(ui.results, 'click', function (e) {
      var li = closest(e.target, 'li[data-user-id]');
      if (li) { pickResult(li); }
    });
    on(ui.search, 'input', function () {
      window.clearTimeout(searchTimer);
      searchTimer = window.setTimeout(searchNow, 200);
    });
    on(ui.search, 'keydown', function (e) {
      var first = ui.results.querySelector('li[data-user-id]');
      if (e.key === 'Escape') { ui.search.value = ''; renderSearch(null); }
      if (e.key === 'Enter' && first && !composing(e)) { e.preventDefault(); pickResult(first); }
      if (e.key === 'ArrowDown' && first) { e.preventDefault(); first.firstChild.focus(); }
    });
    on(ui.form, 'submit', function (e) {
      e.preventDefault();
      if (editing) {
        saveEdit();
      } else if (current && tooLong(ui.input.value)) {
        current.notice = t('too_long_notice', {limit: MAX_LENGTH});
        refresh(current);
      } else if (current && send(current, ui.input.value)) {
        ui.input.value = '';
        saveDraft(current);
        composerChanged();
      }
      ui.input.focus();
    });
    on(ui.input, 'keydown', function (e) {
      // Enter sends; Shift+Enter, or Enter that confirms an IME candidate, keeps typing.
      if ((e.key === 'Enter' || e.keyCode === 13) && !e.shiftKey && !composing(e)) {
        e.preventDefault();
        ui.send.click();
      } else if ((e.key === 'ArrowUp' || e.keyCode === 38) && !ui.input.value && current &&
                 !editing && startEditing(current)) {
        e.preventDefault();  // up-arrow in an empty box edits your last message
      } else if ((e.key === 'Escape' || e.keyCode === 27) && editing) {
        e.preventDefault();
        stopEditing();
      } else if ((e.key === 'Escape' || e.keyCode === 27) && replying) {
        e.preventDefault();
        stopReplying();
      }
    });
    on(ui.input, 'input', function () {
      composerChanged();
      if (current) { saveDraft(current); }
      var now = Date.now();
      if (current && ui.input.value.trim() && now - lastTypingSent > TYPING_EVERY && connected) {
        lastTypingSent = now;
        emit('typing', target(current));
      }
    });
    var scrollTimer = null;
    on(ui.content, 'scroll', function () {
      if (current && ui.content.scrollTop < 40) { loadOlder(current); }
      if (current) { nearEnd(current); }
      if (scrollTimer) { return; }
      scrollTimer = window.setTimeout(function () {
        scrollTimer = null;
        if (current) { markRead(current); updateJump(current); }
      }, 120);
    });
    on(ui.jump, 'click', function () {
      if (current && current.hasNewer) { toPresent(current); return; }
      ui.content.scrollTop = ui.content.scrollHeight;
      if (current) { markRead(current); updateJump(current); }
    });
    on(ui.older, 'click', function () { if (current) { loadOlder(current); } });
    on(ui.messages, 'click', function (e) {
      var b = closest(e.target, '[data-retry]');
      if (b) { retry(b.getAttribute('data-retry')); }
      var edit = closest(e.target, '[data-edit]');
      if (edit) { editRefused(edit.getAttribute('data-edit')); }
      var quote = closest(e.target, '[data-quote]');
      if (quote && current) { showMessage(current, +quote.getAttribute('data-quote')); }
      var rep = closest(e.target, '[data-reply]');
      if (rep && rep.getAttribute('data-reply')) { startReplying(+rep.getAttribute('data-reply')); }
      var del = closest(e.target, '[data-delete]');
      if (del && del.getAttribute('data-delete')) { deleteMessage(+del.getAttribute('data-delete')); }
    });
    on(ui.back, 'click', backToList);
    on(ui.block, 'click', toggleBlock);
    on(ui.replyCancel, 'click', function () { stopReplying(); ui.input.focus(); });
    if (ui.notify) { on(ui.notify, 'click', toggleNotify); }
    if (ui.launcher) {
      on(ui.launcher, 'click', function () { setPanel(!panelOpen); if (panelOpen) { ui.search.focus(); } });
      on(ui.close, 'click', function () { setPanel(false); ui.launcher.focus(); });
      on(ui.closeConv, 'click', function () { setPanel(false); ui.launcher.focus(); });
      on(ui.panel, 'keydown', function (e) {
        if (e.key === 'Escape') { setPanel(false); ui.launcher.focus(); }
      });
    }
    on(document, 'click', function (e) {
      var link = closest(e.target, '[data-chat-with]');
      if (link) { e.preventDefault(); openUser(link.getAttribute('data-chat-with')); return; }
      var out = closest(e.target, '[data-chat-logout]');
      if (out === ui.logout) { e.preventDefault(); logoutAndLeave(); } else if (out) { logout(); }
    });
    on(document, 'visibilitychange', function () {
      if (document.hidden) { return; }
      unseen = 0;
      updateTitle();
      if (current) { markRead(current); }
    });
    window.setInterval(refreshTimes, 30000);
    window.setInterval(checkPresence, PRESENCE_EVERY);
    on(window, 'offline', function () {
      // The browser knows the network is gone: say so now, not after a ping timeout.
      if (socket && socket.connected) { socket.io.engine.close(); }
      connected = false;
      setStatus('reconnecting');
    });
    on(window, 'online', function () {
      if (socket && !socket.connected && !stopped) { socket.disconnect(); socket.connect(); }
    });
  }

  // -- attachments: the composer's tray of uploads (contract v2.0 "Uploads") -------
  // Files come from the attach button, a drop on the conversation or a pasted
  // image. Each uploads at once over plain HTTP (so long-polling pages upload
  // too) into its conversation's tray; Send puts the finished ones' ids into
  // chat-to, and the outbox keeps them with the text until the server has them.

  var MAX_FILES = 10;  // attachments per message (the server's limit)
  var UPLOAD_MAX = parseInt(root.getAttribute('data-upload-max'), 10) || 10485760;

  function trayOf(c) { return c.tray || (c.tray = []); }

  // A finished upload (its Attachment) as a tray item.
  function trayItem(att) {
    return {name: String(att.name || t('file_unnamed')), size: att.size, att: att};
  }

  // The finished uploads of a tray live in the cache, so a reload keeps them
  // (they stay the user's until sent or removed); those under way or failed
  // do not outlive the page.
  function saveTray(c) {
    var done = [];
    for (var i = 0; c.tray && i < c.tray.length; i++) {
      if (c.tray[i].att) { done.push(c.tray[i].att); }
    }
    if (done.length) { cache.set('tray:' + c.key, done); } else { cache.remove([cache.name('tray:' + c.key)]); }
  }

  function restoreTray(saved) {
    var items = [];
    for (var i = 0; saved && saved.length && i < saved.length && i < MAX_FILES; i++) {
      var a = saved[i];
      if (a && typeof a.id === 'string') { items.push(trayItem(a)); }
    }
    return items;
  }

  function buildTray(box) {
    ui.tray = attrs(el('ul', 'chat-tray'), {'aria-label': t('files_to_send')});
    show(ui.tray, false);
    box.appendChild(ui.tray);
    on(ui.tray, 'click', function (e) {
      var b = closest(e.target, '[data-upload]');
      var item = b && current && trayOf(current)[+b.getAttribute('data-upload')];
      if (!item) { return; }
      if (b.getAttribute('data-retry-upload')) { startUpload(current, item); } else { dropUpload(current, item); }
      if (current.notice === t('files_not_ready')) { current.notice = ''; refresh(current); }
      renderTray();
      ui.input.focus();
    });
  }

  function buildAttach(box) {
    ui.file = attrs(el('input', 'chat-file-input'), {type: 'file', multiple: '', tabindex: '-1', 'aria-hidden': 'true'});
    show(ui.file, false);
    box.appendChild(ui.file);
    var attach = button('chat-icon-button chat-attach', t('attach_files'), 'clip');
    on(attach, 'click', function () { ui.file.click(); });
    on(ui.file, 'change', function () { addFiles(ui.file.files); ui.file.value = ''; });
    box.setAttribute('data-drop', t('drop_files'));
    function dragsFiles(e) {
      return !!e.dataTransfer && /Files/.test(Array.prototype.join.call(e.dataTransfer.types || [], ' '));
    }
    on(box, 'dragover', function (e) {
      if (dragsFiles(e)) { e.preventDefault(); toggle(box, 'is-dropping', true); }
    });
    on(box, 'dragleave', function (e) {
      if (!e.relatedTarget || !box.contains(e.relatedTarget)) { toggle(box, 'is-dropping', false); }
    });
    on(box, 'drop', function (e) {
      toggle(box, 'is-dropping', false);
      if (dragsFiles(e)) { e.preventDefault(); addFiles(e.dataTransfer.files); }
    });
    on(box, 'paste', function (e) {
      var items = (e.clipboardData && e.clipboardData.items) || [];
      var files = [];
      for (var i = 0; i < items.length; i++) {
        var f = items[i].kind === 'file' && items[i].getAsFile();
        if (f) { files.push(f); }
      }
      if (files.length) { e.preventDefault(); addFiles(files); }
    });
    return attach;
  }

  function addFiles(list) {
    var c = current;
    if (!c || !list) { return; }
    for (var i = 0; i < list.length; i++) {
      if (trayOf(c).length >= MAX_FILES) {
        c.notice = t('too_many_files', {count: MAX_FILES});
        refresh(c);
        break;
      }
      var item = {file: list[i], name: String(list[i].name || t('file_unnamed')), size: list[i].size};
      c.tray.push(item);
      startUpload(c, item);
    }
    renderTray();
  }

  function startUpload(c, item) {
    item.error = null;
    item.pct = 0;
    item.sent = false;
    if (item.size > UPLOAD_MAX) { uploadFailed(item, {status: 413, code: 'big'}); return; }  // known before sending
    var form = new window.FormData();
    form.append('file', item.file, item.name);
    var xhr = item.xhr = request('POST', PREFIX + '/api/uploads', form, function (err, data) {
      if (item.dropped) {  // cancelled after the whole file went: what the server kept goes too
        if (!err && data && data.attachment && !stopped) { discardUpload(data.attachment); }
        return;
      }
      if (item.xhr !== xhr || stopped) { return; }  // cancelled
      item.xhr = null;
      if (err && err.status === 401) { signedOut(); return; }
      if (err || !data || !data.attachment) { uploadFailed(item, err || {}); } else { item.att = data.attachment; saveTray(c); }
      if (c === current) { renderTray(); }
    }, function (e) {
      if (e.lengthComputable && e.total) { item.pct = Math.floor(e.loaded * 100 / e.total); paintUpload(item); }
      if (e.lengthComputable && e.loaded >= e.total) { item.sent = true; }
    });
    if (xhr.upload) {
      on(xhr.upload, 'load', function () { item.sent = true; item.pct = 100; paintUpload(item); });
    }
  }

  // The reason in words (the server's own, in the widget's language, where it
  // gave one); retry only where trying again can help.
  function uploadFailed(item, err) {
    var s = err.status || 0;
    var bare = err.code === 'network';  // an answer without the server's words (a proxy's)
    item.error = !s ? t('upload_network')
      : err.code === 'big' || bare && s === 413 ? t('upload_too_large', {size: fileSize(UPLOAD_MAX)})
      : t('not_uploaded', {reason: bare ? 'HTTP ' + s : err.message});
    item.final = s >= 400 && s < 500 && s !== 408 && s !== 429;
  }

  // × on a tray item. A finished upload is deleted on the server at once. One
  // under way is aborted while its file is still going up; once the whole
  // file is sent (or the answer has begun) the server may have stored it, so
  // the request runs on out of sight and its answer is deleted (startUpload).
  function dropUpload(c, item) {
    var xhr = item.xhr;
    item.xhr = null;
    item.dropped = true;
    if (xhr) {
      if (!item.sent && xhr.readyState < 2) { xhr.abort(); }
    } else if (item.att) {
      discardUpload(item.att);
    }
    trayOf(c).splice(c.tray.indexOf(item), 1);
    saveTray(c);
  }

  // An upload taken back before it was sent: the server removes its file. A
  // refusal needs no words (gone already, or sent meanwhile: it then stays
  // with its message); unsent files the widget could not remove go with
  // `flask chat cleanup` after a day.
  function discardUpload(att) {
    request('DELETE', PREFIX + '/api/uploads/' + encodeURIComponent(att.id), undefined, function () {});
  }

  function paintUpload(item) {
    if (!item.bar) { return; }
    var pct = item.att ? 100 : item.pct || 0;
    item.bar.setAttribute('aria-valuenow', String(pct));
    item.bar.firstChild.style.width = pct + '%';
  }

  function renderTray() {
    var items = current ? trayOf(current) : [];
    clear(ui.tray);
    show(ui.tray, items.length > 0);
    for (var i = 0; i < items.length; i++) {
      var item = items[i];
      var li = el('li', 'chat-upload' + (item.error ? ' is-failed' : item.att ? ' is-done' : ''));
      li.appendChild(el('span', 'chat-upload-name', item.name));
      item.bar = null;
      if (item.error) {
        li.appendChild(attrs(el('span', 'chat-upload-error', item.error), {role: 'alert'}));
        if (!item.final) {
          li.appendChild(attrs(button('chat-upload-retry', null, null, t('retry')),
                               {'data-upload': i, 'data-retry-upload': '1'}));
        }
      } else {
        li.appendChild(el('span', 'chat-file-size', fileSize(item.size)));
        item.bar = attrs(el('span', 'chat-upload-bar'), {role: 'progressbar', 'aria-valuemin': '0',
          'aria-valuemax': '100', 'aria-label': t('uploading', {name: item.name})});
        item.bar.appendChild(el('span'));
        li.appendChild(item.bar);
        paintUpload(item);
      }
      li.appendChild(attrs(button('chat-upload-remove', t(item.xhr ? 'cancel_upload' : 'remove_file',
        {name: item.name}), 'close'), {'data-upload': i}));
      ui.tray.appendChild(li);
    }
  }

  // The tray's uploaded files for a send; null (and a notice) while any is
  // still uploading or failed.
  function trayFiles(c) {
    var out = [];
    var items = trayOf(c);
    for (var i = 0; i < items.length; i++) {
      if (!items[i].att) {
        c.notice = t('files_not_ready');
        refresh(c);
        return null;
      }
      out.push(items[i].att);
    }
    return out;
  }

  // A refused message's files go back to the tray beside its text.
  function untray(c, files) {
    for (var i = 0; files && i < files.length; i++) {
      trayOf(c).push(trayItem(files[i]));
    }
    saveTray(c);
    if (c === current) { renderTray(); }
  }

  function fileNames(m) {
    var names = [];
    for (var i = 0; m.attachments && i < m.attachments.length; i++) { names.push(m.attachments[i].name); }
    return names.length ? '\ud83d\udcce ' + names.join(t('list_sep')) : '';
  }

  // -- message search (contract v2.0 "Search"): People | Messages in the list head ----

  var findSeq = 0;
  var findTimer = null;
  var findBefore = null;
  var FIND_MIN = 2;  // code points the server wants at least

  function buildFind(side, box) {
    var tabs = attrs(el('div', 'chat-tabs'), {role: 'group', 'aria-label': t('search_in')});
    ui.tabs = [button('chat-tab', null, null, t('people')), button('chat-tab', null, null, t('messages_label'))];
    tabs.appendChild(ui.tabs[0]);
    tabs.appendChild(ui.tabs[1]);
    box.insertBefore(tabs, box.firstChild);
    ui.find = attrs(el('input', 'chat-find-input'), {
      type: 'search', placeholder: t('search_messages'), 'aria-label': t('search_messages_label'),
      autocomplete: 'off', spellcheck: 'false'});
    box.appendChild(ui.find);
    ui.findBox = el('div', 'chat-find');
    ui.found = attrs(el('ul', 'chat-found'), {'aria-label': t('found_messages')});
    ui.findNote = attrs(el('p', 'chat-search-none'), {role: 'status'});
    ui.findMore = button('chat-find-more', null, null, t('load_more'));
    ui.findBox.appendChild(ui.found);
    ui.findBox.appendChild(ui.findNote);
    ui.findBox.appendChild(ui.findMore);
    side.appendChild(ui.findBox);
    ui.side = side;
    setFinding(false);
    on(ui.tabs[0], 'click', function () { setFinding(false); ui.search.focus(); });
    on(ui.tabs[1], 'click', function () { setFinding(true); ui.find.focus(); });
    on(ui.find, 'input', function () {
      window.clearTimeout(findTimer);
      findTimer = window.setTimeout(function () { findNow(false); }, 300);
    });
    on(ui.find, 'keydown', function (e) {
      var first = ui.found.querySelector('button');
      if (e.key === 'Escape') { ui.find.value = ''; findNow(false); }
      if (e.key === 'ArrowDown' && first) { e.preventDefault(); first.focus(); }
    });
    on(ui.findMore, 'click', function () { findNow(true); });
    on(ui.found, 'click', function (e) {
      var li = closest(e.target, 'li[data-message-id]');
      if (li) { openConversationById(li.getAttribute('data-conversation-id'), +li.getAttribute('data-message-id')); }
    });
  }

  function setFinding(finding) {
    ui.tabs[0].setAttribute('aria-pressed', finding ? 'false' : 'true');
    ui.tabs[1].setAttribute('aria-pressed', finding ? 'true' : 'false');
    show(ui.search, !finding);
    show(ui.find, finding);
    if (finding) { ui.search.value = ''; renderSearch(null); }
    showFound(finding && !!ui.find.value.trim());
  }

  function showFound(visible) {
    show(ui.findBox, visible);
    toggle(ui.side, 'is-finding', visible);  // the results take the list's place
  }

  function findNow(more) {
    var q = ui.find.value.trim();
    var seq = ++findSeq;
    if (!more) { clear(ui.found); findBefore = null; show(ui.findMore, false); }
    showFound(!!q);
    setText(ui.findNote, q && codePoints(q) < FIND_MIN ? t('find_too_short', {count: FIND_MIN}) : '');
    if (!q || codePoints(q) < FIND_MIN) { return; }
    api('/search?q=' + encodeURIComponent(q) + '&limit=20' + (more && findBefore ? '&before=' + findBefore : ''),
      function (err, data) {
        if (seq !== findSeq) { return; }  // an older answer to a newer query
        if (err) { setText(ui.findNote, err.message || t('unreachable')); return; }
        var list = data.results || [];
        for (var i = 0; i < list.length; i++) { ui.found.appendChild(foundItem(list[i], q)); }
        if (list.length) { findBefore = list[list.length - 1].message.id; }
        show(ui.findMore, !!data.has_more);
        setText(ui.findNote, ui.found.children.length ? '' : t('find_none'));
      });
  }

  function foundItem(r, q) {
    var m = r.message;
    var cv = r.conversation || {};
    var li = attrs(el('li', 'chat-found-item'), {'data-message-id': m.id, 'data-conversation-id': cv.id});
    var b = attrs(el('button', 'chat-item-button'), {type: 'button'});
    var body = el('span', 'chat-item-body');
    var top = el('span', 'chat-item-top');
    var when = timeNode('chat-time', true);
    top.appendChild(el('span', 'chat-name', cv.title || nameOf(cv.other)));
    top.appendChild(when);
    setTime(when, m.sent_at);
    var line = el('span', 'chat-preview');
    line.appendChild(el('span', 'chat-found-from', t('found_from', {name: senderOf(m, cv)})));
    markMatches(line, String(m.content), q);
    body.appendChild(top);
    body.appendChild(line);
    b.appendChild(body);
    li.appendChild(b);
    return li;
  }

  function senderOf(m, cv) {
    if (me && sameId(m.from, me.id)) { return t('you'); }
    var users = (cv.other ? [cv.other] : []).concat(cv.members || []);
    for (var i = 0; i < users.length; i++) {
      if (sameId(users[i].id, m.from)) { return nameOf(users[i]); }
    }
    return nameOf(people[key(m.from)]);  // a former member whose name the widget learnt
  }

  // Lower case one UTF-16 unit at a time, so indexes match the original text.
  function fold(s) {
    return s.replace(/[\s\S]/g, function (ch) { var low = ch.toLowerCase(); return low.length === 1 ? low : ch; });
  }

  // The text (from a little before the first match) with every match in a
  // <mark>: text nodes only, never markup.
  function markMatches(node, text, q) {
    var needle = fold(q);
    var at = fold(text).indexOf(needle);
    if (at > 24) { text = '\u2026' + text.slice(at - 16); }
    var low = fold(text);
    var from = 0;
    while (needle && (at = low.indexOf(needle, from)) >= 0) {
      node.appendChild(document.createTextNode(text.slice(from, at)));
      node.appendChild(el('mark', null, text.slice(at, at + needle.length)));
      from = at + needle.length;
    }
    node.appendChild(document.createTextNode(text.slice(from)));
  }

  // Scroll the open conversation to message id and flash it: at once if it is
  // loaded, else once the page around it is (jumpTo), however far back.
  function showMessage(c, id) {
    if (!id || !c || c !== current) { return; }
    if (c.byId[id] && c.loaded && !c.jumping) {
      renderMessages(c);
      scrollToMessage(id);
      return;
    }
    jumpTo(c, id);
  }

  // -- session -------------------------------------------------------------------

  function restoreFromCache() {
    var saved = cache.get('list');
    var list = saved || [];
    if (saved) { listKnown = true; }
    restoreOutbox();
    for (var i = 0; i < list.length; i++) {
      if (!list[i] || !list[i].other) { continue; }
      var c = list[i].g ? group(list[i].g) : conversation(list[i].other);
      c.last = c.last && list[i].last_message && c.last.id > list[i].last_message.id
        ? c.last : list[i].last_message;
      c.unread = list[i].unread || 0;
      c.floor = list[i].floor;
    }
    renderList();
    if (MODE === 'docked' && cache.get('panel')) { setPanel(true); }
    var open = cache.get('open');
    if (open !== null && open !== undefined && panelOpen) {
      var saved = cache.get('c:' + open);
      openConversation(saved && saved.g ? group(saved.g) : /^g#/.test(open) ? group({id: +open.slice(2)})
        : conversation(saved && saved.other ? saved.other : {id: open}));
    }
  }

  function forgetAll() {
    convs = {};
    byCid = {};
    people = {};
    named = {};
    current = null;
    clear(ui.list);
    clear(ui.messages);
    ui.messages.removeAttribute('data-conv');
    show(ui.container, false);
    show(ui.placeholder, true);
    toggle(root, 'chat-view-conv', false);
  }

  function start() {
    build();
    setStatus('connecting');
    var hint = root.getAttribute('data-user-id');
    if (hint) {
      // Render the cache at once; /api/me confirms whose it is.
      me = {id: hint};
      cache.own(hint);
      restoreFromCache();
    }
    api('/me', function (err, data) {
      if (err) { setStatus('offline'); return; }
      var sameUser = me && sameId(me.id, data.user.id);
      me = data.user;
      if (!sameUser) {
        forgetAll();
        cache.own(me.id);
        restoreFromCache();
      }
      renderMe();
      ready = true;
      renderList();
      if (connected) {
        catchUp();  // the list is fetched once, after the socket is there to miss nothing
      } else {
        if (current) { refresh(current, true); sync(current); }
        // No socket yet (slow link, or blocked): do not leave the list waiting for it.
        window.setTimeout(function () { if (!connectedOnce && !stopped) { loadList(); } }, 2500);
      }
      if (queuedOpen !== null) { openUser(queuedOpen); queuedOpen = null; }
    });
    connect();  // the socket opens alongside /api/me: it needs only the session cookie
  }

  function signedOut() {
    var wasReady = ready;
    logout();
    setStatus('offline');
    root.classList.add('chat-signed-out');
    if (MODE === 'docked') {
      setPanel(false);
      show(ui.launcher, false);
    } else if (wasReady) {
      window.location.reload();  // the host sends a signed-out visitor to its login
    } else {
      clear(ui.placeholder);
      ui.placeholder.appendChild(el('p', null, t('signed_out')));
    }
  }

  function logout() {
    // Clears this tab's cache and closes the socket; the host ends the session.
    stopped = true;
    cache.clear();
    if (socket) { socket.disconnect(); }
    connected = false;
    if (ui.list) { forgetAll(); }
  }

  function logoutAndLeave() {
    logout();
    if (!LOGOUT_URL) { window.location.reload(); return; }
    request('POST', LOGOUT_URL, undefined, function () { window.location.reload(); });
  }

  var ChatWidget = {
    open: openUser,
    openConversation: openConversationById,
    logout: logout,
    socket: null,
    mode: MODE,
    // For tests and host pages: the conversation state is read-only by contract.
    conversation: function (userId) { return convs[key(userId)] || null; },
    group: function (id) { return byCid[key(id)] || null; },
    me: function () { return me; },
    // An optional chime with notifications of a hidden tab.
    setSound: function (onOff) { pref('sound', onOff ? '1' : '0'); }
  };
  window.ChatWidget = ChatWidget;

  start();
}(window, document));
