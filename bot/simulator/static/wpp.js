// window.WPP for the simulator: the subset of @wppconnect/wa-js the bot uses, with the same names and shapes.
// The page talks to the simulator over one websocket; state lives here, the UI (whatsapp.js) only draws it.
(function () {
  'use strict';

  const CALL_TIMEOUT_MS = 30000;
  const LOGOUT_RELOAD_MS = 100;
  const RECONNECT_MAX_MS = 5000;
  const DEFAULT_MESSAGE_COUNT = 20;
  const DISCONNECTED = { mode: 'OFFLINE', online: false, info: 'OFFLINE', socket: 'OPENING' };

  const { ChatModel, MsgKey, MsgModel, WPPError, wid } = window.SimModels;
  const session = window.SimSession;

  // Like wa-js (an EventEmitter): an event reaches only the listeners registered when it is emitted.
  const listeners = new Map();
  // wa-js's internalEv.waitFor: internal one-shot waits the bot cannot see in listenerCount.
  const waiters = new Map();

  function addListener(name, callback, once) {
    if (typeof callback !== 'function') throw new TypeError('listener must be a function');
    if (!listeners.has(name)) listeners.set(name, []);
    listeners.get(name).push({ callback, once });
    return WPP;
  }

  function off(name, callback) {
    const list = listeners.get(name);
    if (list) {
      const index = list.findIndex((l) => l.callback === callback);
      if (index >= 0) list.splice(index, 1);
    }
    return WPP;
  }

  function emit(name, payload) {
    for (const resolve of waiters.get(name) || []) resolve(payload);
    waiters.delete(name);
    for (const listener of [...(listeners.get(name) || [])]) {
      if (listener.once) off(name, listener.callback);
      try {
        listener.callback(payload);
      } catch (error) {
        console.error('WPP listener for ' + name + ' failed', error);
      }
    }
  }

  function waitFor(name) {
    let resolve;
    const promise = new Promise((r) => { resolve = r; });
    if (!waiters.has(name)) waiters.set(name, []);
    waiters.get(name).push(resolve);
    return promise;
  }

  const sim = {
    pageId: null,
    socket: null,
    connected: false,
    reloading: false,
    token: null,
    me: undefined,
    mode: undefined,
    info: undefined,
    online: true,
    socketState: 'OPENING',
    authCode: null,
    idle: false,
    linkCode: null,
    authenticated: false,
    mainReady: false,
    chats: new Map(),
    messages: new Map(),
    byKey: new Map(),
    calls: new Map(),
    nextReq: 1,
    reconnectMs: 250,
  };

  const uiListeners = [];
  function changed() {
    for (const callback of uiListeners) {
      try { callback(sim); } catch (error) { console.error('simulator UI update failed', error); }
    }
  }

  const loaderQueues = { injected: [], ready: [], fullReady: [] };
  function onLoader(kind, flag, callback, delay) {
    if (WPP[flag]) {
      if (delay) setTimeout(callback, delay); else callback();
    } else {
      loaderQueues[kind].push({ callback, delay });
    }
  }
  let resolveReady;
  const readyPromise = new Promise((resolve) => { resolveReady = resolve; });
  function markReady() {
    if (WPP.isReady) return;
    WPP.isReady = true;
    WPP.isFullReady = true;
    for (const kind of ['ready', 'fullReady']) {
      for (const { callback, delay } of loaderQueues[kind].splice(0)) {
        if (delay) setTimeout(callback, delay); else callback();
      }
    }
    resolveReady();
  }

  // The token is written before anything that depends on it happens (a kill -9 right after must not lose it).
  async function saveToken(token) {
    sim.token = token;
    try {
      await session.saveToken(token);
    } catch (error) {
      console.error('could not store the link token', error);
    }
  }

  function applyStream(stream) {
    sim.socketState = stream.socket;
    if (stream.mode !== sim.mode) {
      sim.mode = stream.mode;
      emit('conn.stream_mode_changed', stream.mode);
    }
    if (stream.info !== sim.info) {
      sim.info = stream.info;
      emit('conn.stream_info_changed', stream.info);
    }
    if (stream.online !== sim.online) {
      sim.online = stream.online;
      emit('conn.online', stream.online);
    }
  }

  function setChats(list) {
    for (const plain of list || []) {
      const chat = sim.chats.get(plain.id);
      if (chat) chat.update(plain); else sim.chats.set(plain.id, new ChatModel(plain));
    }
  }

  // Every message the page receives goes into its store, whether or not anyone listens.
  function storeMessage(plain) {
    const chatId = plain.id.remote;
    const key = plain.id._serialized;
    const model = new MsgModel(plain);
    if (!sim.messages.has(chatId)) sim.messages.set(chatId, []);
    const list = sim.messages.get(chatId);
    const index = sim.byKey.has(key) ? list.indexOf(sim.byKey.get(key)) : -1;
    if (index >= 0) list[index] = model; else list.push(model);
    sim.byKey.set(key, model);
    return model;
  }

  function loadHistory(chats, history) {
    sim.chats.clear();
    sim.messages.clear();
    sim.byKey.clear();
    setChats(chats);
    for (const list of Object.values(history || {})) for (const plain of list) storeMessage(plain);
  }

  const handlers = {
    async welcome(msg) {
      sim.pageId = msg.page;
      sim.me = msg.me;
      if (msg.tokenRejected) {
        await saveToken(null);
        if (sim.authenticated) return handlers.logout();
      }
      if (msg.token) await saveToken(msg.token);
      sim.authenticated = Boolean(msg.token);
      sim.authCode = msg.authCode;
      sim.idle = false;
      sim.linkCode = null;
      loadHistory(msg.chats, msg.history);
      applyStream(msg.stream);
      if (!sim.authenticated) emit('conn.auth_code_change', sim.authCode);
      markReady();
    },
    authCode(msg) {
      sim.authCode = msg.authCode;
      sim.idle = false;
      emit('conn.auth_code_change', sim.authCode);
    },
    qrIdle() {
      sim.authCode = null;
      sim.idle = true;
      sim.socketState = 'UNPAIRED_IDLE';
      emit('conn.auth_code_change', null);
      emit('conn.qrcode_idle');
    },
    async authenticated(msg) {
      await saveToken(msg.token);
      sim.authenticated = true;
      sim.authCode = null;
      sim.idle = false;
      sim.linkCode = null;
      loadHistory(msg.chats, msg.history);
      emit('conn.auth_code_change', null);
      emit('conn.authenticated');
    },
    mainReady() {
      // wa-js emits conn.main_ready once per page load.
      if (sim.mainReady) return;
      sim.mainReady = true;
      emit('conn.main_ready');
    },
    stream(msg) {
      applyStream(msg);
    },
    message(msg) {
      if (msg.chat) setChats([msg.chat]);  // status posts are not a chat
      const model = storeMessage(msg.msg);
      if (model.isNewMsg) emit('chat.new_message', model);
    },
    sync(msg) {
      // Messages, unread counts and acks that arrived while the page could not take them: no events.
      for (const plain of msg.messages) storeMessage(plain);
      setChats(msg.chats);
      for (const change of msg.acks) {
        const stored = sim.byKey.get(change.id._serialized);
        if (stored) stored.ack = change.ack;
      }
    },
    ack(msg) {
      for (const id of msg.ids) {
        const stored = sim.byKey.get(id._serialized);
        if (stored) stored.ack = msg.ack;
      }
      emit('chat.msg_ack_change', { ack: msg.ack, chat: wid(msg.chat), ids: msg.ids.map((id) => new MsgKey(id)) });
    },
    chat(msg) {
      setChats([msg.chat]);
    },
    async logout() {
      // Like the real site: forget the session and reload onto the QR screen.
      sim.reloading = true;
      await saveToken(null);
      sim.authenticated = false;
      sim.mainReady = false;
      emit('conn.logout');
      setTimeout(() => location.reload(), LOGOUT_RELOAD_MS);
    },
    reload() {
      // As after a WhatsApp Web update: whatever was injected into the page is gone.
      sim.reloading = true;
      location.reload();
    },
    reply(msg) {
      const call = sim.calls.get(msg.req);
      if (!call) return;
      sim.calls.delete(msg.req);
      clearTimeout(call.timer);
      if (msg.ok) call.resolve(msg.result); else call.reject(new Error(msg.error));
    },
  };

  // Socket messages are handled one after the other, including the asynchronous ones (token writes).
  let inbox = Promise.resolve();
  function enqueue(task) {
    inbox = inbox
      .then(task)
      .catch((error) => console.error('simulator page update failed', error))
      .then(changed);
  }

  function disconnected() {
    sim.connected = false;
    for (const call of sim.calls.values()) {
      clearTimeout(call.timer);
      call.reject(new Error('the connection to WhatsApp was lost'));
    }
    sim.calls.clear();
    if (sim.reloading) return;
    applyStream(DISCONNECTED);
    setTimeout(connect, sim.reconnectMs);
    sim.reconnectMs = Math.min(sim.reconnectMs * 2, RECONNECT_MAX_MS);
  }

  function connect() {
    const scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
    const socket = new WebSocket(scheme + location.host + '/ws/page');
    sim.socket = socket;
    socket.addEventListener('open', () => {
      sim.connected = true;
      sim.reconnectMs = 250;
      socket.send(JSON.stringify({ type: 'hello', token: sim.token }));
    });
    socket.addEventListener('message', (event) => {
      const msg = JSON.parse(event.data);
      const handler = handlers[msg.type];
      if (handler) enqueue(() => handler(msg));
    });
    socket.addEventListener('close', () => enqueue(disconnected));
  }

  function call(method, args) {
    return new Promise((resolve, reject) => {
      if (!sim.connected || sim.socket.readyState !== WebSocket.OPEN) {
        reject(new Error('not connected to WhatsApp'));
        return;
      }
      const req = sim.nextReq++;
      const timer = setTimeout(() => {
        sim.calls.delete(req);
        reject(new Error(method + ' timed out'));
      }, CALL_TIMEOUT_MS);
      sim.calls.set(req, { resolve, reject, timer });
      sim.socket.send(JSON.stringify({ type: 'call', req, method, args }));
    });
  }

  function chatIdOf(chatId) {
    if (chatId && typeof chatId === 'object' && chatId._serialized) return chatId._serialized;
    return String(chatId);
  }

  // As wa-js's createWid: bare digits are a user, s.whatsapp.net is c.us.
  function widString(chatId) {
    const text = chatIdOf(chatId).trim().replace('@s.whatsapp.net', '@c.us');
    return text.includes('@') ? text : text.replace(/^\+/, '') + '@c.us';
  }

  // wa-js's assertGetChat: only chats the page knows.
  function assertGetChat(chatId) {
    const id = widString(chatId);
    const chat = sim.chats.get(id);
    if (!chat) throw new WPPError('chat_not_found', 'Chat not found for ' + id, { id });
    return chat;
  }

  function requireSendable() {
    if (!sim.authenticated) throw new Error('WhatsApp Web is not logged in (scan the QR code first)');
    if (sim.mode !== 'MAIN') throw new Error('cannot send: the stream is ' + sim.mode + ', not MAIN');
  }

  function findMessage(id) {
    const key = id && typeof id === 'object' ? String(id._serialized || '') : String(id);
    const parts = key.split('_');
    if (parts.length < 3 || (parts[0] !== 'true' && parts[0] !== 'false')) {
      throw new Error('invalid message id ' + JSON.stringify(key) + ' (expected fromMe_chat_id)');
    }
    const model = sim.byKey.get(key);
    if (model) return model;
    if (parts[1] !== 'status@broadcast') assertGetChat(parts[1]);
    throw new WPPError('msg_not_found', 'Message ' + key + ' not found', { id: key });
  }

  function messagesOf(chat, options) {
    const list = sim.messages.get(chat.id._serialized) || [];
    let count = options.count || DEFAULT_MESSAGE_COUNT;
    const direction = options.direction === 'after' ? 'after' : 'before';
    if (options.onlyUnread) {
      if (!chat.hasUnread) return [];
      const unread = chat.unreadCount < 0 ? 2 : chat.unreadCount;
      count = count < 0 ? unread : Math.min(count, unread);
    }
    if (count === -1) count = Infinity;
    count = Math.max(count, 0);
    if (options.id) {
      const key = chatIdOf(options.id);
      const index = list.findIndex((m) => m.id._serialized === key);
      if (index < 0) return [];
      return direction === 'before'
        ? list.slice(Math.max(0, index - count), index)
        : list.slice(index + 1, index + 1 + count);
    }
    if (list.length === 0 || count === 0) return [];
    // Anchored on the chat's last message, which wa-js returns last whatever the direction.
    const last = list.length - 1;
    if (direction === 'after') return [list[last]];
    return [...list.slice(Math.max(0, last - (count - 1)), last), list[last]];
  }

  function listChats(options) {
    const count = options.count == null ? Infinity : options.count;
    let chats = [...sim.chats.values()].sort((a, b) => (b.t - a.t) || (b.order - a.order));
    if (options.onlyUsers) chats = chats.filter((c) => c.isUser);
    if (options.onlyGroups) chats = chats.filter((c) => c.id.isGroup());
    if (options.onlyCommunities || options.onlyNewsletter) chats = [];
    if (options.onlyWithUnreadMessage) chats = chats.filter((c) => c.hasUnread);
    if (options.onlyArchived) chats = chats.filter((c) => c.archive);
    if (options.withLabels) chats = [];
    const anchor = options.id ? sim.chats.get(widString(options.id)) : null;
    const start = anchor ? chats.indexOf(anchor) : 0;
    if (options.direction === 'before') {
      const from = Math.max(start - count, 0);
      return chats.slice(from, Math.min(from + count, start));
    }
    return chats.slice(start, start + count);
  }

  const WPP = {
    version: 'simulator-1',
    isInjected: true,
    isReady: false,
    isFullReady: false,
    loader: {
      onInjected(callback, delay) { onLoader('injected', 'isInjected', callback, delay); },
      onReady(callback, delay) { onLoader('ready', 'isReady', callback, delay); },
      onFullReady(callback, delay) { onLoader('fullReady', 'isFullReady', callback, delay); },
    },
    on(name, callback) { return addListener(name, callback, false); },
    once(name, callback) { return addListener(name, callback, true); },
    off,
    removeListener: off,
    removeAllListeners(name) {
      if (name === undefined) listeners.clear(); else listeners.delete(name);
      return WPP;
    },
    listenerCount(name) { return (listeners.get(name) || []).length; },
    conn: {
      isAuthenticated() { return sim.authenticated; },
      isRegistered() { return sim.authenticated; },
      isMainReady() { return sim.mainReady; },
      isMainLoaded() { return sim.mainReady; },
      // wa-js: true once WhatsApp Web's own code is loaded, QR screen included.
      isMainInit() { return WPP.isReady; },
      isOnline() { return sim.online; },
      isIdle() { return sim.idle; },
      isMultiDevice() { return true; },
      getMyUserId() { return sim.authenticated ? wid(sim.me) : undefined; },
      getMyUserWid() { return sim.authenticated ? wid(sim.me) : undefined; },
      getStreamData() { return { mode: sim.mode, info: sim.info }; },
      async getAuthCode() {
        await readyPromise;
        return sim.authenticated || !sim.authCode ? null : { ...sim.authCode };
      },
      async refreshQR() {
        await readyPromise;
        if (sim.authenticated) return null;
        let code = null;
        waitFor('conn.auth_code_change').then((value) => { code = value; });
        await call('refreshQR', {});
        // The new code is pushed before the reply, so it has been emitted by now (unless the page moved on).
        return code;
      },
      async genLinkDeviceCodeForPhoneNumber(phone, sendPushNotification = true) {
        await readyPromise;
        if (!phone || typeof phone !== 'string') {
          throw new WPPError('send_the_phone_number_to_connect', "Can't get code for without phone number param");
        }
        if (sim.authenticated) {
          throw new WPPError('cannot_get_code_for_already_authenticated', "Can't get code for already authenticated user");
        }
        const digits = phone.trim().replace(/^\+/, '');
        if (!/^\d{6,15}$/.test(digits)) throw new Error('invalid phone number ' + JSON.stringify(phone));
        sim.linkCode = await call('genLinkCode', { phone: digits, sendPushNotification: Boolean(sendPushNotification) });
        changed();
        return sim.linkCode;
      },
      async logout() {
        if (!sim.authenticated) return false;
        return call('logout', {});
      },
    },
    chat: {
      async list(options = {}) {
        return listChats(options || {});
      },
      async getMessages(chatId, options = {}) {
        const result = messagesOf(assertGetChat(chatId), options || {});
        // wa-js marks what it returns for onlyUnread as new.
        if (options && options.onlyUnread) for (const msg of result) msg.isNewMsg = true;
        return result;
      },
      async getMessageById(ids) {
        return Array.isArray(ids) ? ids.map(findMessage) : findMessage(ids);
      },
      // As wa-js: a Blob of the file, typed with its mimetype. An unknown message rejects as getMessageById does
      // (msg_not_found, chat_not_found); one without media (text, location, contact card) with a WPPError
      // message_not_contains_media; a file the servers do not hand over (offline here) with wa-js's plain
      // {error, code: 'media_not_found'} object. The bytes come from the simulator, this page's own origin.
      async downloadMedia(id) {
        const msg = findMessage(id);
        if (!msg.mediaData) {
          throw new WPPError('message_not_contains_media', 'Message ' + String(id) + ' not contains media', { id });
        }
        const url = '/api/media/' + encodeURIComponent(msg.id._serialized);
        const response = sim.online ? await fetch(url, { cache: 'no-store' }).catch(() => null) : null;
        if (!response || !response.ok) {
          throw { error: true, code: 'media_not_found', message: 'Media not found' };
        }
        const bytes = await response.arrayBuffer();
        return new Blob([bytes], { type: msg.mediaData.mimetype || 'application/octet-stream' });
      },
      async sendTextMessage(chatId, content, options) {
        requireSendable();
        let messageId = options && options.messageId;
        if (messageId && typeof messageId === 'object') messageId = messageId._serialized || messageId.id;
        const markIsRead = !(options && options.markIsRead === false);
        return call('sendTextMessage', { chatId: chatIdOf(chatId), content, messageId: messageId || null, markIsRead });
      },
      async markIsRead(chatId) {
        const chat = assertGetChat(chatId);
        const unreadCount = chat.unreadCount;
        await call('markIsRead', { chatId: chat.id._serialized });
        return { wid: chat.id, unreadCount };
      },
      async markIsComposing(chatId, duration) {
        const chat = assertGetChat(chatId);
        await call('markIsComposing', { chatId: chat.id._serialized, duration: duration == null ? null : duration });
        // Like wa-js: with a duration, resolve only after typing has been shown that long and then paused.
        if (duration > 0) {
          await new Promise((resolve) => setTimeout(resolve, duration));
          await call('markIsPaused', { chatId: chat.id._serialized }).catch(() => undefined);
        }
      },
      async markIsPaused(chatId) {
        const chat = assertGetChat(chatId);
        await call('markIsPaused', { chatId: chat.id._serialized });
      },
    },
    whatsapp: {
      Socket: {
        get state() { return sim.socketState; },
        // What the "Use here" button does on a page in CONFLICT.
        takeover() { return call('takeOver', {}); },
      },
      Stream: {
        get mode() { return sim.mode; },
        get info() { return sim.info; },
      },
    },
  };

  window.WPP = WPP;
  // For the page's own UI only; the bot uses window.WPP.
  window.SimPage = {
    onUpdate(callback) { uiListeners.push(callback); callback(sim); },
  };
  // The stored link token is read before the page says hello, as the real site reads its keys first.
  session.loadToken()
    .catch((error) => { console.error('could not read the link token', error); return null; })
    .then((token) => { sim.token = token; connect(); });
})();
