// The fake WhatsApp Web's UI: draws the state kept by wpp.js (window.SimPage); the bot never needs it.
(function () {
  'use strict';

  const BANNERS = {
    OFFLINE: 'Computer not connected. Make sure your computer has an active internet connection.',
    CONFLICT: 'WhatsApp is open in another window.',
    TOS_BLOCK: 'This account is not allowed to use WhatsApp (TOS_BLOCK).',
    SMB_TOS_BLOCK: 'This account is not allowed to use WhatsApp (SMB_TOS_BLOCK).',
    DEPRECATED_VERSION: 'This version of WhatsApp Web is out of date (DEPRECATED_VERSION).',
    PROXYBLOCK: 'Connection blocked (PROXYBLOCK).',
    SYNCING: 'Syncing messages...',
  };
  const TICKS = { 1: '\u2713', 2: '\u2713\u2713', 3: '\u2713\u2713' };
  const MAX_SHOWN_MESSAGES = 100;

  const $ = (id) => document.getElementById(id);
  let selected = null;
  let shownCode = null;

  function show(id, visible) {
    $(id).classList.toggle('hidden', !visible);
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // A media message's body is its thumbnail: show what it is and its caption instead.
  function shown(msg) {
    if (!msg.type || msg.type === 'chat') return msg.body;
    return '[' + msg.type + ']' + (msg.caption ? ' ' + msg.caption : '');
  }

  function time(t) {
    return new Date(t * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  }

  function drawBanner(sim) {
    let text = null;
    if (!sim.connected && !sim.reloading) text = 'Connecting to the simulator...';
    else if (sim.mode && BANNERS[sim.mode]) text = BANNERS[sim.mode] + ' [' + sim.mode + ']';
    $('banner').textContent = text || '';
    $('banner').dataset.mode = sim.mode || '';
    show('banner', Boolean(text));
    show('conflict', sim.mode === 'CONFLICT' && sim.authenticated);
  }

  function drawQr(sim) {
    const code = sim.authCode && sim.authCode.fullCode;
    if (code && code !== shownCode) {
      $('qr').src = '/qr.svg?code=' + encodeURIComponent(code);
      $('qr').dataset.ref = sim.authCode.ref;
      shownCode = code;
    }
    const pairing = Boolean(sim.linkCode);
    show('qr', !pairing && !sim.idle && Boolean(code));
    show('qr-idle', !pairing && sim.idle);
    show('link-code', pairing);
    if (pairing) $('link-code').textContent = sim.linkCode.slice(0, 4) + '-' + sim.linkCode.slice(4);
  }

  function lastMessage(sim, chatId) {
    const list = sim.messages.get(chatId) || [];
    return list.length ? list[list.length - 1] : null;
  }

  function drawChats(sim) {
    const list = $('chat-list');
    list.replaceChildren();
    const chats = [...sim.chats.values()].sort((a, b) => (b.t - a.t) || (b.order - a.order));
    for (const chat of chats) {
      const id = chat.id._serialized;
      const item = el('li', 'chat' + (id === selected ? ' selected' : ''));
      item.dataset.chat = id;
      const text = el('div', 'chat-text');
      text.append(el('div', 'chat-name', chat.name), el('div', 'chat-id muted', chat.id.user));
      const last = lastMessage(sim, id);
      if (last) text.append(el('div', 'chat-last muted', shown(last)));
      item.append(text);
      if (chat.unreadCount > 0) item.append(el('span', 'badge', String(chat.unreadCount)));
      item.addEventListener('click', () => { selected = id; drawMain(sim); });
      list.append(item);
    }
    show('no-chats', chats.length === 0);
  }

  function drawMessages(sim) {
    const list = $('messages');
    list.replaceChildren();
    const chat = selected && sim.chats.get(selected);
    $('chat-title').textContent = chat ? chat.name + ' (' + chat.id._serialized + ')' : 'Select a chat';
    // Only the tail: a long benchmark chat must not make every redraw slower.
    for (const msg of ((selected && sim.messages.get(selected)) || []).slice(-MAX_SHOWN_MESSAGES)) {
      const item = el('li', 'bubble ' + (msg.id.fromMe ? 'out' : 'in'));
      if (msg.author && !msg.id.fromMe) item.append(el('div', 'author', msg.notifyName || String(msg.author)));
      item.append(el('div', 'body', shown(msg)));
      const meta = el('div', 'meta muted', time(msg.t));
      if (msg.id.fromMe) meta.append(el('span', 'tick ack-' + msg.ack, ' ' + (TICKS[msg.ack] || '')));
      item.append(meta);
      list.append(item);
    }
    list.scrollTop = list.scrollHeight;
  }

  function drawMain(sim) {
    if (!selected && sim.chats.size) selected = [...sim.chats.keys()][0];
    $('me').textContent = sim.me ? 'Linked as +' + sim.me.split('@')[0] : '';
    drawChats(sim);
    drawMessages(sim);
  }

  function draw(sim) {
    drawBanner(sim);
    const onQr = sim.pageId && (sim.authCode || sim.idle || sim.linkCode);
    const stage = sim.authenticated ? 'main' : onQr ? 'qr' : 'loading';
    document.body.dataset.stage = stage;
    document.body.dataset.idle = String(sim.idle);
    show('loading', stage === 'loading');
    show('qr-screen', stage === 'qr');
    show('main-screen', stage === 'main');
    if (stage === 'qr') drawQr(sim);
    if (stage === 'main') drawMain(sim);
  }

  // Bursts of events (a benchmark sends hundreds) are drawn once per frame, not once per event.
  let latest = null;
  let frame = null;
  function scheduleDraw(sim) {
    latest = sim;
    if (frame === null) {
      frame = requestAnimationFrame(() => {
        frame = null;
        draw(latest);
      });
    }
  }

  $('logout').addEventListener('click', () => { window.WPP.conn.logout(); });
  $('use-here').addEventListener('click', () => { window.WPP.whatsapp.Socket.takeover().catch(console.error); });
  $('qr-idle').addEventListener('click', () => { window.WPP.conn.refreshQR().catch(console.error); });
  window.SimPage.onUpdate(scheduleDraw);
})();
