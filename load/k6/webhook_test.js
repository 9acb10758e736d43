// k6 script driven by a cricalgo scenario file, so k6 and the native engine never drift.
//
//   k6 run -e SCENARIO=load/scenarios/webhook.json load/k6/webhook_test.js
//   k6 run -e SCENARIO=load/scenarios/capacity.json -e BASE_URL=http://127.0.0.1:8000 load/k6/webhook_test.js
//
// `cricalgo perf run --engine k6` runs exactly this (with `--summary-export`). The scenario's
// executor block uses k6's option names and is passed through as `options.scenarios`; templates
// ({{uuid}}, {{vu}}, {{iter}}, {{timestamp_ms}}, {{rand_hex N}}, {{rand_int A B}},
// {{rand_decimal A B D}}) are rendered here the same way the native engine renders them.
import http from 'k6/http';
import crypto from 'k6/crypto';
import { check, sleep } from 'k6';

const SCENARIO_PATH = __ENV.SCENARIO || '../scenarios/webhook.json';
const scenario = JSON.parse(open(SCENARIO_PATH));
const BASE_URL = (__ENV.BASE_URL || scenario.base_url).replace(/\/+$/, '');

// Metrics only the native engine has (coordinated-omission corrected latency) are skipped here.
const K6_METRICS = [
  'http_reqs', 'http_req_failed', 'http_req_duration', 'http_req_waiting', 'http_req_receiving',
  'http_req_connecting', 'http_req_sending', 'http_req_blocked', 'iterations',
  'iteration_duration', 'vus', 'vus_max', 'checks', 'data_sent', 'data_received',
  'dropped_iterations',
];

function k6Thresholds(thresholds) {
  const out = {};
  for (const [metric, expressions] of Object.entries(thresholds || {})) {
    if (K6_METRICS.includes(metric.split('{')[0])) {
      out[metric] = expressions;
    }
  }
  return out;
}

const executor = Object.assign({}, scenario.executor, { exec: 'iteration' });

export const options = {
  scenarios: { [scenario.name]: executor },
  thresholds: k6Thresholds(scenario.thresholds),
  tags: scenario.tags || {},
  summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)'],
};

function durationSeconds(text) {
  if (typeof text === 'number') return text;
  let total = 0;
  const re = /([0-9.]+)(ms|s|m|h)/g;
  let match;
  while ((match = re.exec(text)) !== null) {
    const n = parseFloat(match[1]);
    total += { ms: n / 1000, s: n, m: n * 60, h: n * 3600 }[match[2]];
  }
  return total;
}

function uuid4() {
  const hex = randHex(32).split('');
  hex[12] = '4';
  hex[16] = '89ab'[Math.floor(Math.random() * 4)];
  const h = hex.join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function randHex(n) {
  let out = '';
  for (let i = 0; i < n; i++) out += Math.floor(Math.random() * 16).toString(16);
  return out;
}

function randInt(min, max) {
  return min + Math.floor(Math.random() * (max - min + 1));
}

function randDecimal(minText, maxText, decimals) {
  const scale = Math.pow(10, decimals);
  const min = Math.round(parseFloat(minText) * scale);
  const max = Math.round(parseFloat(maxText) * scale);
  const value = randInt(min, max);
  if (decimals === 0) return String(value);
  const whole = Math.floor(value / scale);
  const frac = String(value % scale).padStart(decimals, '0');
  return `${whole}.${frac}`;
}

function render(text) {
  return text.replace(/\{\{\s*([^}]+?)\s*\}\}/g, (_, expr) => {
    const [name, ...args] = expr.split(/\s+/);
    switch (name) {
      case 'uuid': return uuid4();
      case 'vu': return String(__VU);
      case 'iter': return String(__ITER);
      case 'timestamp_ms': return String(Date.now());
      case 'rand_hex': return randHex(parseInt(args[0], 10));
      case 'rand_int': return String(randInt(parseInt(args[0], 10), parseInt(args[1], 10)));
      case 'rand_decimal': return randDecimal(args[0], args[1], parseInt(args[2], 10));
      default: throw new Error(`unknown template variable \`${name}\``);
    }
  });
}

function lookup(value, path) {
  let current = value;
  for (const key of path.split('.')) {
    if (current === null || typeof current !== 'object') return undefined;
    current = current[key];
  }
  return current;
}

function isEmpty(value) {
  if (value === undefined || value === null) return true;
  if (typeof value === 'string' || Array.isArray(value)) return value.length === 0;
  if (typeof value === 'object') return Object.keys(value).length === 0;
  return false;
}

function checksFor(spec) {
  const out = {};
  for (const c of spec.checks || []) {
    if (c.status !== undefined) {
      out[c.name] = (r) => r.status === c.status;
    } else if (c.body_contains !== undefined) {
      out[c.name] = (r) => typeof r.body === 'string' && r.body.includes(c.body_contains);
    } else if (c.json !== undefined) {
      out[c.name] = (r) => {
        let body;
        try { body = JSON.parse(r.body); } catch (e) { return false; }
        const value = lookup(body, c.json);
        if (c.not_empty) return !isEmpty(value);
        return JSON.stringify(value) === JSON.stringify(c.equals);
      };
    }
  }
  return out;
}

export function iteration() {
  for (const spec of scenario.requests) {
    const headers = {};
    for (const [k, v] of Object.entries(spec.headers || {})) headers[k] = render(v);
    let body = null;
    if (spec.body !== undefined && spec.body !== null) {
      body = render(typeof spec.body === 'string' ? spec.body : JSON.stringify(spec.body));
      if (typeof spec.body !== 'string' && !Object.keys(headers).some((k) => k.toLowerCase() === 'content-type')) {
        headers['Content-Type'] = 'application/json';
      }
    }
    if (spec.sign) {
      const secret = __ENV[spec.sign.secret_env];
      if (secret) {
        headers[spec.sign.header || 'X-Signature'] =
          (spec.sign.prefix || '') + crypto.hmac('sha256', secret, body || '', 'hex');
      } else if (!spec.sign.optional) {
        throw new Error(`set ${spec.sign.secret_env} (-e ${spec.sign.secret_env}=...) to sign the body`);
      }
    }
    const url = BASE_URL + render(spec.path);
    const params = {
      headers,
      tags: Object.assign({ name: spec.name || url }, spec.tags || {}),
      timeout: scenario.timeout || '60s',
    };
    const res = http.request(spec.method || 'GET', url, body, params);
    check(res, checksFor(spec));
  }
  if (scenario.think_time) {
    const min = durationSeconds(scenario.think_time.min);
    const max = durationSeconds(scenario.think_time.max);
    sleep(min + Math.random() * (max - min));
  }
}
