// 分析: the funnel chart (销售漏斗图), briefing, rankings, customer pyramid and forecast.
// ECharts comes from npm and is bundled (tree-shaken core + the charts used here).
import * as echarts from 'echarts/core';
import { BarChart, FunnelChart, PieChart } from 'echarts/charts';
import { GridComponent, LegendComponent, TitleComponent, TooltipComponent } from 'echarts/components';
import { CanvasRenderer } from 'echarts/renderers';
import { get, optional } from '../api.js';
import { t } from '../i18n.js';
import { fmtMoney, h, itemsOf, pct, showError } from '../ui.js';

echarts.use([BarChart, FunnelChart, PieChart, GridComponent, LegendComponent, TitleComponent,
  TooltipComponent, CanvasRenderer]);

const charts = new Set();
window.addEventListener('resize', () => charts.forEach((c) => c.resize()));

function chart(el, option) {
  charts.forEach((c) => { if (!c.getDom().isConnected) { c.dispose(); charts.delete(c); } });
  // Charts are drawn once the element is in the page (it needs a size).
  requestAnimationFrame(() => {
    const instance = echarts.init(el, null, { renderer: 'canvas' });
    instance.setOption({ animation: false, ...option });
    charts.add(instance);
    el.dataset.ready = 'true';
  });
  return el;
}

/** The briefing's figures, whatever period and scope: a KPI tile per figure. */
export function briefingTiles(data) {
  if (!data) return null;
  const figures = Array.isArray(data.figures) ? data.figures
    : Array.isArray(data.items) ? data.items
      : Object.entries(data).filter(([, v]) => v !== null && typeof v !== 'object')
        .map(([metric, value]) => ({ metric, value }));
  return h('div', { class: 'kpis' }, figures.map((f) => {
    const rate = f.change_rate;
    const up = rate !== null && rate !== undefined && Number(rate) >= 0;
    return h('div', { class: 'kpi', dataset: { metric: f.metric || '' } },
      h('span', { class: 'muted' }, f.label || f.metric), h('b', {}, f.measure === 'amount' ? fmtMoney(f.value) : String(f.value ?? '')),
      rate !== null && rate !== undefined
        ? h('small', { style: `color:${up ? 'var(--ok)' : 'var(--bad)'}` }, `${up ? '▲' : '▼'} ${pct(Math.abs(Number(rate)))}`)
        : null);
  }));
}

function funnelPanel(funnel) {
  const stages = funnel.stages || [];
  const overall = funnel.overall || {};
  const el = h('div', { class: 'chart', 'data-testid': 'funnel-chart' });
  chart(el, {
    tooltip: { trigger: 'item', formatter: (p) => `${p.name}: ${p.value}<br>${fmtMoney(p.data.amount)}` },
    series: [{
      type: 'funnel', left: '5%', width: '90%', sort: 'none', minSize: '10%', gap: 2,
      label: { position: 'inside', color: '#fff', formatter: (p) => `${p.name} ${p.value}` },
      data: stages.map((s) => ({ name: s.stage, value: s.count || 0, amount: s.amount })),
    }],
  });
  const kpi = (key, value, id) => h('div', { class: 'kpi' }, h('span', { class: 'muted' }, t(key)),
    h('b', { 'data-testid': id }, value ?? 0));
  return h('section', { class: 'card', 'data-testid': 'funnel' }, h('h2', {}, t('funnel')),
    h('div', { class: 'kpis' }, kpi('leads', overall.leads, 'funnel-leads'),
      kpi('customers', overall.customers, 'funnel-customers'),
      kpi('opportunities', overall.opportunities, 'funnel-opportunities'), kpi('won', overall.won, 'funnel-won'),
      kpi('lead_to_customer', pct(overall.lead_to_customer)),
      kpi('customer_to_opportunity', pct(overall.customer_to_opportunity)),
      kpi('opportunity_to_won', pct(overall.opportunity_to_won))),
    el,
    h('div', { class: 'table-wrap' }, h('table', {}, h('tr', {}, h('th', {}, t('stage')), h('th', {}, t('count')),
      h('th', {}, t('amount')), h('th', {}, t('conversion'))),
    stages.map((s) => h('tr', {}, h('td', {}, s.stage), h('td', {}, s.count), h('td', {}, fmtMoney(s.amount)),
      h('td', {}, pct(s.conversion_rate)))))));
}

function barPanel(title, testid, labels, values, money) {
  if (!labels.length) {
    if (!title) return h('p', { class: 'muted' }, t('empty'));
    return h('section', { class: 'card', 'data-testid': testid }, title ? h('h2', {}, title) : null,
      h('p', { class: 'muted' }, t('empty')));
  }
  const el = h('div', { class: 'chart', 'data-testid': `${testid}-chart` });
  chart(el, {
    tooltip: { trigger: 'axis' },
    grid: { left: 60, right: 16, top: 16, bottom: 40, containLabel: true },
    xAxis: { type: 'category', data: labels, axisLabel: { interval: 0, rotate: labels.length > 6 ? 30 : 0 } },
    yAxis: { type: 'value', axisLabel: { formatter: (v) => (money ? `¥${v}` : v) } },
    series: [{ type: 'bar', data: values, itemStyle: { color: '#1f6feb' } }],
  });
  if (!title) return el;
  return h('section', { class: 'card', 'data-testid': testid }, h('h2', {}, title), el);
}

