// 首页: today's calendar, reminders, the live activity feed and the briefing.
import { get, optional, post } from '../api.js';
import { t } from '../i18n.js';
import { fmtTime, h, itemsOf, showError, todayShanghai } from '../ui.js';
import { briefingTiles } from './analytics.js';

export async function homeView(_params, session) {
  const today = todayShanghai();
  const [calendar, notes, activity, briefing] = await Promise.all([
    optional(`/calendar?start=${today}&end=${today}`).catch(() => null),
    get('/notifications?limit=20').catch(() => null),
    optional('/analytics/activity?limit=20').catch(() => null),
    optional('/analytics/briefing').catch(() => null),
  ]);

  const panels = [];
  if (calendar) {
    const plans = (calendar.days || []).flatMap((d) => d.plans || []);
    panels.push(h('section', { class: 'card', 'data-testid': 'calendar' }, h('h2', {}, t('calendar')),
      plans.length ? h('ul', { class: 'list' }, plans.map((p) => h('li', {},
        h('b', {}, fmtTime(p.scheduled_at)), ' ', h('span', { class: 'badge' }, t(`kind_${p.kind}`)), ' ',
        p.subject, ' · ', h('a', { href: `#/customers/${p.customer_id}` }, p.customer_name || t('customer')))))
        : h('p', { class: 'muted' }, t('no_plans'))));
  }

  const noteList = h('ul', { class: 'list', 'data-testid': 'notification-list' });
  const noteItem = (n) => h('li', { class: n.read_at ? 'muted' : '' },
    h('b', {}, n.title), h('div', {}, n.body), h('small', { class: 'muted' }, fmtTime(n.created_at), ' '),
    n.read_at ? null : h('button', {
      onclick: async (e) => {
        try { await post(`/notifications/${n.id}/read`); e.target.closest('li').classList.add('muted'); e.target.remove(); } catch (exc) { showError(exc); }
      },
    }, '✓'));
  const noteItems = itemsOf(notes);
  noteList.append(...(noteItems.length ? noteItems.map(noteItem) : [h('li', { class: 'muted' }, t('no_notifications'))]));
  if (notes) panels.push(h('section', { class: 'card' }, h('h2', {}, t('notifications')), noteList));

  const feed = h('ul', { class: 'list', 'data-testid': 'activity-feed' });
  const feedItem = (a) => h('li', {}, h('span', { class: 'badge' }, a.type), ' ',
    a.summary || a.title || a.body || '', h('br'), h('small', { class: 'muted' }, fmtTime(a.occurred_at || a.created_at)));
  const acts = itemsOf(activity);
  feed.append(...(acts.length ? acts.map(feedItem) : [h('li', { class: 'muted empty' }, t('no_activity'))]));
  panels.push(h('section', { class: 'card' },
    h('h2', { class: 'row' }, t('activity'), h('span', { class: 'badge', title: 'SSE' }, '● ', t('live'))), feed));

  // The notification stream feeds both the reminders and the activity feed live.
  session.listeners.add((n) => {
    if (!n || !n.id) return;
    noteList.querySelector('.muted:only-child')?.remove();
    noteList.prepend(noteItem(n));
    feed.querySelector('.empty')?.remove();
    feed.prepend(feedItem({ type: n.type, summary: `${n.title} — ${n.body}`, occurred_at: n.created_at }));
  });

  if (briefing) {
    panels.push(h('section', { class: 'card', 'data-testid': 'briefing' }, h('h2', {}, t('briefing')),
      briefingTiles(briefing)));
  }
  return h('div', {}, h('h1', {}, t('nav_home')), h('div', { class: 'grid' }, panels));
}
