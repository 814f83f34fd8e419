// Installed into WhatsApp Web by the bot (page.evaluate, which the page's CSP does not block) after wa-js is
// present. It subscribes to wa-js events and forwards them, as plain JSON, to the Python binding
// window.__waBotEmit(kind, payload), and offers window.__waBot.* for the bot's probe and catch-up calls.
// Evaluated again after every page load; the window.__waBot guard keeps it to one set of listeners per page.
(() => {
  if (window.__waBot) {
    return 'already-installed';
  }

  const emit = (kind, payload) => {
    window.__waBotEmit(kind, payload === undefined ? null : payload).catch(() => {});
  };
  // wa-js ids are Wid / MsgKey objects whose _serialized form is the stable string id.
  const serialized = (value) => {
    if (value === null || value === undefined) return null;
    if (typeof value === 'string') return value;
    return value._serialized || String(value);
  };
  // The account's own ids: its phone-number id and, where WhatsApp addresses people by linked ids (LID), that
  // one too; a mention of either is a mention of the operator's number. Read when needed: they exist only once
  // linked, and a relink may bring another account.
  const ownIds = () => {
    const ids = [];
    for (const name of ['getMyUserId', 'getMyUserLid']) {
      try {
        const id = typeof WPP.conn[name] === 'function' ? serialized(WPP.conn[name]()) : null;
        if (id) ids.push(id);
      } catch (error) {
        // Not linked yet, or this WhatsApp Web has no LID: that id cannot be mentioned.
      }
    }
    return ids;
  };
  const mentionsMe = (msg) => {
    const mentioned = Array.isArray(msg.mentionedJidList) ? msg.mentionedJidList.map(serialized) : [];
    if (mentioned.length === 0) return false;
    const mine = ownIds();
    return mentioned.some((id) => mine.includes(id));
  };
  // The "message yourself" chat: where the operator sends the bot commands from the phone.
  const toSelf = (msg) => {
    const chat = serialized(msg.id && msg.id.remote) || serialized(msg.from);
    return chat !== null && ownIds().includes(chat);
  };
  const plainMessage = (msg) => ({
    id: serialized(msg.id),
    fromMe: Boolean(msg.id && msg.id.fromMe),
    chatId: serialized(msg.id && msg.id.remote) || serialized(msg.from),
    author: serialized(msg.author),
    body: typeof msg.body === 'string' ? msg.body : null,
    caption: typeof msg.caption === 'string' ? msg.caption : null,
    type: msg.type || null,
    t: typeof msg.t === 'number' ? msg.t : null,
    notifyName: typeof msg.notifyName === 'string' ? msg.notifyName : null,
    isGroupMsg: Boolean(msg.isGroupMsg),
    isStatusV3: Boolean(msg.isStatusV3),
    broadcast: Boolean(msg.broadcast),
    isNewMsg: msg.isNewMsg !== false,
    mentionsMe: mentionsMe(msg),
    toSelf: toSelf(msg),
  });
  const plainAuthCode = (code) => (code ? { ref: code.ref, fullCode: code.fullCode } : null);

  // Ids the bot is sending: wa-js reports each own message as a new one too, and that echo is no news to the
  // bot, so it stays in the page (one binding call and a database read fewer per reply). Bounded, in case an
  // echo never comes. Own messages the operator types on the phone still go through.
  const sending = new Set();
  const SENDING_MAX = 1000;
  const botEcho = (msg) => Boolean(msg.id && msg.id.fromMe && sending.delete(msg.id.id));
  // wa-js ack levels: only "delivered" (2) and above tell the bot something its send call did not.
  const ACK_DELIVERED = 2;

  let ready = false;
  let lastMode = null;
  let hasAuthCode = false;
  let changes = 0; // connection events seen: a send can tell whether the connection moved while it ran

  // Everything the bot needs to decide its connection state, read fresh from wa-js each time.
  const status = () => {
    if (!ready) return { loaded: false };
    const stream = typeof WPP.conn.getStreamData === 'function' ? WPP.conn.getStreamData() : null;
    return {
      loaded: true,
      authenticated: Boolean(WPP.conn.isAuthenticated()),
      mainReady: Boolean(WPP.conn.isMainReady()),
      mode: (stream && stream.mode) || lastMode,
      online: typeof WPP.conn.isOnline === 'function' ? Boolean(WPP.conn.isOnline()) : true,
      idle: typeof WPP.conn.isIdle === 'function' ? Boolean(WPP.conn.isIdle()) : false,
      hasAuthCode,
    };
  };
  const report = () => {
    changes += 1;
    emit('status', status());
  };

  // Send a text; a refusal says whether it was "steady" (still linked, main-ready and MAIN, and no connection
  // event during the call: a real refusal) or came from a connection that was moving (worth holding).
  const sendText = async (chatId, text, messageId) => {
    const before = changes;
    try {
      // markIsRead off (wa-js defaults it on): the bot marks a chat read itself, once its messages are answered.
      const options = { createChat: true, messageId, markIsRead: false };
      if (messageId) {
        sending.add(messageId);
        if (sending.size > SENDING_MAX) sending.delete(sending.values().next().value);
      }
      const result = await WPP.chat.sendTextMessage(chatId, text, options);
      return { id: String(result.id), ack: result.ack };
    } catch (error) {
      const now = status();
      const steady = changes === before && now.authenticated && now.mainReady && now.mode === 'MAIN';
      return { refused: String((error && error.message) || error), steady };
    }
  };

  // Unread messages of one-to-one chats and groups: what arrived while nobody listened (page closed, offline,
  // reloading). Which of them to answer is the bot's decision, as for live messages.
  const unread = async (perChat) => {
    const chats = [
      ...(await WPP.chat.list({ onlyWithUnreadMessage: true, onlyUsers: true })),
      ...(await WPP.chat.list({ onlyWithUnreadMessage: true, onlyGroups: true })),
    ];
    const found = [];
    for (const chat of chats) {
      const messages = await WPP.chat.getMessages(chat.id, { count: perChat, onlyUnread: true });
      for (const msg of messages) found.push(plainMessage(msg));
    }
    return found;
  };

  const start = () => {
    ready = true;
    WPP.on('conn.auth_code_change', (code) => {
      hasAuthCode = Boolean(code);
      emit('auth_code', plainAuthCode(code));
      report();
    });
    WPP.on('conn.stream_mode_changed', (mode) => {
      lastMode = String(mode);
      report();
    });
    for (const name of ['conn.authenticated', 'conn.main_ready', 'conn.online', 'conn.require_auth']) {
      WPP.on(name, report);
    }
    // An idle QR screen shows in the status (idle: true), also when it went idle before this listener existed.
    WPP.on('conn.qrcode_idle', report);
    WPP.on('conn.logout', () => emit('logout'));
    WPP.on('chat.new_message', (msg) => {
      if (!botEcho(msg)) emit('message', plainMessage(msg));
    });
    WPP.on('chat.msg_ack_change', (change) => {
      if (change.ack >= ACK_DELIVERED) {
        emit('ack', { ack: change.ack, chat: serialized(change.chat), ids: (change.ids || []).map(serialized) });
      }
    });
    // Events only report changes: say where the page stands now, with a QR code already on screen first, so
    // "needs login" always comes with a code to show.
    const current = WPP.conn.isAuthenticated() ? Promise.resolve(null) : WPP.conn.getAuthCode().catch(() => null);
    current.then((code) => {
      if (code) {
        hasAuthCode = true;
        emit('auth_code', plainAuthCode(code));
      }
      report();
    });
  };

  // Mark a chat read only if `answered` is its newest unread message from the contact: markIsRead covers the
  // whole chat, and a message that came in after the one just answered must stay unread until it is answered
  // too (unread is how it is found again after a crash or a reload).
  const markRead = async (chatId, answered) => {
    const waiting = (await WPP.chat.getMessages(chatId, { count: -1, onlyUnread: true })).filter(
      (msg) => !(msg.id && msg.id.fromMe),
    );
    const newest = waiting.length ? serialized(waiting[waiting.length - 1].id) : null;
    if (newest !== null && newest !== answered) return false;
    await WPP.chat.markIsRead(chatId);
    return true;
  };

  // The file of a media message as {mimetype, data (base64), size}. Its size is read from the Blob first: a file
  // over maxBytes is refused (too_big) without being copied into a string. A message without a file, or one the
  // page does not hold, is refused with wa-js's code; anything else rejects, as a page failure.
  const NO_FILE = ['message_not_contains_media', 'media_not_found', 'msg_not_found', 'chat_not_found'];
  const downloadMedia = async (msgId, maxBytes) => {
    let blob;
    try {
      blob = await WPP.chat.downloadMedia(msgId);
    } catch (error) {
      const code = error && error.code;
      if (NO_FILE.includes(code)) return { refused: code, reason: String(error.message || code) };
      throw error;
    }
    const mimetype = blob.type || 'application/octet-stream';
    if (blob.size > maxBytes) {
      const reason = `the file is ${blob.size} bytes, more than the ${maxBytes} allowed`;
      return { refused: 'too_big', reason, size: blob.size, mimetype };
    }
    const bytes = new Uint8Array(await blob.arrayBuffer());
    const parts = [];
    for (let start = 0; start < bytes.length; start += 0x8000) {
      parts.push(String.fromCharCode.apply(null, bytes.subarray(start, start + 0x8000)));
    }
    return { mimetype, data: btoa(parts.join('')), size: bytes.length };
  };

  window.__waBot = { status, unread, sendText, markRead, downloadMedia };
  if (WPP.isReady) {
    start();
  } else {
    WPP.loader.onReady(start);
  }
  return 'installed';
})();
