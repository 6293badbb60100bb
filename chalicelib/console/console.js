// 邻里 staff console: reads the community's admin routes with the staff token kept in sessionStorage.
// Every value from the hub reaches the page through textContent or an attribute, never as HTML.
'use strict';

(function () {
  const POLL_MS = 15000;
  const TOKEN_KEY = 'linli.console.token';
  const COMMUNITY_KEY = 'linli.console.community';
  // '/' locally; '/api/' behind an API Gateway stage: the routes live beside the page
  const API_BASE = location.pathname.replace(/console\/?$/, '');
  const SVG_NS = 'http://www.w3.org/2000/svg';

  const ROLE_NAMES = { manager: '物业经理', guard: '保安', cleaner: '保洁员' };
  const DEVICE_TYPES = {
    recycling_bin: '回收箱', trash_bin: '垃圾桶', water_meter: '水表', electricity_meter: '电表',
    door: '门禁', irrigation: '灌溉控制器', security_panel: '安防面板',
  };
  const CATEGORIES = { paper: '纸类', plastic: '塑料', metal: '金属', bottle: '饮料瓶', textile: '织物' };
  const SEVERITIES = { critical: ['严重', 'bad'], warning: ['警告', 'warn'], info: ['提示', 'info'] };
  const REJECT_REASONS = {
    malformed_envelope: '消息封装无效', malformed_topic: '主题格式错误', malformed_json: 'JSON 格式错误',
    invalid_fields: '字段无效', unknown_kind: '未知消息类型', unknown_device: '未登记设备',
    device_disabled: '设备已停用', wrong_community: '社区不符', foreign_publisher: '冒用设备名发布',
    kind_not_supported: '该设备不支持此消息', stale_timestamp: '时间戳过旧', future_timestamp: '时间戳超前',
    implausible_value: '数值不合理', no_price: '未设置回收价格', over_daily_cap: '超过每日上限',
    ledger_mismatch: '账目不一致', meter_went_backwards: '读数倒退', meter_jump: '读数跳变',
    meter_out_of_window: '读数过旧',
  };
  const WITHDRAWAL_STATUS = { wait_user_confirm: '待居民确认', processing: '处理中' };

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  let session = null; // { token, cid }
  let timer = null;
  let refreshing = null;

  // ------------------------------------------------------------------------------------------ helpers
  function $(selector) { return document.querySelector(selector); }

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === 'text') node.textContent = String(value);
      else if (key === 'class') node.className = value;
      else node.setAttribute(key, value === true ? '' : String(value));
    }
    for (const child of children) {
      if (child !== null && child !== undefined && child !== false) node.append(child);
    }
    return node;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  function yuan(fen) {
    const sign = fen < 0 ? '-' : '';
    const abs = Math.abs(Math.trunc(fen));
    return `${sign}¥${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`;
  }

  function kg(grams) { return `${(grams / 1000).toFixed(2)} kg`; }

  const CHINA_TIME = new Intl.DateTimeFormat('zh-CN', {
    timeZone: 'Asia/Shanghai', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit',
    hour12: false,
  });

  function when(iso) {
    if (!iso) return '—';
    const at = new Date(iso);
    if (Number.isNaN(at.getTime())) return String(iso);
    return CHINA_TIME.format(at);
  }

  function ago(iso) {
    if (!iso) return '从未';
    const seconds = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
    if (seconds < 60) return '刚刚';
    if (seconds < 3600) return `${Math.floor(seconds / 60)} 分钟前`;
    if (seconds < 86400) return `${Math.floor(seconds / 3600)} 小时前`;
    return when(iso);
  }

  function badge(text, kind) { return el('span', { class: `badge ${kind}`, text }); }

  function announce(text) {
    const region = $('#announce');
    region.textContent = '';
    window.setTimeout(() => { region.textContent = text; }, 50);
  }

  function chinaDay() {
    const parts = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai' }).format(new Date());
    return parts.replaceAll('-', '');
  }

  // ---------------------------------------------------------------------------------------------- api
  async function api(method, path, body) {
    const headers = { Authorization: `Bearer ${session.token}`, Accept: 'application/json' };
    const init = { method, headers, cache: 'no-store', credentials: 'omit', redirect: 'error' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const response = await fetch(API_BASE + path, init);
    if (response.status === 204) return null;
    let data = null;
    try { data = await response.json(); } catch (_) { data = null; }
    if (!response.ok) {
      const error = (data && data.error) || {};
      throw new ApiError(response.status, error.code || `http_${response.status}`,
        error.message || response.statusText);
    }
    return data;
  }

  function communityPath(rest) { return `v1/admin/communities/${encodeURIComponent(session.cid)}${rest}`; }

  async function allPages(path, maxPages) {
    const items = [];
    let cursor = null;
    for (let page = 0; page < maxPages; page += 1) {
      const sep = path.includes('?') ? '&' : '?';
      const data = await api('GET', path + (cursor ? `${sep}cursor=${encodeURIComponent(cursor)}` : ''));
      items.push(...data.items);
      cursor = data.next_cursor;
      if (!cursor) return { items, more: false };
    }
    return { items, more: true };
  }

  // ------------------------------------------------------------------------------------------- panels
  function itemList(items, render) {
    const list = el('ul', { class: 'items' });
    for (const item of items) list.append(render(item));
    return list;
  }

  function actionButton(label, accessibleName, onClick) {
    const button = el('button', { type: 'button', class: 'secondary', 'aria-label': accessibleName, text: label });
    button.addEventListener('click', async () => {
      button.disabled = true;
      try {
        await onClick();
      } catch (error) {
        if (!handleAuthError(error)) announce(`操作失败：${error.message}`);
      } finally {
        button.disabled = false;
      }
    });
    return button;
  }

  async function loadAlarms() {
    const [open, acknowledged] = await Promise.all([
      api('GET', communityPath('/alarms?status=open&limit=50')),
      api('GET', communityPath('/alarms?status=acknowledged&limit=50')),
    ]);
    const body = [];
    body.push(el('p', { class: 'summary', text: `未处理 ${open.items.length} 条 · 已确认 ${acknowledged.items.length} 条` }));
    body.push(el('h3', { class: 'subhead', text: '未处理' }));
    body.push(open.items.length ? itemList(open.items, (alarm) => alarmItem(alarm, true))
      : el('p', { class: 'empty', text: '没有未处理的告警。' }));
    if (acknowledged.items.length) {
      body.push(el('h3', { class: 'subhead', text: '已确认，处理中' }));
      body.push(itemList(acknowledged.items, (alarm) => alarmItem(alarm, false)));
    }
    return body;
  }

  function alarmItem(alarm, isOpen) {
    const [severity, kind] = SEVERITIES[alarm.severity] || [alarm.severity, 'info'];
    const meta = [`${when(alarm.opened_at)} 发生`, alarm.subject ? `对象：${alarm.subject}` : null,
      alarm.trigger_count > 1 ? `共触发 ${alarm.trigger_count} 次` : null,
      !isOpen && alarm.acknowledged_at ? `${when(alarm.acknowledged_at)} 已确认` : null].filter(Boolean);
    // an open alarm is acknowledged (确认); an acknowledged one is cleared (解除)
    const [verb, action] = isOpen ? ['确认', 'ack'] : ['解除', 'clear'];
    return el('li', {},
      el('div', { class: 'item-head' }, badge(severity, kind), el('p', { class: 'item-title', text: alarm.title })),
      el('p', { class: 'item-meta', text: meta.join(' · ') }),
      el('div', { class: 'item-actions' }, actionButton(verb, `${verb}告警：${alarm.title}`, async () => {
        await api('POST', communityPath(`/alarms/${encodeURIComponent(alarm.alarm_id)}/${action}`));
        announce(`已${verb}告警：${alarm.title}`);
        await refreshPanel('alarms');
      })));
  }

  async function loadDevices() {
    const { items, more } = await allPages(communityPath('/devices?limit=100'), 5);
    const online = items.filter((d) => d.online).length;
    const disabled = items.filter((d) => d.status === 'disabled').length;
    const summary = el('p', { class: 'summary',
      text: `共 ${items.length}${more ? '+' : ''} 台 · 在线 ${online} · 离线 ${items.length - online - disabled} · 停用 ${disabled}` });
    if (!items.length) return [summary, el('p', { class: 'empty', text: '还没有登记设备。' })];
    const table = el('table', {},
      el('caption', { text: '设备状态、垃圾桶满溢度与最后在线时间' }),
      el('thead', {}, el('tr', {},
        el('th', { scope: 'col', text: '设备' }), el('th', { scope: 'col', text: '类型' }),
        el('th', { scope: 'col', class: 'hide-narrow', text: '位置' }), el('th', { scope: 'col', text: '状态' }),
        el('th', { scope: 'col', text: '满溢度' }), el('th', { scope: 'col', text: '最后在线' }))));
    const rows = el('tbody');
    for (const device of items) {
      let state = badge('离线', 'bad');
      if (device.status === 'disabled') state = badge('停用', 'off');
      else if (device.online) state = badge('在线', 'ok');
      const place = device.location || (device.building ? `${device.building} 栋 ${device.room || ''}` : '—');
      let fill = el('span', { text: '—' });
      if (typeof device.fill_pct === 'number') {
        const pct = Math.round(device.fill_pct);
        fill = el('span', {},
          el('meter', { min: 0, max: 100, low: 60, high: 90, optimum: 0, value: pct, 'aria-hidden': 'true' }),
          `${pct}%`);
      }
      rows.append(el('tr', { 'data-thing': device.thing_name },
        el('th', { scope: 'row', text: device.thing_name }),
        el('td', { text: DEVICE_TYPES[device.type] || device.type }),
        el('td', { class: 'hide-narrow', text: place }),
        el('td', {}, state), el('td', {}, fill),
        el('td', { text: ago(device.last_seen), title: device.last_seen || '' })));
    }
    table.append(rows);
    return [summary, el('div', { class: 'table-wrap', role: 'region', 'aria-label': '设备列表', tabindex: 0 }, table)];
  }

  async function loadTasks() {
    const data = await api('GET', communityPath('/tasks?status=open&limit=50'));
    if (!data.items.length) return [el('p', { class: 'empty', text: '没有待处理的清洁任务。' })];
    return [itemList(data.items, (task) => el('li', {},
      el('div', { class: 'item-head' }, badge(`${Math.round(task.fill_pct)}%`, 'warn'),
        el('p', { class: 'item-title', text: `${task.location || task.thing_name} 需要清运` })),
      el('p', { class: 'item-meta', text: `${task.thing_name} · ${when(task.opened_at)} 开单` }),
      el('div', { class: 'item-actions' }, actionButton('关闭', `关闭任务：${task.location || task.thing_name}`,
        async () => {
          await api('POST', communityPath(`/tasks/${encodeURIComponent(task.task_id)}/close`));
          announce(`已关闭清洁任务：${task.location || task.thing_name}`);
          await refreshPanel('tasks');
        }))))];
  }

  async function loadRecycling() {
    const data = await api('GET', communityPath(`/recycling/summary?day=${chinaDay()}`));
    const totals = el('dl', { class: 'totals' },
      el('div', {}, el('dt', { text: '回收重量' }), el('dd', { text: kg(data.total.weight_g) })),
      el('div', {}, el('dt', { text: '已发放奖励' }), el('dd', { text: yuan(data.total.credit_fen) })),
      el('div', {}, el('dt', { text: '投放次数' }), el('dd', { text: String(data.total.weighins) })));
    const names = Object.keys(data.categories);
    const heaviest = Math.max(1, ...names.map((name) => data.categories[name].weight_g));
    const rowHeight = 28;
    const chart = svg('svg', { class: 'chart', viewBox: `0 0 360 ${names.length * rowHeight + 4}`,
      role: 'img', 'aria-labelledby': 'recycling-chart-title' });
    chart.append(svg('title', { id: 'recycling-chart-title' },
      `今日各类回收重量：${names.map((n) => `${CATEGORIES[n] || n} ${kg(data.categories[n].weight_g)}`).join('，')}`));
    names.forEach((name, index) => {
      const part = data.categories[name];
      const y = index * rowHeight + 4;
      chart.append(svg('text', { x: 0, y: y + 15 }, CATEGORIES[name] || name));
      chart.append(svg('rect', { class: 'track', x: 60, y: y + 2, width: 200, height: 16, rx: 3 }));
      chart.append(svg('rect', { class: 'bar', x: 60, y: y + 2, width: Math.round((200 * part.weight_g) / heaviest),
        height: 16, rx: 3 }));
      chart.append(svg('text', { class: 'value', x: 268, y: y + 15 }, kg(part.weight_g)));
    });
    const table = el('table', {},
      el('caption', { text: `${data.day.slice(0, 4)}-${data.day.slice(4, 6)}-${data.day.slice(6)}（北京时间）按类别` }),
      el('thead', {}, el('tr', {}, el('th', { scope: 'col', text: '类别' }),
        el('th', { scope: 'col', class: 'num', text: '重量' }), el('th', { scope: 'col', class: 'num', text: '奖励' }),
        el('th', { scope: 'col', class: 'num', text: '次数' }))));
    const rows = el('tbody');
    for (const name of names) {
      const part = data.categories[name];
      rows.append(el('tr', {}, el('th', { scope: 'row', text: CATEGORIES[name] || name }),
        el('td', { class: 'num', text: kg(part.weight_g) }), el('td', { class: 'num', text: yuan(part.credit_fen) }),
        el('td', { class: 'num', text: String(part.weighins) })));
    }
    table.append(rows);
    return [totals, chart, el('div', { class: 'table-wrap' }, table)];
  }

  async function loadWithdrawals() {
    const data = await api('GET', communityPath('/withdrawals?status=wait_user_confirm&limit=50'));
    if (!data.items.length) return [el('p', { class: 'empty', text: '没有等待居民确认的提现。' })];
    const sum = data.items.reduce((total, w) => total + w.amount_fen, 0);
    return [el('p', { class: 'summary', text: `${data.items.length}${data.next_cursor ? '+' : ''} 笔，合计 ${yuan(sum)}` }),
      itemList(data.items, (w) => el('li', {},
        el('div', { class: 'item-head' }, el('p', { class: 'item-title', text: yuan(w.amount_fen) }),
          badge(WITHDRAWAL_STATUS[w.status] || w.status, 'info')),
        el('p', { class: 'item-meta', text: `${when(w.created_at)} 发起 · 单号 ${w.out_bill_no} · 居民 ${w.resident_id}` })))];
  }

  async function loadRejects() {
    const data = await api('GET', communityPath('/rejects?limit=20'));
    if (!data.items.length) return [el('p', { class: 'empty', text: '最近没有被拒收的设备消息。' })];
    return [itemList(data.items, (r) => el('li', {},
      el('div', { class: 'item-head' }, badge(REJECT_REASONS[r.reason] || r.reason, 'warn'),
        el('p', { class: 'item-title', text: `${r.thing_name || '未知设备'} · ${r.kind || '—'}` })),
      el('p', { class: 'item-meta', text: `${when(r.received_at)} · ${r.reason}${r.detail ? `：${r.detail}` : ''}` })))];
  }

  async function loadPartners() {
    const data = await api('GET', communityPath('/partners'));
    if (!data.items.length) return [el('p', { class: 'empty', text: '还没有合作方。' })];
    return [itemList(data.items, (p) => {
      const hook = p.webhook;
      let health = badge('未配置', 'off');
      let detail = '没有 Webhook 地址';
      if (hook) {
        detail = hook.url;
        if (hook.status === 'disabled') {
          health = badge('已停用', 'bad');
          detail += ` · 原因：${hook.disabled_reason || '—'}`;
        } else if (hook.failing_since) {
          health = badge('投递失败中', 'warn');
          detail += ` · 自 ${when(hook.failing_since)} 起失败`;
        } else {
          health = badge('正常', 'ok');
        }
      }
      return el('li', {},
        el('div', { class: 'item-head' }, el('p', { class: 'item-title', text: p.name }), health),
        el('p', { class: 'item-meta', text: detail }));
    })];
  }

  async function loadNotices() {
    const data = await api('GET', communityPath('/notices'));
    if (!data.items.length) return [el('p', { class: 'empty', text: '当前没有生效的通知。' })];
    return [itemList(data.items, (n) => el('li', {},
      el('p', { class: 'item-title', text: n.title }),
      el('p', { class: 'item-meta',
        text: `${when(n.published_at)} 发布 · ${n.buildings.length ? `${n.buildings.join('、')} 栋` : '全社区'}` }),
      el('p', { class: 'item-text', text: n.body }),
      el('div', { class: 'item-actions' }, actionButton('撤回', `撤回通知：${n.title}`, async () => {
        if (!window.confirm(`确定撤回通知“${n.title}”吗？`)) return;
        await api('DELETE', communityPath(`/notices/${encodeURIComponent(n.notice_id)}`));
        announce(`已撤回通知：${n.title}`);
        await refreshPanel('notices');
      }))))];
  }

  const PANELS = {
    alarms: loadAlarms, devices: loadDevices, tasks: loadTasks, recycling: loadRecycling,
    withdrawals: loadWithdrawals, rejects: loadRejects, partners: loadPartners, notices: loadNotices,
  };

  function handleAuthError(error) {
    if (error instanceof ApiError && error.status === 401) {
      logout('登录已失效，请重新输入令牌。');
      return true;
    }
    return false;
  }

  async function refreshPanel(name) {
    const section = $(`#panel-${name}`);
    const note = section.querySelector('.note');
    const body = section.querySelector('.panel-body');
    section.setAttribute('aria-busy', 'true');
    try {
      const nodes = await PANELS[name]();
      body.replaceChildren(...nodes);
      note.hidden = true;
      note.textContent = '';
      section.dataset.state = 'ok';
      if (name === 'notices') $('#notice-form').hidden = false;
    } catch (error) {
      if (handleAuthError(error)) return;
      note.hidden = false;
      if (error instanceof ApiError && error.status === 403) {
        note.className = 'note denied';
        note.textContent = '您的岗位无权查看此栏目。';
        body.replaceChildren();
        section.dataset.state = 'forbidden';
        if (name === 'notices') $('#notice-form').hidden = true;
      } else {
        note.className = 'note';
        note.textContent = `加载失败（${error.message}），将在下次刷新时重试。`;
        section.dataset.state = 'error';
      }
    } finally {
      section.removeAttribute('aria-busy');
    }
  }

  async function refreshAll() {
    if (!session) return;
    if (!refreshing) {
      refreshing = Promise.all(Object.keys(PANELS).map(refreshPanel)).finally(() => { refreshing = null; });
    }
    await refreshing;
    if (session) $('#updated').textContent = `更新于 ${new Date().toLocaleTimeString('zh-CN', { hour12: false, timeZone: 'Asia/Shanghai' })}（北京时间）`;
  }

  function schedule() {
    window.clearTimeout(timer);
    timer = window.setTimeout(async () => {
      if (session && !document.hidden) await refreshAll();
      if (session) schedule();
    }, POLL_MS);
  }

  // -------------------------------------------------------------------------------------------- login
  function showBoard(me) {
    const role = me.role === 'admin' ? '平台管理员' : (ROLE_NAMES[me.staff_role] || me.staff_role);
    const who = $('#who');
    who.textContent = `${me.community_name}（${me.community_id}）· ${role}`;
    who.hidden = false;
    $('#login').hidden = true;
    $('#board').hidden = false;
    $('#logout').hidden = false;
    $('#refresh').hidden = false;
  }

  function logout(message) {
    session = null;
    window.clearTimeout(timer);
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(COMMUNITY_KEY);
    $('#board').hidden = true;
    $('#who').hidden = true;
    $('#logout').hidden = true;
    $('#refresh').hidden = true;
    for (const body of document.querySelectorAll('.panel-body')) body.replaceChildren();
    $('#login').hidden = false;
    $('#token').value = '';
    $('#login-error').textContent = message || '';
    $('#token').focus();
  }

  const LOGIN_ERRORS = {
    401: '令牌无效或已过期。', 403: '此令牌不属于该社区，或无权使用控制台。', 404: '找不到该社区，请检查社区编号。',
  };

  async function login(token, communityId) {
    session = { token, cid: null };
    const query = communityId ? `?community_id=${encodeURIComponent(communityId)}` : '';
    let me;
    try {
      me = await api('GET', `v1/admin/me${query}`);
      session = { token, cid: me.community_id };
    } catch (error) {
      session = null;
      let message = `登录失败：${error.message}`;
      if (error instanceof ApiError && error.code === 'missing_community') message = '平台管理员令牌需要填写社区编号。';
      else if (error instanceof ApiError && LOGIN_ERRORS[error.status]) message = LOGIN_ERRORS[error.status];
      $('#login-error').textContent = message;
      return false;
    }
    sessionStorage.setItem(TOKEN_KEY, token);
    sessionStorage.setItem(COMMUNITY_KEY, communityId || '');
    $('#login-error').textContent = '';
    showBoard(me);
    $('#main').focus();
    await refreshAll();
    schedule();
    return true;
  }

  async function publishNotice(event) {
    event.preventDefault();
    const form = event.currentTarget;
    const error = $('#notice-error');
    const title = $('#notice-title').value.trim();
    const body = $('#notice-body').value.trim();
    const buildings = $('#notice-buildings').value.split(/[,，、\s]+/).map((b) => b.trim()).filter(Boolean);
    if (!title || !body) {
      error.textContent = '请填写标题和内容。';
      (title ? $('#notice-body') : $('#notice-title')).focus();
      return;
    }
    const submit = form.querySelector('button[type=submit]');
    submit.disabled = true;
    try {
      await api('POST', communityPath('/notices'), { title, body, buildings });
      form.reset();
      error.textContent = '';
      announce(`已发布通知：${title}`);
      await refreshPanel('notices');
    } catch (err) {
      if (!handleAuthError(err)) error.textContent = `发布失败：${err.message}`;
    } finally {
      submit.disabled = false;
    }
  }

  function start() {
    $('#login-form').addEventListener('submit', async (event) => {
      event.preventDefault();
      const token = $('#token').value.trim();
      if (!token) {
        $('#login-error').textContent = '请输入员工令牌。';
        $('#token').focus();
        return;
      }
      const button = $('#login-submit');
      button.disabled = true;
      try { await login(token, $('#community').value.trim()); } finally { button.disabled = false; }
    });
    $('#notice-form').addEventListener('submit', publishNotice);
    $('#logout').addEventListener('click', () => logout('已退出登录。'));
    $('#refresh').addEventListener('click', async () => {
      await refreshAll();
      announce('已刷新。');
    });
    document.addEventListener('visibilitychange', () => {
      if (session && !document.hidden) refreshAll();
    });
    const saved = sessionStorage.getItem(TOKEN_KEY);
    if (saved) {
      $('#community').value = sessionStorage.getItem(COMMUNITY_KEY) || '';
      login(saved, sessionStorage.getItem(COMMUNITY_KEY) || '');
    } else {
      $('#token').focus();
    }
  }

  start();
}());
