// 公海池 / 我的线索: list, search, claim, release, follow up, convert, import a CSV.
import { get, optional, post, upload } from '../api.js';
import { KINDS, t } from '../i18n.js';
import { emptyRow, fmtTime, h, itemsOf, showError, toast } from '../ui.js';
import { leadScoreCell, w } from './score.js';

function claimError(exc) {
  if (exc.code === 'lead_already_claimed') {
    const who = exc.details && (exc.details.owner_name || exc.details.owner_id);
    return who ? t('lost_race_who', { who }) : t('lost_race');
  }
  return `${t('error')}: ${exc.message} (${exc.code})`;
}

function followUpForm(lead, done) {
  const kind = h('select', { name: 'kind' }, KINDS.map((k) => h('option', { value: k }, t(`kind_${k}`))));
  const content = h('textarea', { name: 'content', rows: 2, required: true, 'data-testid': 'follow-up-content' });
  const next = h('input', { type: 'datetime-local', name: 'next' });
  return h('form', {
    class: 'inline-form',
    onsubmit: async (e) => {
      e.preventDefault();
      const body = { kind: kind.value, content: content.value.trim() };
      if (next.value) body.next_follow_up_at = new Date(next.value).toISOString();
      try { await post(`/leads/${lead.id}/follow-ups`, body); toast(t('saved')); done(true); } catch (exc) { showError(exc); }
    },
  }, h('label', {}, t('kind'), ' ', kind), content, h('label', {}, t('next_at'), ' ', next),
  h('div', { class: 'row' }, h('button', { class: 'primary', type: 'submit' }, t('save')),
    h('button', { type: 'button', onclick: () => done(false) }, t('cancel'))));
}

function importPanel(reload) {
  const file = h('input', { type: 'file', accept: '.csv,text/csv', 'data-testid': 'import-file' });
  const pool = h('input', { value: 'default', size: 10, pattern: '[A-Za-z0-9_-]{1,64}' });
  const bar = h('div');
  const state = h('span', { class: 'muted', 'data-testid': 'import-state' });
  const report = h('div', { 'data-testid': 'import-report' });
  const button = h('button', {
    class: 'primary',
    onclick: async () => {
      if (!file.files.length) return;
      const form = new FormData();
      form.append('file', file.files[0]);
      form.append('pool', pool.value || 'default');
      button.disabled = true;
      report.replaceChildren();
      try {
        const result = await upload('/leads/import', form, (share) => {
          bar.style.width = `${Math.round(share * 100)}%`;
          state.textContent = share < 1 ? `${t('uploading')} ${Math.round(share * 100)}%` : t('processing');
        });
        bar.style.width = '100%';
        state.textContent = `${t('created')} ${result.created} · ${t('duplicates')} ${result.duplicates} · ${t('rejected')} ${result.rejected}`;
        const rows = result.rows || [];
        if (rows.length) {
          report.append(h('div', { class: 'table-wrap' }, h('table', {},
            h('tr', {}, h('th', {}, t('row')), h('th', {}, t('status')), h('th', {}, t('reason'))),
            rows.map((r) => h('tr', {}, h('td', {}, r.row ?? r.line ?? ''), h('td', {}, r.status || r.result || ''),
              h('td', {}, r.reason || r.message || r.code || (r.errors ? JSON.stringify(r.errors) : '')))))));
        }
        reload();
      } catch (exc) {
        state.textContent = '';
        showError(exc);
      } finally {
        button.disabled = false;
      }
    },
  }, t('upload'));
  return h('section', { class: 'card' }, h('h2', {}, t('import_csv')),
    h('div', { class: 'row' }, file, h('label', {}, t('import_pool'), ' ', pool), button),
    h('div', { class: 'progress', style: 'margin-top:8px' }, bar), state, report);
}

