// 客户: the list, and the 360° view of one customer with follow-ups and plans.
import { get, post } from '../api.js';
import { KINDS, t } from '../i18n.js';
import { emptyRow, fmtMoney, fmtTime, h, itemsOf, showError, toast } from '../ui.js';
import { insightsSection } from './score.js';

export async function customersView() {
  const q = h('input', { type: 'search', placeholder: t('search_ph') });
  const body = h('tbody', { 'data-testid': 'customer-rows' });
  const more = h('button', { hidden: true }, t('more'));
  let cursor = null;
  async function load(reset) {
    if (reset) { cursor = null; body.replaceChildren(); }
    const params = new URLSearchParams({ limit: '50' });
    if (q.value.trim()) params.set('q', q.value.trim());
    if (cursor) params.set('cursor', cursor);
    try {
      const page = await get(`/customers?${params}`);
      body.append(...page.items.map((c) => h('tr', {},
        h('td', {}, h('a', { href: `#/customers/${c.id}` }, c.name)),
        h('td', {}, c.level || ''), h('td', {}, c.status ? t(`cs_${c.status}`) : ''),
        h('td', { class: 'hide-phone' }, c.region || ''), h('td', { class: 'hide-phone' }, c.industry || ''))));
      if (!body.children.length) body.append(emptyRow(5));
      cursor = page.next_cursor;
      more.hidden = !cursor;
    } catch (exc) { showError(exc); }
  }
  more.onclick = () => load(false);
  let timer;
  q.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(() => load(true), 300); });
  await load(true);
  return h('div', { class: 'stack' }, h('h1', {}, t('customers')),
    h('section', { class: 'card' }, q, h('div', { class: 'table-wrap' }, h('table', {},
      h('thead', {}, h('tr', {}, h('th', {}, t('name')), h('th', {}, t('level')), h('th', {}, t('status')),
        h('th', { class: 'hide-phone' }, t('region')), h('th', { class: 'hide-phone' }, t('industry')))), body)), more));
}

/** One line of a section's document, whatever its kind. */
function docLine(doc) {
  const title = doc.number || doc.name || doc.title || doc.subject || doc.id;
  const amount = doc.amount ?? doc.total ?? doc.amount_due ?? null;
  return h('li', {}, h('b', {}, title), ' ',
    doc.stage ? h('span', { class: 'badge' }, doc.stage) : null, ' ',
    doc.status ? h('span', { class: 'badge' }, doc.status) : null, ' ',
    amount !== null ? fmtMoney(amount) : '', ' ',
    h('small', { class: 'muted' }, fmtTime(doc.due_date || doc.created_at)));
}

function section(name, value) {
  if (name === 'insights') return insightsSection(value);   // score, reasons, recommendations
  const head = h('h2', {}, t(name));
  if (!value || value.available === false) {
    return h('section', { class: 'card', 'data-section': name }, head,
      h('p', { class: 'section-error' }, t('unavailable'), value?.error ? ` (${value.error.code})` : ''));
  }
  const data = value.data;
  if (name === 'profile') {
    // the 7P profile: one tile per figure, nested groups flattened as "group · figure"
    const kpis = [];
    for (const [k, v] of Object.entries(data || {})) {
      if (k === 'customer_id' || v === null) continue;
      if (typeof v !== 'object') kpis.push([k, v]);
      else if (!Array.isArray(v)) {
        for (const [k2, v2] of Object.entries(v)) if (v2 !== null && typeof v2 !== 'object') kpis.push([`${k} · ${k2}`, v2]);
      }
    }
    return h('section', { class: 'card', 'data-section': name }, head, h('div', { class: 'kpis' },
      kpis.map(([k, v]) => h('div', { class: 'kpi' }, h('span', { class: 'muted' }, k), h('b', {}, String(v))))));
  }
  const items = itemsOf(data);
  return h('section', { class: 'card', 'data-section': name }, head,
    items.length ? h('ul', { class: 'list' }, items.map(docLine)) : h('p', { class: 'muted' }, t('empty')));
}

