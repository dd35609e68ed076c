// A small dictionary: Chinese by default, English switchable (kept in localStorage).
const zh = {
  app: 'CRM 客户关系管理', login: '登录', logout: '退出', username: '用户名', password: '密码',
  login_failed: '用户名或密码错误', lang_switch: 'English',
  nav_home: '首页', nav_leads: '线索', nav_customers: '客户', nav_board: '商机',
  nav_deals: '报价与合同', nav_analytics: '分析',
  calendar: '今日销售日历', no_plans: '今天没有计划的拜访', notifications: '提醒与消息',
  no_notifications: '暂无消息', activity: '业务关注', no_activity: '暂无动态', briefing: '销售简报',
  live: '实时', pool: '公海池', mine: '我的线索', search: '搜索', search_ph: '姓名、公司、电话或邮箱',
  name: '姓名', company: '公司', phone: '电话', source: '来源', status: '状态', owner: '负责人',
  due: '截止', actions: '操作', claim: '领取', release: '退回公海', follow_up: '跟进', convert: '转化',
  claimed: '已领取', converted: '已转化为客户', released: '已退回公海', saved: '已保存',
  lost_race: '抢单失败：另一位销售抢先领取了这条线索', lost_race_who: '抢单失败：已被 {who} 领取',
  release_reason: '退回原因', kind: '方式', content: '内容', next_at: '下次跟进', save: '保存', cancel: '取消',
  import_csv: '导入 CSV', import_pool: '导入到公海', upload: '上传', uploading: '上传中', processing: '服务端处理中…',
  created: '新建', duplicates: '重复', rejected: '无效', row: '行', reason: '原因', more: '加载更多',
  empty: '暂无数据', customers: '客户', customer: '客户', level: '等级', region: '地区', industry: '行业',
  overview: '客户全貌 360°', contacts: '联系人', follow_ups: '跟进记录', plans: '跟进计划',
  opportunities: '商机', quotes: '报价', contracts: '合同', receivable_plans: '回款计划', payments: '回款',
  invoices: '发票', tickets: '工单', returns: '退货', work_orders: '工单派工', profile: '客户画像',
  unavailable: '暂不可用', add_follow_up: '添加跟进', add_plan: '添加计划', subject: '主题', scheduled_at: '计划时间',
  notes: '备注', board: '商机看板', amount: '金额', move_to: '移到', stage_changed: '阶段已更新',
  approvals: '待我审批', approve: '通过', reject: '驳回', comment: '意见', number: '编号', title: '标题',
  total: '总额', no_approvals: '没有待审批的合同', funnel: '销售漏斗图', overall: '整体转化',
  leads: '线索', won: '赢单', rankings: '销售排行', pyramid: '客户金字塔', forecast: '销售预测',
  refresh: '刷新', back: '返回', error: '出错了', open_customer: '查看客户', lead_to_customer: '线索→客户',
  customer_to_opportunity: '客户→商机', opportunity_to_won: '商机→赢单', count: '数量', conversion: '转化率',
  kind_call: '电话', kind_visit: '拜访', kind_email: '邮件', kind_wechat: '微信', kind_meeting: '会议', kind_other: '其他',
  st_new: '新线索', st_following: '跟进中', st_converted: '已转化', st_invalid: '无效',
  loading: '加载中…', confirm: '确定', menu: '菜单', no_date: '未定日期', stage: '阶段', all_pools: '全部公海',
  cs_potential: '潜在', cs_intent: '意向', cs_deal: '成交', cs_repeat: '复购', cs_dormant: '沉睡', cs_lost: '流失',
  metric_contract_amount: '签约金额', metric_payments: '回款金额', metric_follow_ups: '跟进次数',
  metric_new_customers: '新增客户', period_day: '今日', period_week: '本周', period_month: '本月',
};

