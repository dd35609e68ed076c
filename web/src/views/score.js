// Explainable scores (可解释评分) and recommendations: shared by the lead and customer pages.
// Labels follow the console's language (zh by default, en when switched), like i18n.js.
import { getLang } from '../i18n.js';
import { h } from '../ui.js';

const words = {
  zh: {
    lead_score: '转化评分', repurchase: '复购评分', insights: '评分与推荐', recommendations: '推荐商品',
    no_score: '暂无评分（模型尚未拟合）', no_recs: '暂无推荐', reasons: '影响因素', model: '模型版本',
    scored_at: '计算于', window: '{d} 天内', auc: '留出 AUC', raised: '提高', lowered: '降低',
    unavailable: '暂不可用', sort_new: '最新创建', sort_score: '按转化评分', score: '评分',
  },
  en: {
    lead_score: 'Conversion score', repurchase: 'Repurchase score', insights: 'Score & recommendations',
    recommendations: 'Recommended products', no_score: 'No score yet (no model fitted)',
    no_recs: 'No recommendations', reasons: 'Factors', model: 'model version', scored_at: 'computed',
    window: 'within {d} days', auc: 'held-out AUC', raised: 'raised', lowered: 'lowered',
    unavailable: 'unavailable', sort_new: 'Newest', sort_score: 'By conversion score', score: 'Score',
  },
};

export function w(key, vars) {
  let text = (words[getLang()] || words.zh)[key] ?? words.zh[key] ?? key;
  if (vars) for (const [k, v] of Object.entries(vars)) text = text.replace(`{${k}}`, v);
  return text;
}

const en = () => getLang() === 'en';

/** The 0–100 score as a coloured badge (green ≥ 60, amber ≥ 30, grey below). */
export function scoreBadge(score, testid) {
  if (score === null || score === undefined) return h('span', { class: 'badge muted', 'data-testid': testid }, '—');
  const tone = score >= 60 ? '#dcfce7' : score >= 30 ? '#fef3c7' : '#f1f5f9';
  return h('span', { class: 'badge', style: `background:${tone}`, 'data-testid': testid }, String(score));
}

/** The factors that raised (▲) or lowered (▼) a score, largest first. */
export function reasonsList(reasons) {
  if (!reasons || !reasons.length) return null;
  return h('ul', { class: 'list', 'data-testid': 'score-reasons' }, reasons.map((r) => h('li', {},
    h('b', { style: `color:${r.contribution > 0 ? '#15803d' : '#b91c1c'}` }, r.contribution > 0 ? '▲ ' : '▼ '),
    en() ? r.label_en : r.label_zh, ' ',
    h('small', { class: 'muted' }, `${w(r.contribution > 0 ? 'raised' : 'lowered')} ${Math.abs(r.contribution).toFixed(2)}`))));
}

/** A lead row's score: a button that shows (and hides) its reasons below the row. */
export function leadScoreCell(lead, tr, cols) {
  if (lead.score === null || lead.score === undefined) return scoreBadge(null, 'lead-score');
  let open = null;
  return h('button', {
    class: 'link', 'data-testid': 'lead-score', title: w('reasons'),
    style: 'background:none;border:0;padding:0;cursor:pointer',
    onclick: () => {
      if (open) { open.remove(); open = null; return; }
      open = h('tr', { 'data-testid': 'lead-score-reasons' }, h('td', { colspan: cols },
        h('b', {}, w('lead_score'), ' ', String(lead.score)), ' ',
        h('small', { class: 'muted' }, `${w('model')} ${lead.score_model_version ?? ''}`),
        reasonsList(lead.score_reasons) || h('p', { class: 'muted' }, '—')));
      tr.after(open);
    },
  }, scoreBadge(lead.score));
}

/** The 360° view's `insights` section: repurchase score with its reasons, recommendations. */
export function insightsSection(value) {
  const head = h('h2', {}, w('insights'));
  if (!value || value.available === false) {
    return h('section', { class: 'card', 'data-section': 'insights' }, head,
      h('p', { class: 'section-error' }, w('unavailable'), value?.error ? ` (${value.error.code})` : ''));
  }
  const data = value.data || {};
  const rep = data.repurchase;
  const recs = data.recommendations || [];
  return h('section', { class: 'card', 'data-section': 'insights', 'data-testid': 'customer-insights' }, head,
    h('h3', {}, w('repurchase'), ' ', scoreBadge(rep ? rep.score : null, 'repurchase-score')),
    rep ? [h('p', { class: 'muted' }, rep.window_days ? w('window', { d: rep.window_days }) : '',
      rep.auc !== null && rep.auc !== undefined ? ` · ${w('auc')} ${rep.auc}` : '',
      ` · ${w('model')} ${rep.model_version}`), reasonsList(rep.reasons)]
      : h('p', { class: 'muted' }, w('no_score')),
    h('h3', {}, w('recommendations')),
    recs.length ? h('ul', { class: 'list', 'data-testid': 'recommendations' }, recs.map((r) => h('li', {},
      h('b', {}, r.name), ' ', h('span', { class: 'badge' }, `${r.percent}%`), h('br'),
      h('small', { class: 'muted' }, en() ? r.reason_en : r.reason_zh))))
      : h('p', { class: 'muted' }, w('no_recs')));
}
