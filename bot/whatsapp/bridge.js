// Installed into WhatsApp Web by the client (page.evaluate, which the page's CSP does not block) after
// wa-js is present. It subscribes to wa-js events and forwards them, as plain JSON, to the Python binding
// window.__waBotEmit(kind, payload). Evaluated again after every page load; a flag makes it idempotent.
(() => {
  if (window.__waBotBridgeInstalled) {
    return 'already-installed';
  }
  window.__waBotBridgeInstalled = true;

  const emit = (kind, payload) => {
    window.__waBotEmit(kind, payload === undefined ? null : payload).catch(() => {});
  };
  // wa-js ids are Wid / MsgKey objects whose _serialized form is the stable string id.
  const serialized = (value) => {
    if (value === null || value === undefined) return null;
    if (typeof value === 'string') return value;
    return value._serialized || String(value);
  };
  const plainMessage = (msg) => ({
    id: serialized(msg.id),
    fromMe: Boolean(msg.id && msg.id.fromMe),
    chatId: serialized(msg.id && msg.id.remote) || serialized(msg.from),
    author: serialized(msg.author),
    body: typeof msg.body === 'string' ? msg.body : null,
    type: msg.type || null,
    t: typeof msg.t === 'number' ? msg.t : null,
    notifyName: typeof msg.notifyName === 'string' ? msg.notifyName : null,
    isGroupMsg: Boolean(msg.isGroupMsg),
    isStatusV3: Boolean(msg.isStatusV3),
    broadcast: Boolean(msg.broadcast),
    isNewMsg: msg.isNewMsg !== false,
  });
  const plainAuthCode = (code) => (code ? { ref: code.ref, fullCode: code.fullCode } : null);

  const start = () => {
    WPP.on('conn.auth_code_change', (code) => emit('auth_code', plainAuthCode(code)));
    WPP.on('conn.authenticated', () => emit('authenticated'));
    WPP.on('conn.main_ready', () => emit('main_ready'));
    WPP.on('conn.logout', () => emit('logout'));
    WPP.on('conn.stream_mode_changed', (mode) => emit('stream_mode', String(mode)));
    WPP.on('conn.online', (online) => emit('online', Boolean(online)));
    WPP.on('chat.new_message', (msg) => emit('message', plainMessage(msg)));
    WPP.on('chat.msg_ack_change', (change) =>
      emit('ack', { ack: change.ack, chat: serialized(change.chat), ids: (change.ids || []).map(serialized) }),
    );
    // Events only report changes: say where the page stands now, including a QR already on screen.
    const authenticated = WPP.conn.isAuthenticated();
    emit('bridge_ready', { version: String(WPP.version), authenticated, mainReady: WPP.conn.isMainReady() });
    if (!authenticated) {
      WPP.conn.getAuthCode().then((code) => code && emit('auth_code', plainAuthCode(code)));
    }
  };

  if (WPP.isReady) {
    start();
  } else {
    WPP.loader.onReady(start);
  }
  return 'installed';
})();
