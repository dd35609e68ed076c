// 商机看板: one column per stage of the pipeline; drag a card (or pick a stage) to move it.
import { get, post } from '../api.js';
import { t } from '../i18n.js';
import { fmtMoney, h, itemsOf, showError, toast } from '../ui.js';

async function allOpportunities() {
  const items = [];
  let cursor = null;
  for (let page = 0; page < 10; page += 1) {   // at most 2 000 cards on one board
    const params = new URLSearchParams({ limit: '200' });
    if (cursor) params.set('cursor', cursor);
    const data = await get(`/opportunities?${params}`);
    items.push(...data.items);
    cursor = data.next_cursor;
    if (!cursor) break;
  }
  return items;
}

export async function boardView() {
  const [pipelines, opportunities] = await Promise.all([get('/pipelines'), allOpportunities()]);
  const list = itemsOf(pipelines);
  const chooser = h('select', { 'data-testid': 'pipeline' },
    list.map((p) => h('option', { value: p.id, selected: p.is_default }, p.name)));
  const board = h('div', { class: 'board', 'data-testid': 'board' });

  async function move(opp, stage) {
    if (opp.stage === stage) return;
    const body = { stage };
    const target = currentPipeline().stages.find((s) => s.name === stage);
    if (target && (target.kind === 'lost' || (target.kind == null && Number(target.probability) === 0))) {
      const reason = window.prompt(t('reason'));
      if (!reason) { draw(); return; }
      body.lost_reason = reason;
    }
    try {
      const updated = await post(`/opportunities/${opp.id}/stage`, body);
      Object.assign(opp, updated);
      toast(`${t('stage_changed')}: ${opp.name} → ${opp.stage}`);
    } catch (exc) { showError(exc); }
    draw();
  }

  function currentPipeline() {
    return list.find((p) => p.id === chooser.value) || list[0] || { stages: [] };
  }

  function card(opp, stages) {
    const picker = h('select', {
      'aria-label': t('move_to'), 'data-testid': 'stage-select',
      onchange: (e) => move(opp, e.target.value),
    }, stages.map((s) => h('option', { value: s.name, selected: s.name === opp.stage }, s.name)));
    return h('div', {
      class: 'opp', draggable: 'true', dataset: { oppId: opp.id },
      ondragstart: (e) => { e.dataTransfer.setData('text/plain', opp.id); },
    }, h('div', {}, h('b', {}, opp.name)), h('div', { class: 'amount' }, fmtMoney(opp.amount)),
    h('small', { class: 'muted' }, opp.expected_close_date || ''), picker);
  }

  function draw() {
    const pipeline = currentPipeline();
    const stages = pipeline.stages || [];
    const mine = opportunities.filter((o) => o.pipeline_id === pipeline.id
      || (!o.pipeline_id && pipeline.is_default));
    board.replaceChildren(...stages.map((stage) => {
      const cards = mine.filter((o) => o.stage === stage.name);
      const sum = cards.reduce((acc, o) => acc + Number(o.amount || 0), 0);
      const column = h('div', {
        class: 'column', dataset: { stage: stage.name },
        ondragover: (e) => { e.preventDefault(); column.classList.add('over'); },
        ondragleave: () => column.classList.remove('over'),
        ondrop: (e) => {
          e.preventDefault();
          column.classList.remove('over');
          const opp = opportunities.find((o) => o.id === e.dataTransfer.getData('text/plain'));
          if (opp) move(opp, stage.name);
        },
      }, h('h3', {}, h('span', {}, stage.name, ` · ${stage.probability}%`), h('span', { class: 'muted' }, cards.length)),
      h('div', { class: 'muted', style: 'margin:0 4px 8px' }, fmtMoney(sum.toFixed(2))),
      cards.map((o) => card(o, stages)));
      return column;
    }));
  }
  chooser.onchange = draw;
  draw();
  return h('div', { class: 'stack' }, h('div', { class: 'row' }, h('h1', {}, t('board')),
    h('span', { class: 'spacer' }), chooser), board);
}
