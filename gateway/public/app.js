// The live page. JSON calls send Authorization themselves; <img> and EventSource cannot, so the
// sign-in also authenticates one XMLHttpRequest with the user and password: Chromium
// (what test/browser.test.ts checks) then keeps that Basic identity in its HTTP auth cache and
// resends it with the same-origin MJPEG/snapshot and event-stream requests under /api/v1/. No credential is stored by
// this page beyond the tab's memory; the browser forgets the cached Basic identity when it closes
// (Sign out only drops the page's copy and closes the streams).
const API = '/api/v1';
const $ = (id) => document.getElementById(id);
let authorization = null;
let source = null;
let cameraId = null;
let healthTimer = null;

function basic(user, password) {
  const bytes = new TextEncoder().encode(`${user}:${password}`);
  return 'Basic ' + btoa(String.fromCharCode(...bytes));
}

/** Seeds the browser's HTTP auth cache for /api/v1/ (see the top comment). */
function seedAuthCache(user, password) {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open('GET', `${API}/cameras`, true, user, password);
    xhr.onloadend = () => resolve(xhr.status);
    xhr.send();
  });
}

async function api(path) {
  const res = await fetch(API + path, { headers: { Authorization: authorization, Accept: 'application/json' } });
  const body = await res.json().catch(() => null);
  if (!res.ok) throw Object.assign(new Error(body?.detail ?? body?.title ?? `HTTP ${res.status}`), { status: res.status });
  return body;
}

$('login').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const user = $('user').value;
  const password = $('password').value;
  $('login-error').textContent = '';
  authorization = basic(user, password);
  try {
    const status = await seedAuthCache(user, password);
    if (status === 401) throw new Error('wrong user or password');
    const cameras = await api('/cameras');
    $('password').value = '';
    const select = $('camera');
    select.replaceChildren(...cameras.items.map((c) => new Option(`${c.name ?? c.id} (${c.id}, ${c.model})`, c.id)));
    $('login').hidden = true;
    $('live').hidden = false;
    if (cameras.items.length > 0) showCamera(cameras.items[0].id);
    else $('video-status').textContent = 'no camera configured';
  } catch (err) {
    authorization = null;
    $('login-error').textContent = `Sign-in failed: ${err.message}`;
  }
});

$('camera').addEventListener('change', (ev) => showCamera(ev.target.value));
$('view').addEventListener('change', () => showVideo());
$('refresh').addEventListener('click', () => { showVideo(); refreshHealth(); refreshActive(); });
$('logout').addEventListener('click', () => {
  stop();
  authorization = null;
  $('live').hidden = true;
  $('login').hidden = false;
});

function stop() {
  source?.close();
  source = null;
  clearInterval(healthTimer);
  $('video').removeAttribute('src');
}

function showCamera(id) {
  stop();
  cameraId = id;
  $('camera').value = id;
  $('camera-docs').href = '/docs/#/Gateway/getCamera';
  $('camera-docs').textContent = `${id} in the API docs`;
  $('feed').replaceChildren();
  showVideo();
  refreshHealth();
  refreshActive();
  healthTimer = setInterval(refreshHealth, 10_000);
  openEvents();
}

function cameraPath(rest) {
  return `${API}/cameras/${encodeURIComponent(cameraId)}${rest}`;
}

function showVideo() {
  const img = $('video');
  const view = $('view').value;
  img.onerror = () => { $('video-status').textContent = `${view}: not available (sign in again, or the camera is unreachable)`; };
  img.onload = () => { $('video-status').textContent = view === 'mjpeg' ? 'live MJPEG (sub stream)' : `snapshot ${new Date().toLocaleTimeString()}`; };
  img.src = view === 'mjpeg' ? cameraPath('/video/mjpeg?subtype=1') : cameraPath(`/snapshot?t=${Date.now()}`);
}

async function refreshHealth() {
  const dl = $('health');
  try {
    const c = await api(`/cameras/${encodeURIComponent(cameraId)}`);
    const h = c.health ?? {};
    const rows = [
      ['Model', c.model],
      ['Name', c.name ?? '—'],
      ['Simulated', c.simulated ? 'yes' : 'no'],
      ['Breaker', h.breaker ?? '—', h.breaker === 'closed' ? 'ok' : 'bad'],
      ['Requests', h.requests ?? '—'],
      ['Auth failures', h.authFailures ?? '—'],
      ['Last error', h.lastError ?? 'none'],
    ];
    dl.replaceChildren(...rows.flatMap(([k, v, cls]) => {
      const dt = document.createElement('dt');
      dt.textContent = k;
      const dd = document.createElement('dd');
      dd.textContent = String(v);
      if (cls) dd.className = cls;
      return [dt, dd];
    }));
  } catch (err) {
    dl.replaceChildren(Object.assign(document.createElement('dd'), { className: 'bad', textContent: err.message }));
  }
}

async function refreshActive() {
  const ul = $('active');
  try {
    const { items } = await api(`/cameras/${encodeURIComponent(cameraId)}/events/active`);
    ul.replaceChildren(...(items.length === 0
      ? [Object.assign(document.createElement('li'), { className: 'muted', textContent: 'none' })]
      : items.map((a) => Object.assign(document.createElement('li'), { textContent: `${a.code} channel ${a.channel}` }))));
  } catch (err) {
    ul.replaceChildren(Object.assign(document.createElement('li'), { className: 'bad', textContent: err.message }));
  }
}

function openEvents() {
  const state = $('stream-state');
  state.textContent = 'connecting';
  source = new EventSource(cameraPath('/events/stream'));
  source.onopen = () => { state.textContent = 'live'; state.className = 'ok'; };
  source.onerror = () => { state.textContent = 'reconnecting'; state.className = 'bad'; };
  source.onmessage = (msg) => {
    let e;
    try { e = JSON.parse(msg.data); } catch { return; }
    const li = document.createElement('li');
    li.className = 'event';
    li.dataset.code = e.code;
    li.dataset.action = e.action;
    const time = new Date(e.gatewayTime).toLocaleTimeString();
    li.textContent = `${time} ${e.code} ${e.action} ch${e.channel}${e.synthetic ? ' (resync)' : ''}`;
    const feed = $('feed');
    feed.prepend(li);
    while (feed.children.length > 200) feed.lastElementChild.remove();
    refreshActive();
  };
}
