// Tiny DOM helpers: h() builds elements, toast() tells the user what happened.
import { t, getLang } from './i18n.js';

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'class') el.className = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key in el && typeof value !== 'string') el[key] = value;
    else el.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

let toastTimer;
export function toast(message, kind = 'ok') {
  document.querySelector('.toast')?.remove();
  const el = h('div', { class: `toast ${kind === 'error' ? 'error' : ''}`, role: 'status',
    'data-testid': 'toast' }, message);
  document.body.append(el);
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => el.remove(), 6000);
}

export function showError(exc) {
  toast(`${t('error')}: ${exc.message || exc}${exc.code ? ` (${exc.code})` : ''}`, 'error');
}

export function fmtTime(value) {
  if (!value) return '';
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return String(value);
  return d.toLocaleString(getLang() === 'en' ? 'en-GB' : 'zh-CN',
    { timeZone: 'Asia/Shanghai', dateStyle: 'short', timeStyle: 'short' });
}

export function fmtMoney(value) {
  if (value === null || value === undefined || value === '') return '';
  const [int, frac = '00'] = String(value).split('.');
  return `¥${int.replace(/\B(?=(\d{3})+(?!\d))/g, ',')}.${frac.padEnd(2, '0').slice(0, 2)}`;
}

export function pct(value) {
  if (value === null || value === undefined) return '—';
  return `${(Number(value) * 100).toFixed(1)}%`;
}

/** Today's date (YYYY-MM-DD) in the business time zone. */
export function todayShanghai() {
  return new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai' }).format(new Date());
}

export function emptyRow(cols) {
  return h('tr', {}, h('td', { colspan: cols, class: 'muted' }, t('empty')));
}

export const itemsOf = (data) => (Array.isArray(data) ? data : (data && data.items) || []);
