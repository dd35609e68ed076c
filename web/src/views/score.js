// Explainable scores (可解释评分) and recommendations: shared by the lead and customer pages.
// Labels follow the console's language (zh by default, en when switched), like i18n.js.
import { getLang } from '../i18n.js';
import { fmtTime, h } from '../ui.js';

const words = {
  zh: {
    lead_score: '转化评分', repurchase: '复购评分', insights: '评分与推荐', recommendations: '推荐商品',
    no_score: '暂无评分（模型尚未拟合）', no_recs: '暂无推荐', reasons: '影响因素', model: '模型版本',
    scored_at: '计算于', window: '{d} 天内', auc: '留出 AUC', raised: '提高', lowered: '降低',
    unavailable: '暂不可用',
  },
  en: {
    lead_score: 'Conversion score', repurchase: 'Repurchase score', insights: 'Score & recommendations',
    recommendations: 'Recommended products', no_score: 'No score yet (no model fitted)',
    no_recs: 'No recommendations', reasons: 'Factors', model: 'model version', scored_at: 'computed',
    window: 'within {d} days', auc: 'held-out AUC', raised: 'raised', lowered: 'lowered',
    unavailable: 'unavailable',
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

/** The lead page's score card: `lead.score`, `score_reasons`, `score_model_version`. */
export function leadScoreCard(lead) {
  return h('section', { class: 'card', 'data-testid': 'lead-score' },
    h('h2', {}, w('lead_score'), ' ', scoreBadge(lead.score, 'lead-score-value')),
    lead.score === null || lead.score === undefined ? h('p', { class: 'muted' }, w('no_score'))
      : [h('p', { class: 'muted' }, `${w('model')} ${lead.score_model_version ?? ''}`,
        lead.scored_at ? ` · ${w('scored_at')} ${fmtTime(lead.scored_at)}` : ''),
      reasonsList(lead.score_reasons)]);
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
