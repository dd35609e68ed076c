// The only door to the gateway: /api/v1 with the bearer token kept in sessionStorage.
const BASE = '/api/v1';
const KEY = 'crm.token';

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message || code);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

export const auth = {
  get token() { return sessionStorage.getItem(KEY); },
  set token(value) {
    if (value) sessionStorage.setItem(KEY, value); else sessionStorage.removeItem(KEY);
  },
  onLogout: () => {},
};

function errorOf(status, body) {
  const e = (body && body.error) || {};
  return new ApiError(status, e.code || `http_${status}`, e.message || `HTTP ${status}`, e.details);
}

async function parse(response) {
  const text = await response.text();
  if (!text) return null;
  try { return JSON.parse(text); } catch { return text; }
}

export async function api(method, path, body) {
  const headers = {};
  if (auth.token) headers.Authorization = `Bearer ${auth.token}`;
  let payload;
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(BASE + path, { method, headers, body: payload });
  } catch (exc) {
    throw new ApiError(0, 'network_error', String(exc));
  }
  const data = await parse(response);
  if (response.status === 401 && path !== '/auth/token') {
    auth.token = null;
    auth.onLogout();
  }
  if (!response.ok) throw errorOf(response.status, data);
  return data;
}

export const get = (path) => api('GET', path);
export const post = (path, body) => api('POST', path, body === undefined ? {} : body);

/** GET that answers null when the route does not exist (yet): the caller hides its panel. */
export async function optional(path) {
  try {
    return await get(path);
  } catch (exc) {
    if (exc.status === 404 && exc.code === 'not_found') return null;
    if (exc.status === 501 || exc.status === 405) return null;
    throw exc;
  }
}

export async function login(username, password) {
  const form = new URLSearchParams({ username, password });
  const response = await fetch(`${BASE}/auth/token`, {
    method: 'POST', body: form,
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
  });
  const data = await parse(response);
  if (!response.ok) throw errorOf(response.status, data);
  auth.token = data.access_token;
  return data;
}

/** Multipart upload through XMLHttpRequest so the page can show the upload's progress. */
export function upload(path, formData, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', BASE + path);
    if (auth.token) xhr.setRequestHeader('Authorization', `Bearer ${auth.token}`);
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); };
    xhr.onload = () => {
      let data = null;
      try { data = JSON.parse(xhr.responseText); } catch { data = null; }
      if (xhr.status >= 200 && xhr.status < 300) resolve(data);
      else reject(errorOf(xhr.status, data));
    };
    xhr.onerror = () => reject(new ApiError(0, 'network_error', 'network error'));
    xhr.send(formData);
  });
}

/** The notification stream (SSE); EventSource cannot send headers, hence ?access_token=. */
export function stream(onEvent) {
  if (!auth.token || typeof EventSource === 'undefined') return () => {};
  const source = new EventSource(
    `${BASE}/notifications/stream?access_token=${encodeURIComponent(auth.token)}`);
  const handle = (e) => {
    let data = null;
    try { data = JSON.parse(e.data); } catch { data = { message: e.data }; }
    onEvent(e.type, data);
  };
  source.onmessage = handle;
  source.addEventListener('notification', handle);
  return () => source.close();
}
