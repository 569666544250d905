// The enrollment, approval and account pages. No framework and no inline script (the CSP forbids
// it). The page's link (token or id) comes from the address; every call goes to this
// origin's API, which passes it to the daemon. WebAuthn options arrive as JSON with
// base64url byte fields (webauthn-rs), and the credential goes back the same way.
'use strict';

(function () {
  const $ = (id) => document.getElementById(id);

  function status(text, kind) {
    const line = $('status');
    line.textContent = text;
    line.className = kind || '';
  }

  // --- base64url <-> ArrayBuffer ---
  function fromB64url(text) {
    const b64 = text.replace(/-/g, '+').replace(/_/g, '/');
    const padded = b64 + '='.repeat((4 - (b64.length % 4)) % 4);
    const bin = atob(padded);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return bytes.buffer;
  }

  function toB64url(buffer) {
    if (buffer === null || buffer === undefined) return null;
    const bytes = new Uint8Array(buffer);
    let bin = '';
    for (let i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  // --- the API ---
  async function api(path, body) {
    const init = { method: body === undefined ? 'GET' : 'POST', credentials: 'omit', cache: 'no-store' };
    if (body !== undefined) {
      init.headers = { 'Content-Type': 'application/json' };
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (e) {
      throw new Error('The server cannot be reached. Check your connection and try again.');
    }
    let json = {};
    try {
      json = await response.json();
    } catch (e) {
      json = {};
    }
    if (!response.ok) {
      const error = new Error(json.message || ('The server answered ' + response.status + '.'));
      error.kind = json.error || 'error';
      throw error;
    }
    return json;
  }

  function link() {
    const parts = location.pathname.split('/').filter(Boolean);
    return parts.length === 2 ? parts[1] : '';
  }

  // Opens the page's link through `/api/<kind>/<link>`: its answer, or null when the link is
  // refused (the page then says why and offers nothing).
  async function openLink(kind, token) {
    try {
      return await api('/api/' + kind + '/' + token, {});
    } catch (e) {
      $('intro').textContent = '';
      status(e.message, 'error');
      return null;
    }
  }

  // --- WebAuthn ---
  function creationOptions(options) {
    const pk = Object.assign({}, options.publicKey);
    pk.challenge = fromB64url(pk.challenge);
    pk.user = Object.assign({}, pk.user, { id: fromB64url(pk.user.id) });
    if (Array.isArray(pk.excludeCredentials)) {
      pk.excludeCredentials = pk.excludeCredentials.map((c) => Object.assign({}, c, { id: fromB64url(c.id) }));
    }
    return { publicKey: pk };
  }

  function requestOptions(options) {
    const pk = Object.assign({}, options.publicKey);
    pk.challenge = fromB64url(pk.challenge);
    if (Array.isArray(pk.allowCredentials)) {
      pk.allowCredentials = pk.allowCredentials.map((c) => Object.assign({}, c, { id: fromB64url(c.id) }));
    }
    const out = { publicKey: pk };
    if (options.mediation) out.mediation = options.mediation;
    return out;
  }

  // A PublicKeyCredential as JSON with base64url byte fields, as webauthn-rs reads it:
  // `fields` are the response's byte fields this ceremony has.
  function encodeCredential(cred, fields) {
    const response = {};
    fields.forEach((field) => { response[field] = toB64url(cred.response[field]); });
    return { id: cred.id, rawId: toB64url(cred.rawId), type: cred.type, extensions: {}, response: response };
  }

  function encodeCreated(cred) {
    return encodeCredential(cred, ['attestationObject', 'clientDataJSON']);
  }

  function encodeAssertion(cred) {
    return encodeCredential(cred, ['authenticatorData', 'clientDataJSON', 'signature', 'userHandle']);
  }

  function webauthnMissing() {
    return !window.PublicKeyCredential || !navigator.credentials;
  }

  function ceremonyError(e) {
    if (e && e.name === 'NotAllowedError') return 'The passkey prompt was cancelled or timed out.';
    if (e && e.name === 'InvalidStateError') return 'This device already has a passkey for this account.';
    return (e && e.message) || 'The passkey could not be used.';
  }

  // --- Web Push ---
  // `link` is what lets this browser subscribe: an enrollment link just used, or the
  // account page's session (an approval link does not: it is shown to whoever signs in).
  async function offerPush(link) {
    if (!('serviceWorker' in navigator) || !('PushManager' in window) || !('Notification' in window)) return;
    let key;
    try {
      key = (await api('/api/push/key')).key;
    } catch (e) {
      return;
    }
    if (!key) return;
    $('push').hidden = false;
    $('notify-me').addEventListener('click', async () => {
      $('notify-me').disabled = true;
      try {
        const permission = await Notification.requestPermission();
        if (permission !== 'granted') throw new Error('Notifications are not allowed for this site.');
        const registration = await navigator.serviceWorker.register('/sw.js', { scope: '/' });
        await navigator.serviceWorker.ready;
        const subscription = await registration.pushManager.subscribe({
          userVisibleOnly: true,
          applicationServerKey: fromB64url(key),
        });
        await api('/api/push/subscribe', { link: link, subscription: subscription.toJSON() });
        status('This device will be notified of sign-in requests.', 'done');
      } catch (e) {
        $('notify-me').disabled = false;
        status('Notifications could not be turned on: ' + e.message, 'error');
      }
    });
  }

  // --- enrollment ---
  async function enroll() {
    const token = link();
    let opened = await openLink('enroll', token);
    if (!opened) return;
    $('user').textContent = opened.user;
    $('host').textContent = opened.host;
    $('label').textContent = opened.label;
    $('details').hidden = false;
    $('intro').textContent = 'Add a passkey for this account. Your phone or security key will ask for your fingerprint, face or screen lock.';
    if (webauthnMissing()) {
      status('This browser cannot use passkeys.', 'error');
      return;
    }
    $('enroll-form').hidden = false;
    $('enroll-form').addEventListener('submit', async (event) => {
      event.preventDefault();
      $('add-passkey').disabled = true;
      status('Waiting for the passkey…');
      try {
        const cred = await navigator.credentials.create(creationOptions(opened.options));
        const body = { credential: encodeCreated(cred) };
        const done = await api('/api/enroll/' + token + '/finish', body);
        $('enroll-form').hidden = true;
        status('Passkey "' + done.label + '" added. You can close this page.', 'done');
        offerPush(token);
      } catch (e) {
        // Each try answers one challenge, which the daemon spends: fetch a fresh one before
        // offering the button again (and before saying what went wrong, so the page never
        // shows an error next to a button that would fail). A link that is gone stays refused.
        try {
          opened = await api('/api/enroll/' + token, {});
          $('add-passkey').disabled = false;
          status(e.kind ? e.message : ceremonyError(e), 'error');
        } catch (again) {
          status(again.message, 'error');
        }
      }
    });
  }

  // --- approval ---
  function when(unix) {
    return new Date(unix * 1000).toLocaleString();
  }

  function finished(text, kind) {
    $('number-form').hidden = true;
    $('refuse').hidden = true;
    status(text, kind);
  }

  async function approveWith(id, number) {
    if (!Number.isInteger(number) || number < 0 || number > 99) {
      status('Type the two-digit number shown at the sign-in prompt.', 'error');
      return;
    }
    $('approve').disabled = true;
    status('Checking the number…');
    try {
      const answer = await api('/api/approve/' + id + '/number', { number: number });
      if (answer.status !== 'challenge') {
        finished('Wrong number: the sign-in was denied.', 'error');
        return;
      }
      status('Confirm with your passkey…');
      const cred = await navigator.credentials.get(requestOptions(answer.options));
      await api('/api/approve/' + id + '/finish', { assertion: encodeAssertion(cred) });
      finished('Approved. The sign-in continues; you can close this page.', 'done');
    } catch (e) {
      if (e.kind === 'wrong_number') {
        finished('Wrong number: the sign-in was denied.', 'error');
      } else if (e.kind === 'not_found') {
        finished(e.message, 'error');
      } else {
        $('approve').disabled = false;
        status(e.kind ? e.message : ceremonyError(e), 'error');
      }
    }
  }

  async function deny(id, notMe) {
    $('deny').disabled = true;
    $('not-me').disabled = true;
    try {
      await api('/api/approve/' + id + '/deny', { not_me: notMe });
      finished(notMe
        ? 'Denied. Your other contacts are told, and notifications pause for a while. Consider changing your password.'
        : 'Denied. The sign-in will not go through.', 'done');
    } catch (e) {
      $('deny').disabled = false;
      $('not-me').disabled = false;
      status(e.message, 'error');
    }
  }

  async function approve() {
    const id = link();
    const opened = await openLink('approve', id);
    if (!opened) return;
    const view = opened.approval;
    $('user').textContent = view.user;
    $('host').textContent = view.host;
    $('service').textContent = view.service;
    $('source').textContent = view.source;
    $('requested-at').textContent = when(view.requested_at);
    $('expires-at').textContent = when(view.expires_at);
    $('details').hidden = false;
    $('intro').textContent = 'Someone is signing in as you. Approve only if it is you, now.';
    view.choices.forEach((n, i) => {
      const button = $('choice-' + i);
      button.textContent = String(n).padStart(2, '0');
      button.addEventListener('click', () => {
        $('number-input').value = String(n).padStart(2, '0');
        approveWith(id, n);
      });
    });
    $('number-form').hidden = webauthnMissing();
    $('refuse').hidden = false;
    if (webauthnMissing()) status('This browser cannot use passkeys; you can still deny.', 'error');
    $('number-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const typed = $('number-input').value.trim();
      approveWith(id, /^[0-9]{1,2}$/.test(typed) ? parseInt(typed, 10) : NaN);
    });
    $('deny').addEventListener('click', () => deny(id, false));
    $('not-me').addEventListener('click', () => deny(id, true));
  }

  // --- the account page ---
  let session = '';

  function item(list, text, remove) {
    const li = document.createElement('li');
    const span = document.createElement('span');
    span.textContent = text;
    li.appendChild(span);
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'remove';
    button.textContent = 'Remove';
    Object.keys(remove.data).forEach((k) => { button.dataset[k] = remove.data[k]; });
    button.addEventListener('click', async () => {
      button.disabled = true;
      try {
        const answer = await api('/api/account/remove', { session: session, item: remove.item });
        if (answer.status === 'ended') {
          signedOut('Removed. The passkey you signed in with is gone, so you are signed out.', 'done');
        } else {
          show(answer.account);
          status('Removed.', 'done');
        }
      } catch (e) {
        if (e.kind === 'not_found' && !session) return;
        button.disabled = false;
        status(e.message, 'error');
      }
    });
    li.appendChild(button);
    $(list).appendChild(li);
  }

  function none(list, text) {
    const li = document.createElement('li');
    li.className = 'none';
    li.textContent = text;
    $(list).appendChild(li);
  }

  function show(view) {
    ['passkeys', 'devices', 'browsers'].forEach((list) => { $(list).textContent = ''; });
    if (!view) return;
    $('user').textContent = view.user;
    $('host').textContent = view.host;
    view.passkeys.forEach((p) => item('passkeys',
      p.label + ' (added ' + when(p.enrolled_at) + (p.last_used ? ', last used ' + when(p.last_used) : '') + ')',
      { item: { passkey: { label: p.label } }, data: { kind: 'passkey', label: p.label } }));
    if (view.passkeys.length === 0) none('passkeys', 'None.');
    view.devices.forEach((d) => item('devices',
      d.source + ' (' + d.service + (d.key ? ', key ' + d.key : '') + ') until ' + when(d.until),
      { item: { device: { key: d.key || null, source: d.source, service: d.service } }, data: { kind: 'device', source: d.source } }));
    if (view.devices.length === 0) none('devices', 'None.');
    view.browsers.forEach((b) => item('browsers',
      b.service + ' (since ' + when(b.added_at) + ')',
      { item: { browser: { id: b.id } }, data: { kind: 'browser', id: b.id } }));
    if (view.browsers.length === 0) none('browsers', 'None.');
    $('sign-in-form').hidden = true;
    $('account-view').hidden = false;
  }

  function signedOut(text, kind) {
    session = '';
    show(null);
    $('account-view').hidden = true;
    $('sign-in-form').hidden = false;
    $('sign-in').disabled = false;
    status(text, kind);
  }

  async function signIn(event) {
    event.preventDefault();
    const user = $('account').value.trim();
    if (!user) {
      status('Type the name of your account.', 'error');
      return;
    }
    $('sign-in').disabled = true;
    status('Confirm with your passkey…');
    try {
      const challenge = await api('/api/account/begin', { user: user });
      const cred = await navigator.credentials.get(requestOptions(challenge.options));
      const answer = await api('/api/account/finish', { token: challenge.token, assertion: encodeAssertion(cred) });
      session = answer.account.session;
      show(answer.account);
      status('Signed in until ' + when(answer.account.expires_at) + '.', 'done');
      offerPush(session);
    } catch (e) {
      $('sign-in').disabled = false;
      status(e.kind ? e.message : ceremonyError(e), 'error');
    }
  }

  function account() {
    if (webauthnMissing()) {
      $('sign-in-form').hidden = true;
      status('This browser cannot use passkeys.', 'error');
      return;
    }
    $('sign-in-form').addEventListener('submit', signIn);
    $('sign-out').addEventListener('click', async () => {
      try {
        await api('/api/account/end', { session: session });
      } catch (e) {
        // Signed out here either way; the session ends on its own soon.
      }
      signedOut('Signed out.', 'done');
    });
  }

  document.addEventListener('DOMContentLoaded', () => {
    const page = document.body.dataset.page;
    if (page === 'enroll') enroll();
    else if (page === 'approve') approve();
    else if (page === 'account') account();
  });
})();
