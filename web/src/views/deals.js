// 报价与合同: quotes, contracts and the approval inbox (待我审批) for approvers.
import { get, optional, post } from '../api.js';
import { t } from '../i18n.js';
import { emptyRow, fmtMoney, fmtTime, h, itemsOf, showError, toast } from '../ui.js';

function table(head, rows, testid) {
  return h('div', { class: 'table-wrap' }, h('table', { 'data-testid': testid },
    h('thead', {}, h('tr', {}, head.map(([key, cls]) => h('th', { class: cls }, t(key))))),
    h('tbody', {}, rows.length ? rows : emptyRow(head.length))));
}

export async function dealsView(_params, session) {
  const [quotes, contracts, pending] = await Promise.all([
    optional('/quotes?limit=50').catch(() => null),
    optional('/contracts?limit=50').catch(() => null),
    optional('/contracts?status=pending_approval&limit=50').catch(() => null),
  ]);
  const me = session.me?.id;
  // the current step is the first one without a decision (of the latest round)
  const current = (c) => {
    const steps = c.approval_steps || [];
    const round = Math.max(0, ...steps.map((s) => s.round || 0));
    return steps.filter((s) => (s.round || 0) === round).find((s) => !s.decision);
  };
  // the list leaves the approval steps out: read each pending contract (at most 50)
  const detailed = await Promise.all(itemsOf(pending).slice(0, 50).map((c) => (c.approval_steps
    ? c : get(`/contracts/${c.id}`).catch(() => c))));
  const waiting = detailed.filter((c) => current(c)?.approver_id === me);

  const inbox = h('section', { class: 'card', 'data-testid': 'approval-inbox' }, h('h2', {}, t('approvals')),
    waiting.length ? h('ul', { class: 'list' }, waiting.map((c) => {
      const comment = h('input', { placeholder: t('comment') });
      const decide = (verb) => async (e) => {
        const body = comment.value.trim() ? { comment: comment.value.trim() } : (verb === 'reject' ? null : {});
        if (!body) { comment.focus(); toast(t('comment'), 'error'); return; }
        try {
          await post(`/contracts/${c.id}/${verb}`, body);
          toast(`${c.number}: ${t(verb)}`);
          e.target.closest('li').remove();
        } catch (exc) { showError(exc); }
      };
      return h('li', { dataset: { contractId: c.id } }, h('b', {}, c.number), ' ', c.title || '', ' ', fmtMoney(c.total), h('br'),
        h('div', { class: 'row' }, comment, h('button', { class: 'primary', onclick: decide('approve') }, t('approve')),
          h('button', { class: 'danger', onclick: decide('reject') }, t('reject'))));
    })) : h('p', { class: 'muted' }, t('no_approvals')));

  const parts = [h('h1', {}, t('nav_deals')), pending ? inbox : null];
  if (quotes) {
    parts.push(h('section', { class: 'card' }, h('h2', {}, t('quotes')), table(
      [['number'], ['customer', 'hide-phone'], ['status'], ['total'], ['due', 'hide-phone']],
      itemsOf(quotes).map((q) => h('tr', {}, h('td', {}, q.number || q.id.slice(-8)),
        h('td', { class: 'hide-phone' }, h('a', { href: `#/customers/${q.customer_id}` }, t('open_customer'))),
        h('td', {}, h('span', { class: 'badge' }, q.status)), h('td', {}, fmtMoney(q.total)),
        h('td', { class: 'hide-phone' }, q.valid_until || ''))), 'quotes')));
  }
  if (contracts) {
    parts.push(h('section', { class: 'card' }, h('h2', {}, t('contracts')), table(
      [['number'], ['title', 'hide-phone'], ['status'], ['total'], ['due', 'hide-phone']],
      itemsOf(contracts).map((c) => h('tr', {}, h('td', {}, h('a', { href: `#/customers/${c.customer_id}` }, c.number)),
        h('td', { class: 'hide-phone' }, c.title || ''), h('td', {}, h('span', { class: 'badge' }, c.status)),
        h('td', {}, fmtMoney(c.total)), h('td', { class: 'hide-phone' }, fmtTime(c.submitted_at || c.created_at)))),
      'contracts')));
  }
  return h('div', { class: 'stack' }, parts);
}
