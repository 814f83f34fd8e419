// The /phone page: a person plays one contact, chats with the bot and can link it. Pushed over /ws/phone.
(function () {
  'use strict';

  const DEFAULT_NUMBER = '15551234567';
  const DEFAULT_NAME = 'Ana';
  const TYPING_FALLBACK_MS = 25000;
  const RECONNECT_MAX_MS = 5000;
  const TICKS = { 1: '\u2713', 2: '\u2713\u2713', 3: '\u2713\u2713' };

  const $ = (id) => document.getElementById(id);
  const me = {
    number: localStorage.getItem('simPhoneNumber') || DEFAULT_NUMBER,
    name: localStorage.getItem('simPhoneName') || DEFAULT_NAME,
  };
  let socket = null;
  let reconnectMs = 250;
  let messages = [];
  let typingTimer = null;

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function notice(text) {
    $('notice').textContent = text || '';
    $('notice').classList.toggle('hidden', !text);
  }

  function describe(status) {
    if (!status.linked) {
      return status.qr_pages > 0
        ? 'Bot: not linked (' + status.qr_pages + ' page showing a QR code)'
        : 'Bot: not linked (no WhatsApp page open)';
    }
    const ready = status.ready_pages + ' page' + (status.ready_pages === 1 ? '' : 's') + ' ready';
    const held = status.pending ? ', ' + status.pending + ' held' : '';
    return 'Bot: linked, ' + status.state + ', ' + ready + held;
  }

  function setTyping(visible, durationMs) {
    clearTimeout(typingTimer);
    $('typing').classList.toggle('hidden', !visible);
    if (visible) typingTimer = setTimeout(() => setTyping(false), durationMs || TYPING_FALLBACK_MS);
  }

  function draw() {
    const list = $('messages');
    list.replaceChildren();
    for (const msg of messages) {
      const item = el('li', 'bubble' + (msg.mine ? ' mine' : ''));
      item.dataset.id = msg.id;
      item.append(el('div', 'body', msg.text));
      const meta = el('div', 'meta', new Date(msg.t * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }));
      if (msg.mine) meta.append(el('span', 'tick ack-' + msg.ack, ' ' + (TICKS[msg.ack] || '')));
      item.append(meta);
      list.append(item);
    }
    list.scrollTop = list.scrollHeight;
    $('peer').textContent = 'The bot (you are ' + (me.name || '+' + me.number) + ', +' + me.number + ')';
    reportSeen();
  }

  function reportSeen() {
    // The phone shows the operator's messages: they become READ (blue ticks on the bot's side).
    if (document.visibilityState !== 'visible' || !socket || socket.readyState !== WebSocket.OPEN) return;
    const ids = messages.filter((m) => !m.mine && m.ack < 3).map((m) => m.id);
    for (const msg of messages) if (!msg.mine) msg.ack = 3;
    if (ids.length) socket.send(JSON.stringify({ type: 'seen', ids }));
  }

  const handlers = {
    status(msg) { $('status').textContent = describe(msg.status); },
    welcome(msg) {
      messages = msg.history;
      $('status').textContent = describe(msg.status);
      draw();
    },
    message(msg) {
      const index = messages.findIndex((m) => m.id === msg.msg.id);
      if (index >= 0) messages[index] = msg.msg; else messages.push(msg.msg);
      if (!msg.msg.mine) setTyping(false);
      draw();
    },
    ack(msg) {
      const found = messages.find((m) => m.id === msg.id);
      if (found) { found.ack = msg.ack; draw(); }
    },
    typing(msg) { setTyping(true, msg.duration_ms); },
    paused() { setTyping(false); },
    error(msg) { notice(msg.error); },
  };

  function hello() {
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify({ type: 'hello', number: me.number, name: me.name }));
    }
  }

  function connect() {
    const scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
    socket = new WebSocket(scheme + location.host + '/ws/phone');
    socket.addEventListener('open', () => { reconnectMs = 250; hello(); });
    socket.addEventListener('message', (event) => {
      const msg = JSON.parse(event.data);
      if (handlers[msg.type]) handlers[msg.type](msg);
    });
    socket.addEventListener('close', () => {
      $('status').textContent = 'Simulator not reachable, retrying...';
      setTimeout(connect, reconnectMs);
      reconnectMs = Math.min(reconnectMs * 2, RECONNECT_MAX_MS);
    });
  }

  async function post(path, body) {
    const response = await fetch(path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(data.error || 'HTTP ' + response.status);
    return data;
  }

  $('number').value = me.number;
  $('name').value = me.name;
  $('who').addEventListener('submit', (event) => {
    event.preventDefault();
    me.number = $('number').value.trim().replace(/^\+/, '');
    me.name = $('name').value.trim();
    localStorage.setItem('simPhoneNumber', me.number);
    localStorage.setItem('simPhoneName', me.name);
    messages = [];
    notice('');
    draw();
    hello();
  });
  $('compose').addEventListener('submit', async (event) => {
    event.preventDefault();
    const text = $('text').value;
    if (!text.trim()) return;
    try {
      await post('/api/messages', { from: me.number, name: me.name || undefined, text });
      $('text').value = '';
      notice('');
    } catch (error) {
      notice('Not sent: ' + error.message);
    }
  });
  $('link').addEventListener('click', async () => {
    try {
      await post('/api/link', {});
      notice('Linked: the bot\'s WhatsApp page is now logged in.');
    } catch (error) {
      notice('Could not link: ' + error.message);
    }
  });
  document.addEventListener('visibilitychange', reportSeen);
  connect();
})();
