// window.WPP for the simulator: the subset of @wppconnect/wa-js the bot uses, with the same names and shapes.
// The page talks to the simulator over one websocket; state lives here, the UI (whatsapp.js) only draws it.
(function () {
  'use strict';

  const TOKEN_KEY = 'simLinkToken';
  const CALL_TIMEOUT_MS = 30000;
  const LOGOUT_RELOAD_MS = 100;
  const RECONNECT_MAX_MS = 5000;
  // wa-js drops events nobody listens to; the bot subscribes after the page has loaded, so messages delivered
  // before that are kept here and replayed to the first listener (the contract says held messages arrive).
  const HELD_EVENTS = new Set(['chat.new_message']);
  const HELD_MAX = 1000;

  const { MsgKey, MsgModel, wid } = window.SimModels;

  const listeners = new Map();
  const held = [];

  function addListener(name, callback, once) {
    if (typeof callback !== 'function') throw new TypeError('listener must be a function');
    if (!listeners.has(name)) listeners.set(name, []);
    listeners.get(name).push({ callback, once });
    if (HELD_EVENTS.has(name) && held.some((e) => e.name === name)) {
      const replay = held.filter((e) => e.name === name);
      held.splice(0, held.length, ...held.filter((e) => e.name !== name));
      queueMicrotask(() => replay.forEach((e) => emit(e.name, e.payload)));
    }
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
    const list = listeners.get(name);
    if (!list || list.length === 0) {
      if (HELD_EVENTS.has(name) && held.length < HELD_MAX) held.push({ name, payload });
      return;
    }
    for (const listener of [...list]) {
      if (listener.once) off(name, listener.callback);
      try {
        listener.callback(payload);
      } catch (error) {
        console.error('WPP listener for ' + name + ' failed', error);
      }
    }
  }

  const sim = {
    pageId: null,
    socket: null,
    connected: false,
    reloading: false,
    token: localStorage.getItem(TOKEN_KEY),
    me: undefined,
    mode: null,
    online: true,
    authCode: null,
    authenticated: false,
    mainReady: false,
    chats: new Map(),
    messages: new Map(),
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
  function markReady() {
    if (WPP.isReady) return;
    WPP.isReady = true;
    WPP.isFullReady = true;
    for (const kind of ['ready', 'fullReady']) {
      for (const { callback, delay } of loaderQueues[kind].splice(0)) {
        if (delay) setTimeout(callback, delay); else callback();
      }
    }
  }
  let resolveReady;
  const readyPromise = new Promise((resolve) => { resolveReady = resolve; });

  function setMode(mode, online) {
    if (mode !== sim.mode) {
      sim.mode = mode;
      emit('conn.stream_mode_changed', mode);
    }
    if (online !== sim.online) {
      sim.online = online;
      emit('conn.online', online);
    }
  }

  function storeToken(token) {
    sim.token = token;
    if (token) localStorage.setItem(TOKEN_KEY, token); else localStorage.removeItem(TOKEN_KEY);
  }

  function loadHistory(chats, history) {
    for (const chat of chats || []) sim.chats.set(chat.id, chat);
    for (const [chatId, list] of Object.entries(history || {})) sim.messages.set(chatId, list.slice());
  }

  function addMessage(plain, chat) {
    const chatId = plain.id.remote;
    if (!sim.messages.has(chatId)) sim.messages.set(chatId, []);
    sim.messages.get(chatId).push(plain);
    if (chat) sim.chats.set(chat.id, chat);
  }

  function becomeMainReady(mode, online) {
    sim.authenticated = true;
    setMode(mode, online);
    if (!sim.mainReady) {
      sim.mainReady = true;
      emit('conn.main_ready');
    }
  }

  const handlers = {
    welcome(msg) {
      sim.pageId = msg.page;
      sim.me = msg.me;
      if (msg.tokenRejected) {
        storeToken(null);
        if (sim.mainReady) return handlers.logout();
      }
      loadHistory(msg.chats, msg.history);
      if (msg.stage === 'main_ready') {
        storeToken(msg.token);
        sim.authCode = null;
        becomeMainReady(msg.mode, msg.online);
      } else {
        sim.authenticated = false;
        sim.authCode = msg.authCode;
        setMode(msg.mode, msg.online);
        emit('conn.auth_code_change', sim.authCode);
      }
      markReady();
      resolveReady();
    },
    authCode(msg) {
      sim.authCode = msg.authCode;
      emit('conn.auth_code_change', sim.authCode);
    },
    authenticated(msg) {
      storeToken(msg.token);
      sim.authenticated = true;
      sim.authCode = null;
      emit('conn.auth_code_change', null);
      emit('conn.authenticated');
    },
    mainReady(msg) {
      loadHistory(msg.chats, msg.history);
      becomeMainReady(msg.mode, msg.online);
    },
    stream(msg) {
      setMode(msg.mode, msg.online);
    },
    message(msg) {
      addMessage(msg.msg, msg.chat);
      emit('chat.new_message', new MsgModel(msg.msg));
    },
    ack(msg) {
      const keys = new Set(msg.ids.map((id) => id._serialized));
      for (const stored of sim.messages.get(msg.chat) || []) {
        if (keys.has(stored.id._serialized)) stored.ack = msg.ack;
      }
      emit('chat.msg_ack_change', { ack: msg.ack, chat: wid(msg.chat), ids: msg.ids.map((id) => new MsgKey(id)) });
    },
    chat(msg) {
      sim.chats.set(msg.chat.id, msg.chat);
    },
    logout() {
      // Like the real site: forget the session and reload onto the QR screen.
      sim.reloading = true;
      storeToken(null);
      sim.authenticated = false;
      sim.mainReady = false;
      emit('conn.logout');
      setTimeout(() => location.reload(), LOGOUT_RELOAD_MS);
    },
    reply(msg) {
      const call = sim.calls.get(msg.req);
      if (!call) return;
      sim.calls.delete(msg.req);
      clearTimeout(call.timer);
      if (msg.ok) call.resolve(msg.result); else call.reject(new Error(msg.error));
    },
  };

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
      if (handler) handler(msg);
      changed();
    });
    socket.addEventListener('close', () => {
      sim.connected = false;
      for (const call of sim.calls.values()) {
        clearTimeout(call.timer);
        call.reject(new Error('the connection to WhatsApp was lost'));
      }
      sim.calls.clear();
      if (sim.reloading) return;
      setMode('OFFLINE', false);
      changed();
      setTimeout(connect, sim.reconnectMs);
      sim.reconnectMs = Math.min(sim.reconnectMs * 2, RECONNECT_MAX_MS);
    });
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

  function requireMain() {
    if (!sim.mainReady) throw new Error('WhatsApp Web is not main-ready');
    if (sim.mode !== 'MAIN') throw new Error('cannot send: the stream is ' + sim.mode + ', not MAIN');
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
      isMainReady() { return sim.mainReady; },
      isMainLoaded() { return sim.mainReady; },
      isMainInit() { return sim.mainReady; },
      isOnline() { return sim.online; },
      isIdle() { return false; },
      isMultiDevice() { return true; },
      getMyUserId() { return sim.authenticated ? wid(sim.me) : undefined; },
      getMyUserWid() { return sim.authenticated ? wid(sim.me) : undefined; },
      getStreamData() { return { mode: sim.mode, info: sim.online ? 'NORMAL' : 'OFFLINE' }; },
      async getAuthCode() {
        await readyPromise;
        return sim.authenticated || !sim.authCode ? null : { ...sim.authCode };
      },
      async logout() {
        if (!sim.authenticated) return false;
        return call('logout', {});
      },
    },
    chat: {
      async sendTextMessage(chatId, content, options) {
        requireMain();
        let messageId = options && options.messageId;
        if (messageId && typeof messageId === 'object') messageId = messageId._serialized || messageId.id;
        return call('sendTextMessage', { chatId: chatIdOf(chatId), content, messageId: messageId || null });
      },
      async markIsRead(chatId) {
        if (!sim.mainReady) throw new Error('WhatsApp Web is not main-ready');
        const result = await call('markIsRead', { chatId: chatIdOf(chatId) });
        return { wid: wid(result.wid), unreadCount: result.unreadCount };
      },
      async markIsComposing(chatId, duration) {
        if (!sim.mainReady) throw new Error('WhatsApp Web is not main-ready');
        await call('markIsComposing', { chatId: chatIdOf(chatId), duration: duration == null ? null : duration });
        // Like wa-js: with a duration, resolve only after typing has been shown that long and then paused.
        if (duration > 0) {
          await new Promise((resolve) => setTimeout(resolve, duration));
          await call('markIsPaused', { chatId: chatIdOf(chatId) }).catch(() => undefined);
        }
      },
      async markIsPaused(chatId) {
        if (!sim.mainReady) throw new Error('WhatsApp Web is not main-ready');
        await call('markIsPaused', { chatId: chatIdOf(chatId) });
      },
    },
  };

  window.WPP = WPP;
  // For the page's own UI only; the bot uses window.WPP.
  window.SimPage = {
    onUpdate(callback) { uiListeners.push(callback); callback(sim); },
    takeOver() { return call('takeOver', {}); },
  };
  connect();
})();