const en = {
  app: 'CRM', login: 'Log in', logout: 'Log out', username: 'Username', password: 'Password',
  login_failed: 'Wrong username or password', lang_switch: '中文',
  nav_home: 'Home', nav_leads: 'Leads', nav_customers: 'Customers', nav_board: 'Opportunities',
  nav_deals: 'Quotes & contracts', nav_analytics: 'Analytics',
  calendar: "Today's sales calendar", no_plans: 'No visits planned today', notifications: 'Reminders',
  no_notifications: 'No messages', activity: 'Activity feed', no_activity: 'No activity yet', briefing: 'Sales briefing',
  live: 'live', pool: 'Public pool', mine: 'My leads', search: 'Search', search_ph: 'Name, company, phone or e-mail',
  name: 'Name', company: 'Company', phone: 'Phone', source: 'Source', status: 'Status', owner: 'Owner',
  due: 'Due', actions: 'Actions', claim: 'Claim', release: 'Release', follow_up: 'Follow up', convert: 'Convert',
  claimed: 'Claimed', converted: 'Converted into a customer', released: 'Returned to the pool', saved: 'Saved',
  lost_race: 'Too late: another rep claimed this lead first', lost_race_who: 'Too late: {who} claimed it first',
  release_reason: 'Reason', kind: 'Kind', content: 'Content', next_at: 'Next follow-up', save: 'Save', cancel: 'Cancel',
  import_csv: 'Import CSV', import_pool: 'Into pool', upload: 'Upload', uploading: 'Uploading', processing: 'Processing…',
  created: 'Created', duplicates: 'Duplicates', rejected: 'Rejected', row: 'Row', reason: 'Reason', more: 'Load more',
  empty: 'Nothing here', customers: 'Customers', customer: 'Customer', level: 'Level', region: 'Region', industry: 'Industry',
  overview: 'Customer 360°', contacts: 'Contacts', follow_ups: 'Follow-ups', plans: 'Plans',
  opportunities: 'Opportunities', quotes: 'Quotes', contracts: 'Contracts', receivable_plans: 'Receivable plans',
  payments: 'Payments', invoices: 'Invoices', tickets: 'Tickets', returns: 'Returns', work_orders: 'Work orders',
  profile: 'Profile', unavailable: 'unavailable', add_follow_up: 'Add follow-up', add_plan: 'Add plan',
  subject: 'Subject', scheduled_at: 'Scheduled at', notes: 'Notes', board: 'Opportunity board', amount: 'Amount',
  move_to: 'Move to', stage_changed: 'Stage changed', approvals: 'Awaiting my approval', approve: 'Approve',
  reject: 'Reject', comment: 'Comment', number: 'Number', title: 'Title', total: 'Total',
  no_approvals: 'No contract awaits you', funnel: 'Sales funnel', overall: 'Overall conversion', leads: 'Leads',
  won: 'Won', rankings: 'Rankings', pyramid: 'Customer pyramid', forecast: 'Forecast', refresh: 'Refresh',
  back: 'Back', error: 'Error', open_customer: 'Open customer', lead_to_customer: 'Lead → customer',
  customer_to_opportunity: 'Customer → opportunity', opportunity_to_won: 'Opportunity → won', count: 'Count',
  conversion: 'Conversion', kind_call: 'Call', kind_visit: 'Visit', kind_email: 'E-mail', kind_wechat: 'WeChat',
  kind_meeting: 'Meeting', kind_other: 'Other', st_new: 'New', st_following: 'Following', st_converted: 'Converted',
  st_invalid: 'Invalid', loading: 'Loading…', confirm: 'OK', menu: 'Menu', no_date: 'No date', stage: 'Stage', all_pools: 'All pools',
  cs_potential: 'Potential', cs_intent: 'Intent', cs_deal: 'Deal', cs_repeat: 'Repeat', cs_dormant: 'Dormant', cs_lost: 'Lost',
  metric_contract_amount: 'Contract amount', metric_payments: 'Payments', metric_follow_ups: 'Follow-ups',
  metric_new_customers: 'New customers', period_day: 'Today', period_week: 'This week', period_month: 'This month',
};

const dictionaries = { zh, en };
let lang = localStorage.getItem('crm.lang') === 'en' ? 'en' : 'zh';

export function t(key, vars) {
  let text = dictionaries[lang][key] ?? zh[key] ?? key;
  if (vars) for (const [k, v] of Object.entries(vars)) text = text.replace(`{${k}}`, v);
  return text;
}

export const getLang = () => lang;

export function setLang(value) {
  lang = value === 'en' ? 'en' : 'zh';
  localStorage.setItem('crm.lang', lang);
  document.documentElement.lang = lang === 'en' ? 'en' : 'zh-CN';
}

export const KINDS = ['call', 'visit', 'email', 'wechat', 'meeting', 'other'];
