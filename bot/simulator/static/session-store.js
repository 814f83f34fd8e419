// Where the fake WhatsApp Web keeps its link token: IndexedDB, as the real site keeps its session keys.
// localStorage is committed lazily (a write made seconds before a kill -9 of Chromium is lost); a completed
// IndexedDB transaction is not, so save() resolves only once its transaction has completed.
(function () {
  'use strict';

  const DB_NAME = 'simulator-session';
  const STORE = 'keys';
  const TOKEN_KEY = 'linkToken';

  let opening = null;

  function open() {
    if (!opening) {
      opening = new Promise((resolve, reject) => {
        const request = indexedDB.open(DB_NAME, 1);
        request.onupgradeneeded = () => request.result.createObjectStore(STORE);
        request.onsuccess = () => resolve(request.result);
        request.onerror = () => reject(request.error);
      });
    }
    return opening;
  }

  async function transact(mode, action) {
    const db = await open();
    return new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode, { durability: 'strict' });
      const request = action(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(request.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error || new Error('IndexedDB transaction aborted'));
    });
  }

  window.SimSession = {
    async loadToken() {
      const token = await transact('readonly', (store) => store.get(TOKEN_KEY));
      return typeof token === 'string' && token ? token : null;
    },
    saveToken(token) {
      return token
        ? transact('readwrite', (store) => store.put(token, TOKEN_KEY))
        : transact('readwrite', (store) => store.delete(TOKEN_KEY));
    },
  };
})();