const numberOf = (v) => (v === null || v === undefined || v === '' ? 0 : Number(v));

const METRICS = ['contract_amount', 'payments', 'follow_ups', 'new_customers'];

function rankingsPanel(data, session) {
  const holder = h('div');
  const metric = h('select', { 'data-testid': 'ranking-metric' },
    METRICS.map((m) => h('option', { value: m, selected: m === data.metric }, t(`metric_${m}`))));
  function draw(result) {
    const items = itemsOf(result);
    const who = (r) => (r.owner_id === session.me?.id ? (session.me.display_name || session.me.username)
      : r.owner_name || (r.owner_id || '').slice(-6));
    if (!items.length) { holder.replaceChildren(h('p', { class: 'muted' }, t('empty'))); return; }
    holder.replaceChildren(barPanel(null, 'rankings', items.map(who), items.map((r) => numberOf(r.value)),
      result.measure === 'amount'));
  }
  metric.onchange = async () => {
    try { draw(await get(`/analytics/rankings?metric=${metric.value}`)); } catch (exc) { showError(exc); }
  };
  draw(data);
  return h('section', { class: 'card', 'data-testid': 'rankings' },
    h('div', { class: 'row' }, h('h2', {}, t('rankings')), h('span', { class: 'spacer' }), metric), holder);
}

function forecastPanel(data) {
  const items = itemsOf(data.months || data.items || data);
  return barPanel(t('forecast'), 'forecast', items.map((m) => m.month || m.period || m.label || t('no_date')),
    items.map((m) => numberOf(m.weighted_amount ?? m.weighted ?? m.amount)), true);
}

function pyramidPanel(data) {
  let tiers = data.pyramid ?? data.tiers ?? null;
  if (!tiers) return null;
  if (!Array.isArray(tiers)) {
    // either {tier: count} or {customer_id: tier}: count customers per tier either way
    const values = Object.values(tiers);
    const counts = {};
    if (values.every((v) => typeof v === 'number')) Object.assign(counts, tiers);
    else values.forEach((tier) => { counts[tier] = (counts[tier] || 0) + 1; });
    tiers = Object.entries(counts).map(([tier, count]) => ({ tier, count }));
  }
  // top tier on top: a horizontal bar per tier, centred like a pyramid
  const rows = tiers.map((tier) => ({ name: String(tier.tier ?? tier.name),
    value: numberOf(tier.count ?? tier.customers ?? tier.value) })).reverse();
  const widest = Math.max(1, ...rows.map((r) => r.value));
  const el = h('div', { class: 'chart', 'data-testid': 'pyramid-chart' });
  chart(el, {
    tooltip: { trigger: 'item', formatter: (p) => (p.seriesIndex === 1 ? `${p.name}: ${p.value}` : '') },
    grid: { left: 70, right: 16, top: 8, bottom: 8 },
    xAxis: { type: 'value', show: false, max: widest },
    yAxis: { type: 'category', data: rows.map((r) => r.name), axisTick: { show: false } },
    series: [
      { type: 'bar', stack: 'p', silent: true, itemStyle: { color: 'transparent' },
        data: rows.map((r) => (widest - r.value) / 2) },
      { type: 'bar', stack: 'p', barCategoryGap: '15%', itemStyle: { color: '#1f6feb' },
        label: { show: true, position: 'insideLeft', formatter: (p) => String(p.value), color: '#111' },
        data: rows.map((r) => r.value) },
    ],
  });
  return h('section', { class: 'card', 'data-testid': 'pyramid' }, h('h2', {}, t('pyramid')), el);
}

function briefingPanel(data) {
  const tiles = h('div', {}, briefingTiles(data));
  const range = h('span', { class: 'muted' }, data.start ? `${data.start} ~ ${data.end}` : '');
  const period = h('select', { 'data-testid': 'briefing-period' },
    ['day', 'week', 'month'].map((p) => h('option', { value: p, selected: p === (data.period || 'day') }, t(`period_${p}`))));
  period.onchange = async () => {
    try {
      const next = await get(`/analytics/briefing?period=${period.value}`);
      tiles.replaceChildren(briefingTiles(next));
      range.textContent = next.start ? `${next.start} ~ ${next.end}` : '';
    } catch (exc) { showError(exc); }
  };
  return h('section', { class: 'card', 'data-testid': 'briefing' },
    h('div', { class: 'row' }, h('h2', {}, t('briefing')), range, h('span', { class: 'spacer' }), period), tiles);
}

export async function analyticsView(_params, session) {
  const [funnel, briefing, rankings, forecast, value] = await Promise.all([
    get('/analytics/funnel'),
    optional('/analytics/briefing').catch(() => null),
    optional('/analytics/rankings').catch(() => null),
    optional('/analytics/forecast').catch(() => null),
    optional('/analytics/customer-value').catch(() => null),
  ]);
  const refresh = h('button', {
    'data-testid': 'analytics-refresh',
    onclick: () => window.dispatchEvent(new HashChangeEvent('hashchange')),
  }, t('refresh'));
  return h('div', { class: 'stack' }, h('div', { class: 'row' }, h('h1', {}, t('nav_analytics')),
    h('span', { class: 'spacer' }), refresh),
  funnelPanel(funnel),
  briefing ? briefingPanel(briefing) : null,
  h('div', { class: 'grid' }, rankings ? rankingsPanel(rankings, session) : null, forecast ? forecastPanel(forecast) : null,
    value ? pyramidPanel(value) : null));
}
