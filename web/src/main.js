// The console's shell: login, top navigation, hash routes and the live notification stream.
import './style.css';
import { auth, get, login, stream } from './api.js';
import { getLang, setLang, t } from './i18n.js';
import { h, showError } from './ui.js';
import { homeView } from './views/home.js';
import { leadsView } from './views/leads.js';
import { customersView, customerView } from './views/customers.js';
import { boardView } from './views/board.js';
import { dealsView } from './views/deals.js';
import { analyticsView } from './views/analytics.js';

const root = document.getElementById('app');
export const session = { me: null, listeners: new Set(), closeStream: () => {} };

const NAV = [
  ['#/', 'nav_home'], ['#/leads/pool', 'nav_leads'], ['#/customers', 'nav_customers'],
  ['#/board', 'nav_board'], ['#/deals', 'nav_deals'], ['#/analytics', 'nav_analytics'],
];

const ROUTES = [
  [/^#?\/?$/, homeView],
  [/^#\/leads\/(pool|mine)$/, leadsView],
  [/^#\/customers$/, customersView],
  [/^#\/customers\/([\w-]+)$/, customerView],
  [/^#\/board$/, boardView],
  [/^#\/deals$/, dealsView],
  [/^#\/analytics$/, analyticsView],
];

auth.onLogout = () => { session.me = null; session.closeStream(); render(); };
setLang(getLang());

function loginPage() {
  const user = h('input', { name: 'username', autocomplete: 'username', required: true,
    'data-testid': 'login-username' });
  const pass = h('input', { name: 'password', type: 'password', autocomplete: 'current-password',
    required: true, 'data-testid': 'login-password' });
  const message = h('div', { class: 'muted', 'data-testid': 'login-error' });
  const form = h('form', {
    onsubmit: async (e) => {
      e.preventDefault();
      message.textContent = '';
      try {
        await login(user.value.trim(), pass.value);
        await start();
      } catch (exc) {
        message.textContent = exc.status === 401 || exc.status === 400 ? t('login_failed')
          : `${t('error')}: ${exc.message}`;
      }
    },
  }, h('label', {}, t('username'), h('br'), user), h('label', {}, t('password'), h('br'), pass),
  h('button', { class: 'primary', type: 'submit', 'data-testid': 'login-submit' }, t('login')),
  message);
  root.replaceChildren(h('div', { class: 'login card' }, h('h1', {}, t('app')), form,
    h('p', {}, h('a', { href: '#', onclick: (e) => { e.preventDefault(); toggleLang(); } },
      t('lang_switch')))));
}

function toggleLang() {
  setLang(getLang() === 'zh' ? 'en' : 'zh');
  render();
}

function header(hash) {
  const current = hash.startsWith('#/leads') ? '#/leads/pool'
    : hash.startsWith('#/customers') ? '#/customers' : (hash || '#/');
  return h('header', { class: 'top' },
    h('span', { class: 'brand' }, t('app')),
    h('nav', {}, NAV.map(([href, key]) => h('a', {
      href, class: current === href ? 'active' : '', 'data-testid': `nav-${key.slice(4)}`,
    }, t(key)))),
    h('span', { class: 'me' },
      h('span', { 'data-testid': 'me' }, session.me?.display_name || session.me?.username || ''),
      h('button', { onclick: toggleLang, 'data-testid': 'lang' }, t('lang_switch')),
      h('button', { onclick: () => { auth.token = null; auth.onLogout(); } }, t('logout'))));
}

let renderSeq = 0;
export async function render() {
  const seq = ++renderSeq;
  if (!auth.token || !session.me) { loginPage(); return; }
  const hash = location.hash || '#/';
  let view = null;
  let match = null;
  for (const [pattern, fn] of ROUTES) {
    match = hash.match(pattern);
    if (match) { view = fn; break; }
  }
  if (!view) { location.hash = '#/'; return; }
  const main = h('main', { 'data-testid': 'page' }, h('p', { class: 'muted' }, t('loading')));
  document.querySelector('.toast')?.remove();
  root.replaceChildren(header(hash), main);
  session.listeners.clear();
  try {
    const content = await view(match.slice(1), session);
    if (seq === renderSeq) main.replaceChildren(content);
  } catch (exc) {
    if (seq !== renderSeq) return;
    main.replaceChildren(h('div', { class: 'card' }, `${t('error')}: ${exc.message} (${exc.code})`));
    if (exc.status !== 401) showError(exc);
  }
}

async function start() {
  try {
    session.me = await get('/me');
  } catch (exc) {
    auth.token = null;
    session.me = null;
    loginPage();
    return;
  }
  session.closeStream();
  session.closeStream = stream((type, data) => {
    for (const listener of session.listeners) listener(data);
  });
  render();
}

window.addEventListener('hashchange', render);
if (auth.token) start(); else loginPage();