function followUpForm(id, reload) {
  const kind = h('select', {}, KINDS.map((k) => h('option', { value: k }, t(`kind_${k}`))));
  const content = h('textarea', { rows: 2, required: true, 'data-testid': 'customer-follow-up' });
  return h('form', {
    class: 'inline-form',
    onsubmit: async (e) => {
      e.preventDefault();
      try {
        await post(`/customers/${id}/follow-ups`, { kind: kind.value, content: content.value.trim() });
        toast(t('saved'));
        reload();
      } catch (exc) { showError(exc); }
    },
  }, h('b', {}, t('add_follow_up')), kind, content, h('button', { class: 'primary', type: 'submit' }, t('save')));
}

function planForm(id, reload) {
  const kind = h('select', {}, KINDS.map((k) => h('option', { value: k, selected: k === 'visit' }, t(`kind_${k}`))));
  const subject = h('input', { required: true, placeholder: t('subject') });
  const when = h('input', { type: 'datetime-local', required: true });
  const notes = h('input', { placeholder: t('notes') });
  return h('form', {
    class: 'inline-form', 'data-testid': 'customer-plan',
    onsubmit: async (e) => {
      e.preventDefault();
      const body = { kind: kind.value, subject: subject.value.trim(), scheduled_at: new Date(when.value).toISOString() };
      if (notes.value.trim()) body.notes = notes.value.trim();
      try { await post(`/customers/${id}/follow-up-plans`, body); toast(t('saved')); reload(); } catch (exc) { showError(exc); }
    },
  }, h('b', {}, t('add_plan')), kind, subject, h('label', {}, t('scheduled_at'), ' ', when), notes,
  h('button', { class: 'primary', type: 'submit' }, t('save')));
}

export async function customerView([id]) {
  const view = await get(`/customers/${id}/overview`);
  const c = view.customer || view;
  const reload = () => window.dispatchEvent(new HashChangeEvent('hashchange'));
  const contacts = view.contacts || [];
  const follow = view.follow_ups || [];
  const plans = view.plans || [];
  const sections = view.sections || {};
  return h('div', { class: 'stack', 'data-testid': 'customer-360' },
    h('div', { class: 'row' }, h('a', { href: '#/customers' }, '← ', t('back')), h('span', { class: 'spacer' })),
    h('h1', {}, c.name, ' ', c.level ? h('span', { class: 'badge' }, c.level) : null, ' ',
      c.status ? h('span', { class: 'badge' }, t(`cs_${c.status}`)) : null),
    h('p', { class: 'muted' }, [c.industry, c.region, c.phone, c.email].filter(Boolean).join(' · ')),
    h('div', { class: 'grid' },
      h('section', { class: 'card' }, h('h2', {}, t('contacts')), contacts.length ? h('ul', { class: 'list' },
        contacts.map((p) => h('li', {}, h('b', {}, p.name), p.is_primary ? ' ★ ' : ' ', p.title || '', ' ',
          h('span', { class: 'muted' }, [p.phone, p.email].filter(Boolean).join(' · ')))))
        : h('p', { class: 'muted' }, t('empty'))),
      h('section', { class: 'card', 'data-testid': 'customer-follow-ups' }, h('h2', {}, t('follow_ups')),
        follow.length ? h('ul', { class: 'list' }, follow.map((f) => h('li', {}, h('span', { class: 'badge' }, t(`kind_${f.kind}`)),
          ' ', f.content, h('br'), h('small', { class: 'muted' }, fmtTime(f.happened_at || f.created_at)))))
          : h('p', { class: 'muted' }, t('empty')), followUpForm(id, reload)),
      h('section', { class: 'card', 'data-testid': 'customer-plans' }, h('h2', {}, t('plans')),
        plans.length ? h('ul', { class: 'list' }, plans.map((p) => h('li', {}, h('b', {}, fmtTime(p.scheduled_at)), ' ',
          p.subject, ' ', h('span', { class: 'badge' }, p.status))))
          : h('p', { class: 'muted' }, t('empty')), planForm(id, reload)),
      Object.entries(sections).map(([name, value]) => section(name, value))));
}