export async function leadsView([tab]) {
  const scope = tab === 'mine' ? 'mine' : 'pool';
  const q = h('input', { type: 'search', placeholder: t('search_ph'), 'data-testid': 'lead-search' });
  const body = h('tbody', { 'data-testid': 'lead-rows' });
  const more = h('button', { hidden: true }, t('more'));
  let cursor = null;
  // the pools you work (公海): hidden when the route is missing or there is only one
  const pools = itemsOf(await optional('/lead-pools').catch(() => null));
  const poolPick = h('select', { 'data-testid': 'pool-select', hidden: pools.length < 2 },
    h('option', { value: '' }, t('all_pools')),
    pools.map((p) => h('option', { value: p.name }, p.title || p.name)));
  poolPick.onchange = () => load(true);
  const sortPick = h('select', { 'data-testid': 'lead-sort' },
    h('option', { value: '' }, w('sort_new')), h('option', { value: 'score' }, w('sort_score')));
  sortPick.onchange = () => load(true);

  function actions(lead, tr) {
    const cell = h('div', { class: 'row' });
    const act = (label, fn, cls) => h('button', { class: cls, 'data-action': label, onclick: fn }, t(label));
    if (!lead.owner_id && scope === 'pool') {
      cell.append(act('claim', async (e) => {
        e.target.disabled = true;
        try {
          await post(`/leads/${lead.id}/claim`);
          toast(t('claimed'));
          tr.remove();
        } catch (exc) {
          toast(claimError(exc), 'error');
          e.target.disabled = false;
        }
      }, 'primary'));
    }
    if (lead.owner_id && lead.status !== 'converted' && lead.status !== 'invalid') {
      cell.append(act('follow_up', () => {
        const holder = h('tr', {}, h('td', { colspan: 7 }));
        const close = (saved) => { holder.remove(); if (saved) load(true); };
        holder.firstChild.append(followUpForm(lead, close));
        tr.after(holder);
      }));
      cell.append(act('convert', async (e) => {
        e.target.disabled = true;
        try {
          await post(`/leads/${lead.id}/convert`);
          toast(t('converted'));
          load(true);
        } catch (exc) { showError(exc); e.target.disabled = false; }
      }, 'primary'));
      cell.append(act('release', async () => {
        const reason = window.prompt(t('release_reason'));
        if (!reason) return;
        try { await post(`/leads/${lead.id}/release`, { reason }); toast(t('released')); tr.remove(); } catch (exc) { showError(exc); }
      }, 'danger'));
    }
    if (lead.customer_id) cell.append(h('a', { href: `#/customers/${lead.customer_id}` }, t('open_customer')));
    return cell;
  }

  function row(lead) {
    const tr = h('tr', { dataset: { leadId: lead.id } });
    tr.append(h('td', {}, h('b', {}, lead.name), h('div', { class: 'muted' }, lead.company || '')),
      h('td', { class: 'hide-phone' }, lead.phone || ''),
      h('td', { class: 'hide-phone' }, lead.source || ''),
      h('td', {}, h('span', { class: 'badge' }, t(`st_${lead.status}`))),
      h('td', {}, leadScoreCell(lead, tr, 7)),
      h('td', { class: 'hide-phone' }, fmtTime(lead.due_at)),
      h('td', {}, actions(lead, tr)));
    return tr;
  }

  async function load(reset) {
    if (reset) { cursor = null; body.replaceChildren(); }
    const params = new URLSearchParams({ scope, limit: '50' });
    if (q.value.trim()) params.set('q', q.value.trim());
    if (poolPick.value) params.set('pool', poolPick.value);
    if (sortPick.value) params.set('sort', sortPick.value);
    if (cursor) params.set('cursor', cursor);
    try {
      const page = await get(`/leads?${params}`);
      body.append(...page.items.map(row));
      if (!body.children.length) body.append(emptyRow(7));
      cursor = page.next_cursor;
      more.hidden = !cursor;
    } catch (exc) { showError(exc); }
  }
  more.onclick = () => load(false);
  let timer;
  q.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(() => load(true), 300); });
  await load(true);

  const tabs = h('div', { class: 'tabs' },
    h('a', { href: '#/leads/pool', class: scope === 'pool' ? 'active' : '', 'data-testid': 'tab-pool' }, t('pool')),
    h('a', { href: '#/leads/mine', class: scope === 'mine' ? 'active' : '', 'data-testid': 'tab-mine' }, t('mine')));
  return h('div', { class: 'stack' }, h('h1', {}, t('nav_leads')), tabs,
    h('section', { class: 'card' }, h('div', { class: 'row' }, q, poolPick, sortPick, h('button', { onclick: () => load(true) }, t('search'))),
      h('div', { class: 'table-wrap' }, h('table', {},
        h('thead', {}, h('tr', {}, h('th', {}, t('name')), h('th', { class: 'hide-phone' }, t('phone')),
          h('th', { class: 'hide-phone' }, t('source')), h('th', {}, t('status')), h('th', {}, w('score')), h('th', { class: 'hide-phone' }, t('due')),
          h('th', {}, t('actions')))), body)), more),
    scope === 'pool' ? importPanel(() => load(true)) : null);
}
