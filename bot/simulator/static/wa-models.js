// wa-js data shapes for the simulator's window.WPP: Wid, MsgKey, MsgModel, ChatModel and WPPError, with the methods
// the bot may call.
(function () {
  'use strict';

  class Wid {
    constructor(serialized) {
      const text = String(serialized);
      const at = text.indexOf('@');
      this.server = at >= 0 ? text.slice(at + 1) : 'c.us';
      this.user = at >= 0 ? text.slice(0, at) : text;
      this._serialized = this.user + '@' + this.server;
    }
    toString() { return this._serialized; }
    toJSON() { return this._serialized; }
    equals(other) { return other != null && String(other._serialized || other) === this._serialized; }
    isUser() { return this.server === 'c.us'; }
    isGroup() { return this.server === 'g.us'; }
    isBroadcast() { return this.server === 'broadcast'; }
    isStatusV3() { return this._serialized === 'status@broadcast'; }
    isStatus() { return this.isStatusV3(); }
    isServer() { return this.server === 'c.us' && this.user === 'server'; }
    isLid() { return this.server === 'lid'; }
    isNewsletter() { return this.server === 'newsletter'; }
  }

  function wid(value) {
    return value == null ? undefined : new Wid(value);
  }

  function plainWid(value) {
    return value == null ? undefined : { server: value.server, user: value.user, _serialized: value._serialized };
  }

  class MsgKey {
    constructor(plain) {
      this.fromMe = plain.fromMe;
      this.remote = wid(plain.remote);
      this.id = plain.id;
      this.participant = wid(plain.participant);
      this._serialized = plain._serialized;
    }
    toString() { return this._serialized; }
    equals(other) { return other != null && String(other._serialized || other) === this._serialized; }
    serialize() {
      return {
        fromMe: this.fromMe, remote: plainWid(this.remote), id: this.id,
        participant: plainWid(this.participant), _serialized: this._serialized,
      };
    }
  }

  const WID_FIELDS = ['from', 'to', 'author'];
  const WID_LIST_FIELDS = ['mentionedJidList'];

  class MsgModel {
    constructor(plain) {
      Object.assign(this, plain);
      this.id = new MsgKey(plain.id);
      for (const field of WID_FIELDS) this[field] = wid(plain[field]);
      for (const field of WID_LIST_FIELDS) this[field] = (plain[field] || []).map(wid);
    }
    serialize() {
      const copy = {};
      for (const [name, value] of Object.entries(this)) {
        if (name === 'id') copy.id = value.serialize();
        else if (WID_FIELDS.includes(name)) copy[name] = plainWid(value);
        else if (WID_LIST_FIELDS.includes(name)) copy[name] = value.map(plainWid);
        else copy[name] = value;
      }
      return copy;
    }
    toJSON() { return this.serialize(); }
  }

  class ChatModel {
    constructor(plain) {
      this.id = wid(plain.id);
      this.update(plain);
    }
    update(plain) {
      this.name = plain.name;
      this.formattedTitle = plain.name;
      this.t = plain.t;
      this.unreadCount = plain.unreadCount;
      this.isGroup = Boolean(plain.isGroup);
      this.isUser = this.id.isUser();
      this.kind = this.isGroup ? 'group' : 'chat';
      this.archive = false;
      this.pin = 0;
      // Order of the last activity, for ties within one second; not a wa-js field, so not enumerable.
      Object.defineProperty(this, 'order', { value: plain.order || 0, configurable: true, writable: true });
    }
    // As in WhatsApp Web: -1 is "marked as unread".
    get hasUnread() { return this.unreadCount > 0 || this.unreadCount === -1; }
    serialize() { return { ...this, id: plainWid(this.id), hasUnread: this.hasUnread }; }
    toJSON() { return this.serialize(); }
  }

  // wa-js's error type: the message is for people, `code` is what to match on.
  class WPPError extends Error {
    constructor(code, message, extra) {
      super(message);
      this.code = code;
      if (extra) Object.assign(this, extra);
    }
  }

  window.SimModels = { ChatModel, MsgKey, MsgModel, WPPError, Wid, wid };
})();
