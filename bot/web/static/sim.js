/* 网格助手 WeChat-group simulator: plain JS, no build step, no external resources.
 *
 * API used (see the backend):
 *   GET  /api/sim/rooms
 *   GET  /api/sim/messages?room=ID[&after=MSG_ID]     (group chat)
 *   GET  /api/sim/messages?contact=NAME[&after=MSG_ID] (private chat with the bot)
 *   POST /api/sim/messages {"room": ID|null, "sender": NAME, "text": TEXT}
 *
 * Message data is only ever put into the page with textContent / text nodes.
 */
(function () {
  'use strict';

  var POLL_MS = 700;
  var MAX_BACKOFF_MS = 5000;
  var ROOMS_RETRY_MS = 3000;
  var GAP_MS = 5 * 60 * 1000;
  var NEAR_BOTTOM_PX = 80;
  var OTHER = '__other__';
  var DM_KEY = 'dm';
  var LS_PREFIX = 'gridbot.sim.';
  var ROLE_LABELS = {
    resident: '居民',
    grid_worker: '网格员',
    grid_leader: '网格长',
    staff: '工作人员'
  };
  var EMPTY_HINT = '在这里以居民身份发一条消息试试，比如：3号楼楼道灯坏了好几天了';
  var DM_NO_NAME_HINT = '先在下方“我是”里选择或填写你的名字，再和机器人私聊';

  var PAGE_TITLE = document.title;
  var $ = function (id) { return document.getElementById(id); };
  var els = {
    chatList: $('chat-list'),
    picker: $('chat-picker'),
    topic: $('chat-topic'),
    count: $('chat-count'),
    sub: $('chat-sub'),
    messages: $('messages'),
    newMsg: $('new-msg'),
    error: $('error-line'),
    composer: $('composer'),
    idSelect: $('identity-select'),
    idCustom: $('identity-custom'),
    input: $('input'),
    send: $('send')
  };

  var state = {
    botName: (document.body.getAttribute('data-bot-name') || '').trim() || '网格助手',
    chats: [],          // [{key, kind: 'room'|'dm', room, topic, grid, members}]
    current: null,      // current chat object
    messages: [],       // messages of the open chat, in order
    ids: Object.create(null),
    lastId: null,
    loaded: false,      // first fetch for the open chat done
    gen: 0,             // bumps whenever the open conversation changes
    timer: null,
    inflight: null,     // AbortController of the running poll
    pollAgain: false,
    failures: 0,
    sending: false,
    forceScroll: false,
    connError: '',
    lastError: '',
    sendError: '',
    sendErrorTimer: null
  };

  /* ---------- small helpers ---------- */

  function lsGet(key) {
    try { return window.localStorage.getItem(LS_PREFIX + key); } catch (e) { return null; }
  }
  function lsSet(key, value) {
    try { window.localStorage.setItem(LS_PREFIX + key, value); } catch (e) { /* private mode */ }
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text != null) node.textContent = text;
    return node;
  }

  function escapeRe(s) { return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'); }

  function roleLabel(role) { return ROLE_LABELS[role] || ''; }

  function hashColor(name) {
    var palette = ['#5b8ff9', '#f6903d', '#9270ca', '#e8684a', '#5ad8a6', '#6dc8ec',
                   '#ff9d4d', '#269a99', '#d56b9c', '#7c8ba1'];
    var h = 0;
    for (var i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) >>> 0;
    return palette[h % palette.length];
  }

  function avatar(name, opts) {
    opts = opts || {};
    var a = el('div', 'avatar' + (opts.bot ? ' avatar-bot' : '') + (opts.group ? ' avatar-group' : ''));
    var label = name || '?';
    // Chinese names read best by their given name (last 2 characters), groups by first.
    a.textContent = opts.group || opts.bot ? Array.from(label)[0] : Array.from(label).slice(-2).join('');
    if (!opts.bot) a.style.backgroundColor = hashColor(label);
    a.setAttribute('aria-hidden', 'true');
    return a;
  }

  /* "2026-11-23T10:15:02+08:00" -> parts in the message's own offset (Beijing time). */
  function parseAt(at) {
    var m = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})/.exec(at || '');
    var ms = Date.parse(at);
    if (!m || isNaN(ms)) return null;
    var off = /([+-])(\d{2}):?(\d{2})$/.exec(at);
    var offMin = off ? (off[1] === '-' ? -1 : 1) * (parseInt(off[2], 10) * 60 + parseInt(off[3], 10)) : 0;
    return { ms: ms, y: +m[1], mo: +m[2], d: +m[3], hhmm: m[4] + ':' + m[5], offMin: offMin };
  }

  function dayStamp(ms, offMin) {
    return new Date(ms + offMin * 60000).toISOString().slice(0, 10);
  }

  function formatStamp(p) {
    var day = dayStamp(p.ms, p.offMin);
    var now = Date.now();
    if (day === dayStamp(now, p.offMin)) return p.hhmm;
    if (day === dayStamp(now - 86400000, p.offMin)) return '昨天 ' + p.hhmm;
    if (day.slice(0, 4) === dayStamp(now, p.offMin).slice(0, 4)) return p.mo + '月' + p.d + '日 ' + p.hhmm;
    return p.y + '年' + p.mo + '月' + p.d + '日 ' + p.hhmm;
  }

  /* ---------- errors ---------- */

  function renderError() {
    // The most recently raised error wins; the other shows again once that one clears.
    var msg = state.lastError === 'send'
      ? (state.sendError || state.connError)
      : (state.connError || state.sendError);
    els.error.textContent = msg;
    els.error.hidden = !msg;
  }
  function setConnError(msg) {
    if (state.connError === msg) return;
    state.connError = msg;
    if (msg) state.lastError = 'conn';
    renderError();
  }
  function setSendError(msg) {
    state.sendError = msg;
    clearTimeout(state.sendErrorTimer);
    if (msg) {
      state.lastError = 'send';
      state.sendErrorTimer = setTimeout(function () { setSendError(''); }, 8000);
    }
    renderError();
  }

  function errorText(err) {
    if (!err) return '未知错误';
    if (err.userMessage) return err.userMessage;
    if (err.name === 'TypeError') return '网络错误';
    return err.message || '未知错误';
  }

  async function fetchJSON(url, options) {
    var res = await fetch(url, Object.assign({ headers: { 'Accept': 'application/json' } }, options || {}));
    var data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (!res.ok) {
      var err = new Error((data && data.error) || ('服务器返回 ' + res.status));
      err.userMessage = err.message;
      err.status = res.status;
      throw err;
    }
    return data;
  }

  /* ---------- chats ---------- */

  function allMembers() {
    var seen = Object.create(null);
    var out = [];
    state.chats.forEach(function (c) {
      (c.members || []).forEach(function (m) {
        if (m && m.name && !seen[m.name]) { seen[m.name] = true; out.push(m); }
      });
    });
    return out;
  }

  function membersOf(chat) {
    return chat.kind === 'dm' ? allMembers() : (chat.members || []);
  }

  function dmTitle() { return '私聊' + state.botName; }

  async function loadRooms() {
    var data;
    try {
      data = await fetchJSON('/api/sim/rooms');
    } catch (err) {
      setConnError('加载群列表失败：' + errorText(err) + '，正在重试…');
      setTimeout(loadRooms, ROOMS_RETRY_MS);
      return;
    }
    setConnError('');
    if (data && data.bot && data.bot.name) state.botName = String(data.bot.name);
    state.chats = ((data && data.rooms) || []).map(function (r) {
      return {
        key: 'room:' + r.room,
        kind: 'room',
        room: r.room,
        topic: r.topic || String(r.room),
        grid: r.grid || null,
        members: Array.isArray(r.members) ? r.members : []
      };
    });
    state.chats.push({ key: DM_KEY, kind: 'dm', room: null, topic: dmTitle(), grid: null, members: [] });
    renderChatList();

    var saved = lsGet('chat');
    var chat = state.chats.filter(function (c) { return c.key === saved; })[0] || state.chats[0];
    openChat(chat);
  }

  function renderChatList() {
    els.chatList.textContent = '';
    els.picker.textContent = '';
    state.chats.forEach(function (chat) {
      var li = el('li', 'chat-item');
      li.tabIndex = 0;
      li.setAttribute('role', 'button');
      li.setAttribute('data-key', chat.key);
      li.appendChild(chat.kind === 'dm'
        ? avatar(state.botName, { bot: true })
        : avatar(chat.topic, { group: true }));
      var body = el('div', 'chat-item-body');
      body.appendChild(el('div', 'chat-item-title', chat.topic));
      var sub = chat.kind === 'dm'
        ? '一对一咨询，不在群里公开'
        : (chat.grid ? chat.grid + ' · ' : '') + chat.members.length + '人';
      body.appendChild(el('div', 'chat-item-sub', sub));
      li.appendChild(body);
      li.addEventListener('click', function () { openChat(chat); });
      li.addEventListener('keydown', function (e) {
        if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); openChat(chat); }
      });
      els.chatList.appendChild(li);

      var opt = el('option', null, chat.topic);
      opt.value = chat.key;
      els.picker.appendChild(opt);
    });
  }

  function openChat(chat) {
    if (!chat) return;
    state.current = chat;
    lsSet('chat', chat.key);

    Array.prototype.forEach.call(els.chatList.children, function (li) {
      var active = li.getAttribute('data-key') === chat.key;
      li.classList.toggle('active', active);
      if (active) li.setAttribute('aria-current', 'true'); else li.removeAttribute('aria-current');
    });
    els.picker.value = chat.key;

    if (chat.kind === 'dm') {
      els.topic.textContent = state.botName;
      els.count.textContent = '';
      els.count.appendChild(el('span', 'badge', '机器人'));
      els.sub.textContent = '私聊，只有你和' + state.botName + '能看到';
    } else {
      els.topic.textContent = chat.topic;
      els.count.textContent = '(' + chat.members.length + ')';
      els.sub.textContent = chat.grid || '';
    }
    document.title = chat.topic + ' - ' + PAGE_TITLE;

    setupIdentity(chat);
    resetConversation();
  }

  /* ---------- identity ("我是") ---------- */

  function identityKey(chat) { return 'me.' + chat.key; }

  function setupIdentity(chat) {
    var members = membersOf(chat);
    els.idSelect.textContent = '';
    members.forEach(function (m) {
      var role = roleLabel(m.role);
      var opt = el('option', null, role ? m.name + '（' + role + '）' : m.name);
      opt.value = m.name;
      els.idSelect.appendChild(opt);
    });
    var other = el('option', null, '其他居民…');
    other.value = OTHER;
    els.idSelect.appendChild(other);

    var saved = null;
    try { saved = JSON.parse(lsGet(identityKey(chat)) || 'null'); } catch (e) { saved = null; }
    var names = members.map(function (m) { return m.name; });

    if (saved && saved.other) {
      els.idSelect.value = OTHER;
      els.idCustom.value = saved.name || '';
    } else if (saved && names.indexOf(saved.name) >= 0) {
      els.idSelect.value = saved.name;
      els.idCustom.value = '';
    } else {
      var resident = members.filter(function (m) { return m.role === 'resident'; })[0] || members[0];
      els.idSelect.value = resident ? resident.name : OTHER;
      els.idCustom.value = '';
    }
    els.idCustom.hidden = els.idSelect.value !== OTHER;
  }

  function currentIdentity() {
    if (els.idSelect.value === OTHER) return els.idCustom.value.trim();
    return els.idSelect.value || '';
  }

  function saveIdentity() {
    if (!state.current) return;
    var other = els.idSelect.value === OTHER;
    lsSet(identityKey(state.current), JSON.stringify({ name: currentIdentity(), other: other }));
  }

  function identityChanged() {
    saveIdentity();
    if (!state.current) return;
    if (state.current.kind === 'dm') {
      resetConversation();          // a private chat is per person
    } else {
      renderAll(true);              // only "who is me" changes
    }
  }

  els.idSelect.addEventListener('change', function () {
    var other = els.idSelect.value === OTHER;
    els.idCustom.hidden = !other;
    if (other) els.idCustom.focus();
    identityChanged();
  });

  var customTimer = null;
  els.idCustom.addEventListener('input', function () {
    clearTimeout(customTimer);
    customTimer = setTimeout(identityChanged, 500);
  });
  els.idCustom.addEventListener('keydown', function (e) {
    if (e.key === 'Enter' && !e.isComposing) {
      e.preventDefault();
      clearTimeout(customTimer);
      identityChanged();
      els.input.focus();
    }
  });

  /* ---------- messages ---------- */

  function resetConversation() {
    state.gen++;
    if (state.inflight) state.inflight.abort();
    state.inflight = null;
    state.pollAgain = false;
    state.messages = [];
    state.ids = Object.create(null);
    state.lastId = null;
    state.loaded = false;
    state.failures = 0;
    state.forceScroll = true;
    setConnError('');
    els.messages.textContent = '';
    els.newMsg.hidden = true;
    if (state.current && state.current.kind === 'dm' && !currentIdentity()) {
      showHint(DM_NO_NAME_HINT);
      stopPolling();
      return;
    }
    schedule(0);
  }

  function showHint(text) {
    var old = els.messages.querySelector('.empty-hint');
    if (old) old.remove();
    if (!text) return;
    var box = el('div', 'empty-hint');
    box.appendChild(el('div', 'empty-hint-icon'));
    box.appendChild(el('div', 'empty-hint-text', text));
    els.messages.appendChild(box);
  }

  function mentionNames(m) {
    var names = [];
    if (Array.isArray(m.mentions)) names = names.concat(m.mentions);
    if (state.current) membersOf(state.current).forEach(function (x) { names.push(x.name); });
    names.push(state.botName);
    var me = currentIdentity();
    if (me) names.push(me);
    var seen = Object.create(null);
    return names.filter(function (n) {
      if (typeof n !== 'string' || !n || seen[n]) return false;
      seen[n] = true;
      return true;
    }).sort(function (a, b) { return b.length - a.length; });
  }

  function fillText(node, text, names) {
    if (!names.length) { node.textContent = text; return; }
    var re = new RegExp('@(?:' + names.map(escapeRe).join('|') + ')', 'g');
    var me = currentIdentity();
    var last = 0;
    var m;
    while ((m = re.exec(text)) !== null) {
      if (m.index > last) node.appendChild(document.createTextNode(text.slice(last, m.index)));
      var span = el('span', 'mention', m[0]);
      if (me && m[0].slice(1) === me) span.classList.add('mention-me');
      node.appendChild(span);
      last = re.lastIndex;
    }
    if (last < text.length) node.appendChild(document.createTextNode(text.slice(last)));
  }

  function renderMessage(m, prev) {
    var frag = document.createDocumentFragment();
    var p = parseAt(m.at);
    var pp = prev ? parseAt(prev.at) : null;
    if (p && (!prev || !pp || p.ms - pp.ms > GAP_MS)) {
      frag.appendChild(el('div', 'stamp', formatStamp(p)));
    }

    var sender = String(m.sender || '');
    var isBot = !!m.from_bot;
    var mine = !isBot && sender !== '' && sender === currentIdentity();
    var row = el('div', 'msg ' + (mine ? 'msg-mine' : 'msg-other') + (isBot ? ' msg-bot' : ''));
    row.setAttribute('data-id', String(m.id));

    row.appendChild(avatar(sender || state.botName, { bot: isBot }));
    var body = el('div', 'msg-body');
    var showName = !mine && (isBot || state.current.kind === 'room');
    if (showName) {
      var name = el('div', 'msg-name');
      name.appendChild(el('span', null, sender || state.botName));
      if (isBot) name.appendChild(el('span', 'badge', '机器人'));
      body.appendChild(name);
    }
    var bubble = el('div', 'bubble');
    fillText(bubble, String(m.text == null ? '' : m.text), mentionNames(m));
    body.appendChild(bubble);
    row.appendChild(body);
    frag.appendChild(row);
    return frag;
  }

  function nearBottom() {
    var box = els.messages;
    return box.scrollHeight - box.scrollTop - box.clientHeight < NEAR_BOTTOM_PX;
  }

  function scrollToBottom() {
    els.messages.scrollTop = els.messages.scrollHeight;
    els.newMsg.hidden = true;
  }

  function appendMessages(list) {
    if (!Array.isArray(list)) list = [];
    var fresh = list.filter(function (m) {
      if (!m || m.id == null || state.ids[m.id]) return false;
      state.ids[m.id] = true;
      return true;
    });
    var first = !state.loaded;
    state.loaded = true;
    if (!fresh.length) {
      if (first && !state.messages.length) showHint(EMPTY_HINT);
      return;
    }
    showHint('');
    var wasNear = nearBottom();
    var me = currentIdentity();
    var frag = document.createDocumentFragment();
    fresh.forEach(function (m) {
      frag.appendChild(renderMessage(m, state.messages[state.messages.length - 1] || null));
      state.messages.push(m);
    });
    state.lastId = fresh[fresh.length - 1].id;
    els.messages.appendChild(frag);

    var sentByMe = fresh.some(function (m) { return !m.from_bot && m.sender === me; });
    if (first || wasNear || (state.forceScroll && sentByMe)) {
      if (sentByMe) state.forceScroll = false;
      scrollToBottom();
    } else {
      els.newMsg.hidden = false;
    }
  }

  function renderAll(keepPosition) {
    var wasNear = nearBottom();
    var top = els.messages.scrollTop;
    els.messages.textContent = '';
    var frag = document.createDocumentFragment();
    state.messages.forEach(function (m, i) {
      frag.appendChild(renderMessage(m, i ? state.messages[i - 1] : null));
    });
    els.messages.appendChild(frag);
    if (state.loaded && !state.messages.length) showHint(EMPTY_HINT);
    if (!keepPosition || wasNear) scrollToBottom(); else els.messages.scrollTop = top;
  }

  els.messages.addEventListener('scroll', function () {
    if (!els.newMsg.hidden && nearBottom()) els.newMsg.hidden = true;
  });
  els.newMsg.addEventListener('click', scrollToBottom);

  /* ---------- polling ---------- */

  function messagesUrl() {
    var chat = state.current;
    var params = new URLSearchParams();
    if (chat.kind === 'dm') params.set('contact', currentIdentity());
    else params.set('room', chat.room);
    if (state.lastId != null) params.set('after', String(state.lastId));
    return '/api/sim/messages?' + params.toString();
  }

  function stopPolling() {
    clearTimeout(state.timer);
    state.timer = null;
  }

  function schedule(ms) {
    stopPolling();
    state.timer = setTimeout(tick, ms);
  }

  function pollNow() {
    if (state.inflight) state.pollAgain = true;
    else schedule(0);
  }

  async function tick() {
    state.timer = null;
    if (document.hidden || !state.current) return;
    if (state.current.kind === 'dm' && !currentIdentity()) return;
    if (state.inflight) { state.pollAgain = true; return; }

    var gen = state.gen;
    var ctrl = new AbortController();
    state.inflight = ctrl;
    var delay = POLL_MS;
    try {
      var data = await fetchJSON(messagesUrl(), { signal: ctrl.signal });
      if (gen === state.gen) {
        state.failures = 0;
        setConnError('');
        appendMessages(data);
      }
    } catch (err) {
      if (err.name !== 'AbortError' && gen === state.gen) {
        state.failures++;
        delay = Math.min(MAX_BACKOFF_MS, POLL_MS * Math.pow(2, state.failures));
        setConnError(err.status ? '加载消息失败：' + errorText(err) + '，正在重试…' : '连接中断，正在重试…');
      }
    } finally {
      if (state.inflight === ctrl) state.inflight = null;
    }
    if (gen !== state.gen) return;          // the new conversation scheduled its own poll
    if (state.pollAgain) { state.pollAgain = false; delay = 0; }
    if (!document.hidden) schedule(delay);
  }

  document.addEventListener('visibilitychange', function () {
    if (document.hidden) {
      stopPolling();
    } else if (state.current) {
      schedule(0);
    }
  });

  /* ---------- composer ---------- */

  var LONG_PLACEHOLDER = els.input.getAttribute('placeholder') || '';
  var SHORT_PLACEHOLDER = '输入消息';

  function autosize() {
    var t = els.input;
    var narrow = window.matchMedia('(max-width: 699px)').matches;
    var ph = narrow ? SHORT_PLACEHOLDER : LONG_PLACEHOLDER;
    if (t.getAttribute('placeholder') !== ph) t.setAttribute('placeholder', ph);
    if (narrow) {
      t.style.height = '0px';     // let min-height decide, then grow with the content
      t.style.height = Math.min(t.scrollHeight + 2, 120) + 'px';
    } else {
      t.style.height = '';
    }
  }

  async function send() {
    if (state.sending || !state.current) return;
    var text = els.input.value.replace(/^\s+|\s+$/g, '');
    if (!text) return;
    var sender = currentIdentity();
    if (!sender) {
      setSendError('请先在“我是”里选择或填写你的名字');
      if (els.idSelect.value === OTHER) els.idCustom.focus(); else els.idSelect.focus();
      return;
    }
    var chat = state.current;
    state.sending = true;
    els.send.disabled = true;
    els.input.value = '';
    autosize();
    try {
      await fetchJSON('/api/sim/messages', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'Accept': 'application/json' },
        body: JSON.stringify({ room: chat.kind === 'room' ? chat.room : null, sender: sender, text: text })
      });
      setSendError('');
      saveIdentity();
      if (chat === state.current) {
        state.forceScroll = true;
        pollNow();
      }
    } catch (err) {
      if (!els.input.value) { els.input.value = text; autosize(); }
      setSendError('发送失败：' + errorText(err));
    } finally {
      state.sending = false;
      els.send.disabled = false;
      els.input.focus();
    }
  }

  els.composer.addEventListener('submit', function (e) {
    e.preventDefault();
    send();
  });

  els.input.addEventListener('keydown', function (e) {
    // Enter while an IME (pinyin) is composing only confirms the candidate.
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      send();
    }
  });
  els.input.addEventListener('input', autosize);
  window.addEventListener('resize', autosize);

  els.picker.addEventListener('change', function () {
    var key = els.picker.value;
    openChat(state.chats.filter(function (c) { return c.key === key; })[0]);
  });

  autosize();
  loadRooms();
})();
