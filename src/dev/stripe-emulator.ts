// A small Stripe-compatible server for demo mode and tests. It speaks the same
// wire format as api.stripe.com for the subset the app uses (Checkout Sessions),
// serves a hosted checkout page, and delivers signed webhooks, so the real
// `stripe` SDK and the app's webhook verification run unmodified against it.
import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isSupportedCurrency, parseAmount } from '../services/money.js';
import { checkoutPage, dashboardPage, messagePage, type DashboardRow } from './stripe-emulator-pages.js';

export type FormValue = string | FormValue[] | { [key: string]: FormValue };
export type FormObject = { [key: string]: FormValue };

export interface CheckoutSession {
  id: string;
  object: 'checkout.session';
  mode: 'payment';
  status: 'open' | 'complete' | 'expired';
  payment_status: 'unpaid' | 'paid';
  amount_total: number;
  amount_subtotal: number;
  currency: string;
  client_reference_id: string | null;
  metadata: Record<string, string>;
  customer_email: string | null;
  customer_details: { email: string | null; name: string | null } | null;
  success_url: string;
  cancel_url: string;
  url: string | null;
  payment_intent: string | null;
  created: number;
  expires_at: number;
  livemode: false;
}

export interface StripeEvent {
  id: string;
  object: 'event';
  api_version: string;
  created: number;
  livemode: false;
  pending_webhooks: number;
  request: { id: string | null; idempotency_key: string | null };
  type: string;
  data: { object: Record<string, unknown> };
}

export interface RecordedRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  /** Parsed query string (e.g. `expand[]`), same nesting rules as the body. */
  query: FormObject;
  headers: Record<string, string>;
  body: FormObject;
  rawBody: string;
}

export interface Delivery {
  eventId: string;
  type: string;
  /** HTTP status, or 0 on a network error / timeout. */
  status: number;
  /** 1-based attempt number for this event. */
  attempt: number;
}

export interface StripeErrorBody {
  type: string;
  message: string;
  code?: string;
  param?: string;
}

export interface StripeEmulatorOptions {
  host?: string;
  port?: number;
  webhookSecret: string;
  webhookUrl?: string | (() => string | undefined);
  settleDelayMs?: number;
  retryDelaysMs?: number[];
  log?: (msg: string) => void;
}

export interface StripeEmulator {
  url: string;
  close(): Promise<void>;
  requests: RecordedRequest[];
  sessions: Map<string, CheckoutSession>;
  /** Every event generated, whether or not a webhook URL was configured. */
  events: StripeEvent[];
  deliveries: Delivery[];
  failNext(status: number, error: StripeErrorBody): void;
  pay(sessionId: string, method?: 'card' | 'bank_transfer'): Promise<void>;
  settle(sessionId: string, outcome: 'succeeded' | 'failed'): Promise<void>;
  expire(sessionId: string): Promise<void>;
  refund(sessionId: string, amountCents?: number): Promise<void>;
  buildEvent(type: string, object: Record<string, unknown>, id?: string): StripeEvent;
  sign(payload: string, timestampSec?: number, secret?: string): string;
  deliver(event: StripeEvent): Promise<number>;
  patchSession(id: string, patch: Partial<CheckoutSession>): void;
}

const API_VERSION = '2025-01-27.acacia';
const MAX_BODY_BYTES = 1024 * 1024;
const SESSION_TTL_SEC = 24 * 60 * 60;
const DEFAULT_RETRY_DELAYS_MS = [1000, 2000, 4000, 8000, 16000, 32000];

// Top-level params Stripe accepts on checkout.sessions.create. Anything else is
// rejected with "Received unknown parameter", which catches typos in the app
// exactly where real Stripe would.
const KNOWN_CREATE_PARAMS = new Set([
  'adaptive_pricing', 'after_expiration', 'allow_promotion_codes', 'allowed_payment_method_types', 'automatic_tax',
  'billing_address_collection', 'branding_settings', 'cancel_url', 'client_reference_id', 'consent_collection',
  'currency', 'custom_fields', 'custom_text', 'customer', 'customer_account', 'customer_creation', 'customer_email',
  'customer_update', 'discounts', 'excluded_payment_method_types', 'expand', 'expires_at', 'integration_identifier',
  'invoice_creation', 'line_items', 'locale', 'managed_payments', 'metadata', 'mode', 'name_collection',
  'optional_items', 'origin_context', 'payment_intent_data', 'payment_method_collection',
  'payment_method_configuration', 'payment_method_data', 'payment_method_options', 'payment_method_types',
  'permissions', 'phone_number_collection', 'redirect_on_completion', 'return_url', 'saved_payment_method_options',
  'setup_intent_data', 'shipping_address_collection', 'shipping_options', 'submit_type', 'subscription_data',
  'success_url', 'tax_id_collection', 'ui_mode', 'wallet_options',
]);

const ALPHANUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
function randomId(prefix: string, length = 24): string {
  const bytes = randomBytes(length);
  let out = prefix;
  for (const b of bytes) out += ALPHANUM[b % ALPHANUM.length];
  return out;
}

const nowSec = (): number => Math.floor(Date.now() / 1000);

/**
 * Parses Stripe's bracket-notation form encoding (`a[b][0][c]=x`) into nested
 * objects; objects whose keys are all indices become arrays, and `a[]=x` appends.
 */
export function parseForm(raw: string): FormObject {
  type Tree = { [key: string]: Tree | string };
  const root: Tree = {};
  for (const [key, value] of new URLSearchParams(raw)) {
    const first = key.indexOf('[');
    const segments = first === -1 ? [key] : [key.slice(0, first)];
    if (first !== -1) {
      for (const m of key.slice(first).matchAll(/\[([^\]]*)\]/g)) segments.push(m[1] ?? '');
    }
    if (segments.some((s) => s === '__proto__')) continue;
    let node: Tree = root;
    for (let i = 0; i < segments.length; i++) {
      let seg = segments[i] ?? '';
      // `a[]=x` appends: give it the next free index so it becomes an array below.
      if (seg === '' && i > 0) seg = String(Object.keys(node).length);
      if (i === segments.length - 1) {
        node[seg] = value;
      } else {
        const next = node[seg];
        if (typeof next === 'object') {
          node = next;
        } else {
          const child: Tree = {};
          node[seg] = child;
          node = child;
        }
      }
    }
  }
  const normalize = (tree: Tree): FormObject | FormValue[] => {
    const keys = Object.keys(tree);
    const out: FormObject = {};
    for (const k of keys) {
      const v = tree[k];
      if (v !== undefined) out[k] = typeof v === 'string' ? v : normalize(v);
    }
    if (keys.length > 0 && keys.every((k) => /^\d+$/.test(k))) {
      return keys
        .sort((a, b) => Number(a) - Number(b))
        .map((k) => out[k])
        .filter((v): v is FormValue => v !== undefined);
    }
    return out;
  };
  const result = normalize(root);
  return Array.isArray(result) ? {} : result;
}

const isObj = (v: FormValue | undefined): v is FormObject => typeof v === 'object' && v !== null && !Array.isArray(v);

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: StripeErrorBody,
  ) {
    super(body.message);
  }
}

const invalid = (message: string, param?: string): ApiError =>
  new ApiError(400, { type: 'invalid_request_error', message, ...(param ? { param } : {}) });

interface SessionState {
  productName: string;
  chargeId: string | null;
  amountRefunded: number;
  awaitingSettlement: boolean;
  settleTimer: NodeJS.Timeout | null;
}

interface StoredResponse {
  fingerprint: string;
  status: number;
  body: string;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new ApiError(413, { type: 'invalid_request_error', message: 'Request body too large.' }));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function flatHeaders(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (v !== undefined) out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

function isHttpUrl(value: string): boolean {
  try {
    const u = new URL(value);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

function requireString(form: FormObject | undefined, key: string, param: string): string {
  const v = form?.[key];
  if (v === undefined || v === '') throw invalid(`Missing required param: ${param}.`, param);
  if (typeof v !== 'string') throw invalid(`Invalid string: ${param} must be a string.`, param);
  return v;
}

function optionalString(form: FormObject, key: string): string | null {
  const v = form[key];
  if (v === undefined || v === '') return null;
  if (typeof v !== 'string') throw invalid(`Invalid string: ${key} must be a string.`, key);
  return v;
}

function parseNonNegativeInt(value: string, param: string, min: number): number {
  if (!/^\d+$/.test(value)) throw invalid(`Invalid integer: ${value}`, param);
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min) {
    throw invalid(`This value must be greater than or equal to ${min}.`, param);
  }
  return n;
}

export async function startStripeEmulator(opts: StripeEmulatorOptions): Promise<StripeEmulator> {
  const host = opts.host ?? '127.0.0.1';
  const settleDelayMs = opts.settleDelayMs ?? 4000;
  const retryDelaysMs = opts.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
  const log = opts.log ?? ((): void => undefined);

  const requests: RecordedRequest[] = [];
  const sessions = new Map<string, CheckoutSession>();
  const states = new Map<string, SessionState>();
  const events: StripeEvent[] = [];
  const deliveries: Delivery[] = [];
  const idempotency = new Map<string, StoredResponse>();
  const pendingFailures: { status: number; error: StripeErrorBody }[] = [];
  const timers = new Set<NodeJS.Timeout>();
  // Aborted by close() so an in-flight webhook POST cannot outlive the emulator.
  const shutdown = new AbortController();
  let closed = false;
  let baseUrl = '';

  const schedule = (ms: number, fn: () => void): NodeJS.Timeout => {
    const t = setTimeout(() => {
      timers.delete(t);
      if (!closed) fn();
    }, ms);
    t.unref();
    timers.add(t);
    return t;
  };

  const getSession = (id: string): { session: CheckoutSession; state: SessionState } => {
    const session = sessions.get(id);
    const state = states.get(id);
    if (!session || !state) throw new Error(`No such checkout session: ${id}`);
    return { session, state };
  };

  const resolveWebhookUrl = (): string | undefined =>
    typeof opts.webhookUrl === 'function' ? opts.webhookUrl() : opts.webhookUrl;

  const buildEvent = (type: string, object: Record<string, unknown>, id?: string): StripeEvent => ({
    id: id ?? randomId('evt_'),
    object: 'event',
    api_version: API_VERSION,
    created: nowSec(),
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    type,
    // Snapshot, so later state changes don't rewrite history that tests inspect.
    data: { object: structuredClone(object) },
  });

  const sign = (payload: string, timestampSec = nowSec(), secret = opts.webhookSecret): string => {
    const sig = createHmac('sha256', secret).update(`${timestampSec}.${payload}`, 'utf8').digest('hex');
    return `t=${timestampSec},v1=${sig}`;
  };

  const attemptDelivery = async (event: StripeEvent, target: string): Promise<number> => {
    // Stripe sends pretty-printed JSON; receivers must verify the raw bytes,
    // and this makes re-serialising the parsed body fail the signature check.
    const payload = JSON.stringify(event, null, 2);
    const attempt = deliveries.filter((d) => d.eventId === event.id).length + 1;
    let status = 0;
    try {
      const res = await fetch(target, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json; charset=utf-8',
          'User-Agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
          'Stripe-Signature': sign(payload),
        },
        body: payload,
        signal: AbortSignal.any([AbortSignal.timeout(10000), shutdown.signal]),
      });
      status = res.status;
      // Drain so keep-alive sockets are released promptly.
      await res.arrayBuffer().catch(() => undefined);
    } catch (err) {
      if (!closed) log(`stripe-emulator: webhook ${event.type} ${event.id} failed: ${String(err)}`);
    }
    deliveries.push({ eventId: event.id, type: event.type, status, attempt });
    return status;
  };

  const deliver = async (event: StripeEvent): Promise<number> => {
    const target = resolveWebhookUrl();
    if (!target) throw new Error('stripe-emulator: no webhookUrl configured');
    return attemptDelivery(event, target);
  };

  /**
   * Records the event and delivers it with retries. Resolves after the first
   * attempt so callers (tests, pay()) can observe the app's reaction, while
   * retries continue in the background.
   */
  const emit = async (type: string, object: Record<string, unknown>): Promise<void> => {
    const event = buildEvent(type, object);
    events.push(event);
    const send = async (retryIndex: number): Promise<void> => {
      if (closed) return;
      const target = resolveWebhookUrl();
      if (!target) {
        log(`stripe-emulator: ${type} ${event.id} not delivered (no webhook URL)`);
        return;
      }
      const status = await attemptDelivery(event, target);
      if (status >= 200 && status < 300) return;
      const delay = retryDelaysMs[retryIndex];
      if (delay === undefined || closed) {
        if (!closed) log(`stripe-emulator: giving up on ${type} ${event.id} (last status ${status})`);
        return;
      }
      log(`stripe-emulator: ${type} ${event.id} got ${status}, retrying in ${delay}ms`);
      schedule(delay, () => void send(retryIndex + 1));
    };
    await send(0);
  };

  const sessionEvent = (type: string, session: CheckoutSession): Promise<void> =>
    emit(type, { ...session });

  const ensureCharge = (state: SessionState): string => {
    state.chargeId ??= randomId('ch_');
    return state.chargeId;
  };

  const settle = async (sessionId: string, outcome: 'succeeded' | 'failed'): Promise<void> => {
    const { session, state } = getSession(sessionId);
    if (!state.awaitingSettlement) throw new Error(`Session ${sessionId} has no pending bank transfer`);
    state.awaitingSettlement = false;
    if (state.settleTimer) {
      clearTimeout(state.settleTimer);
      timers.delete(state.settleTimer);
      state.settleTimer = null;
    }
    if (outcome === 'succeeded') {
      session.payment_status = 'paid';
      ensureCharge(state);
      await sessionEvent('checkout.session.async_payment_succeeded', session);
    } else {
      await sessionEvent('checkout.session.async_payment_failed', session);
    }
  };

  const complete = (
    sessionId: string,
    method: 'card' | 'bank_transfer',
    details: { email?: string; name?: string } = {},
  ): Promise<void> => {
    const { session, state } = getSession(sessionId);
    if (session.status !== 'open') throw new Error(`Session ${sessionId} is ${session.status}, not open`);
    session.status = 'complete';
    session.url = null;
    session.payment_intent = randomId('pi_');
    session.customer_details = {
      email: details.email || session.customer_email,
      name: details.name || null,
    };
    if (method === 'card') {
      session.payment_status = 'paid';
      ensureCharge(state);
      return sessionEvent('checkout.session.completed', session);
    }
    session.payment_status = 'unpaid';
    state.awaitingSettlement = true;
    // The settle timer starts only after the completed event's first attempt so
    // that, even with settleDelayMs = 0, the app sees the events in Stripe's order.
    return sessionEvent('checkout.session.completed', session).then(() => {
      if (state.awaitingSettlement && !closed) {
        state.settleTimer = schedule(settleDelayMs, () => {
          state.settleTimer = null;
          settle(sessionId, 'succeeded').catch((err: unknown) => log(`stripe-emulator: settle failed: ${String(err)}`));
        });
      }
    });
  };

  const expire = async (sessionId: string): Promise<void> => {
    const { session } = getSession(sessionId);
    if (session.status !== 'open') {
      throw new Error(`Only Checkout Sessions with a status of open can be expired (${sessionId} is ${session.status})`);
    }
    session.status = 'expired';
    session.url = null;
    await sessionEvent('checkout.session.expired', session);
  };

  const refund = async (sessionId: string, amountCents?: number): Promise<void> => {
    const { session, state } = getSession(sessionId);
    if (session.payment_status !== 'paid' || !state.chargeId) throw new Error(`Session ${sessionId} is not paid`);
    const remaining = session.amount_total - state.amountRefunded;
    const amount = amountCents ?? remaining;
    if (!Number.isInteger(amount) || amount <= 0 || amount > remaining) {
      throw new Error(`Refund amount must be between 1 and ${remaining} (got ${amount})`);
    }
    state.amountRefunded += amount;
    await emit('charge.refunded', {
      id: state.chargeId,
      object: 'charge',
      amount: session.amount_total,
      amount_captured: session.amount_total,
      amount_refunded: state.amountRefunded,
      currency: session.currency,
      payment_intent: session.payment_intent,
      refunded: state.amountRefunded === session.amount_total,
      status: 'succeeded',
      paid: true,
      created: nowSec(),
      livemode: false,
    });
  };

  const createSession = (body: FormObject): CheckoutSession => {
    for (const key of Object.keys(body)) {
      if (!KNOWN_CREATE_PARAMS.has(key)) throw invalid(`Received unknown parameter: ${key}`, key);
    }
    const mode = requireString(body, 'mode', 'mode');
    if (mode !== 'payment') throw invalid(`Invalid mode: this emulator only supports mode=payment, got '${mode}'.`, 'mode');
    const items = body['line_items'];
    if (items === undefined) throw invalid('Missing required param: line_items.', 'line_items');
    if (!Array.isArray(items)) throw invalid('Invalid array: line_items must be an array.', 'line_items');
    if (items.length !== 1) throw invalid('This emulator supports exactly one line item.', 'line_items');
    const item = items[0];
    if (!isObj(item)) throw invalid('Invalid object: line_items[0].', 'line_items[0]');
    const p = 'line_items[0]';
    if (item['price'] !== undefined) throw invalid('This emulator only supports price_data, not price.', `${p}[price]`);
    const priceData = item['price_data'];
    if (!isObj(priceData)) throw invalid(`Missing required param: ${p}[price_data].`, `${p}[price_data]`);
    const currency = requireString(priceData, 'currency', `${p}[price_data][currency]`).toLowerCase();
    // Like Stripe, refuse a currency it cannot charge in.
    if (!isSupportedCurrency(currency)) throw invalid(`Invalid currency: ${currency}.`, `${p}[price_data][currency]`);
    const unitAmount = parseNonNegativeInt(
      requireString(priceData, 'unit_amount', `${p}[price_data][unit_amount]`),
      `${p}[price_data][unit_amount]`,
      0,
    );
    const productData = priceData['product_data'];
    if (!isObj(productData)) {
      throw invalid(`Missing required param: ${p}[price_data][product_data].`, `${p}[price_data][product_data]`);
    }
    const productName = requireString(productData, 'name', `${p}[price_data][product_data][name]`);
    const quantity = parseNonNegativeInt(requireString(item, 'quantity', `${p}[quantity]`), `${p}[quantity]`, 1);
    const successUrl = requireString(body, 'success_url', 'success_url');
    if (!isHttpUrl(successUrl)) throw invalid('Not a valid URL', 'success_url');
    const cancelUrl = requireString(body, 'cancel_url', 'cancel_url');
    if (!isHttpUrl(cancelUrl)) throw invalid('Not a valid URL', 'cancel_url');
    const clientReferenceId = optionalString(body, 'client_reference_id');
    if (clientReferenceId !== null && clientReferenceId.length > 200) {
      throw invalid('client_reference_id must be at most 200 characters.', 'client_reference_id');
    }
    const customerEmail = optionalString(body, 'customer_email');
    const metadata: Record<string, string> = {};
    const rawMeta = body['metadata'];
    if (rawMeta !== undefined && rawMeta !== '') {
      if (!isObj(rawMeta)) throw invalid('Invalid object: metadata.', 'metadata');
      for (const [k, v] of Object.entries(rawMeta)) {
        if (typeof v !== 'string') throw invalid(`Invalid metadata value for ${k}: must be a string.`, `metadata[${k}]`);
        // Stripe deletes a metadata key when it is set to an empty string.
        if (v !== '') metadata[k] = v;
      }
    }
    const id = randomId('cs_test_', 58);
    const created = nowSec();
    const amount = unitAmount * quantity;
    const session: CheckoutSession = {
      id,
      object: 'checkout.session',
      mode: 'payment',
      status: 'open',
      payment_status: 'unpaid',
      amount_total: amount,
      amount_subtotal: amount,
      currency,
      client_reference_id: clientReferenceId,
      metadata,
      customer_email: customerEmail,
      customer_details: null,
      success_url: successUrl,
      cancel_url: cancelUrl,
      url: `${baseUrl}/pay/${id}`,
      payment_intent: null,
      created,
      expires_at: created + SESSION_TTL_SEC,
      livemode: false,
    };
    sessions.set(id, session);
    states.set(id, { productName, chargeId: null, amountRefunded: 0, awaitingSettlement: false, settleTimer: null });
    return session;
  };

  const sendJson = (res: ServerResponse, status: number, body: string, extra: Record<string, string> = {}): void => {
    res.writeHead(status, {
      'Content-Type': 'application/json',
      'Request-Id': randomId('req_', 14),
      'Content-Length': Buffer.byteLength(body),
      ...extra,
    });
    res.end(body);
  };

  const sendHtml = (res: ServerResponse, status: number, html: string): void => {
    res.writeHead(status, {
      'Content-Type': 'text/html; charset=utf-8',
      'Content-Length': Buffer.byteLength(html),
      'Cache-Control': 'no-store',
    });
    res.end(html);
  };

  const redirect = (res: ServerResponse, location: string): void => {
    res.writeHead(303, { Location: location, 'Content-Length': 0 });
    res.end();
  };

  const handleApi = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    const method = req.method ?? 'GET';
    const rawBody = await readBody(req);
    const headers = flatHeaders(req);
    const body = parseForm(rawBody);
    requests.push({ method, path: url.pathname, query: parseForm(url.search.slice(1)), headers, body, rawBody });

    const auth = headers['authorization'] ?? '';
    if (!auth.startsWith('Bearer ')) {
      throw new ApiError(401, {
        type: 'invalid_request_error',
        message:
          "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
      });
    }
    const key = auth.slice('Bearer '.length).trim();
    if (!key.startsWith('sk_')) {
      throw new ApiError(401, {
        type: 'invalid_request_error',
        code: 'api_key_invalid',
        message: `Invalid API Key provided: ${key.slice(0, 8)}${'*'.repeat(Math.max(0, key.length - 12))}${key.slice(-4)}`,
      });
    }

    const failure = pendingFailures.shift();
    if (failure) {
      // Tell the SDK not to retry, so an injected 5xx surfaces to the app
      // instead of being silently absorbed by the SDK's own retries.
      sendJson(res, failure.status, JSON.stringify({ error: failure.error }), { 'Stripe-Should-Retry': 'false' });
      return;
    }

    const idemKey = method === 'POST' ? headers['idempotency-key'] : undefined;
    const fingerprint = `${method} ${url.pathname}\n${rawBody}`;
    if (idemKey) {
      const stored = idempotency.get(idemKey);
      if (stored) {
        if (stored.fingerprint !== fingerprint) {
          throw new ApiError(400, {
            type: 'idempotency_error',
            message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${idemKey}' if you meant to execute a different request.`,
          });
        }
        sendJson(res, stored.status, stored.body, { 'Idempotent-Replayed': 'true', 'Idempotency-Key': idemKey });
        return;
      }
    }

    const sessionMatch = /^\/v1\/checkout\/sessions\/([^/]+)(\/expire)?$/.exec(url.pathname);
    let result: CheckoutSession;
    if (url.pathname === '/v1/checkout/sessions' && method === 'POST') {
      result = createSession(body);
    } else if (sessionMatch && (method === 'GET' || (method === 'POST' && sessionMatch[2]))) {
      const id = decodeURIComponent(sessionMatch[1] ?? '');
      const session = sessions.get(id);
      if (!session) {
        throw new ApiError(404, {
          type: 'invalid_request_error',
          code: 'resource_missing',
          param: 'session',
          message: `No such checkout session: '${id}'`,
        });
      }
      if (sessionMatch[2]) {
        if (session.status !== 'open') {
          throw invalid(`Only Checkout Sessions with a status of open can be expired. This session has a status of ${session.status}.`);
        }
        await expire(id);
      }
      result = session;
    } else {
      throw new ApiError(404, {
        type: 'invalid_request_error',
        message: `Unrecognized request URL (${method}: ${url.pathname}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.`,
      });
    }
    const json = JSON.stringify(result);
    // Like Stripe, only requests that actually executed are stored for replay.
    if (idemKey) idempotency.set(idemKey, { fingerprint, status: 200, body: json });
    sendJson(res, 200, json, idemKey ? { 'Idempotency-Key': idemKey } : {});
  };

  const renderCheckout = (
    res: ServerResponse,
    status: number,
    session: CheckoutSession,
    state: SessionState,
    error?: string,
    values?: Record<string, string>,
  ): void => {
    sendHtml(
      res,
      status,
      checkoutPage({
        sessionId: session.id,
        productName: state.productName,
        amountTotal: session.amount_total,
        currency: session.currency,
        cancelUrl: session.cancel_url,
        lockedEmail: session.customer_email,
        ...(error !== undefined ? { error } : {}),
        ...(values
          ? {
              values: {
                method: values['method'] ?? 'card',
                email: values['email'] ?? '',
                cardNumber: values['card_number'] ?? '',
                expiry: values['expiry'] ?? '',
                cvc: values['cvc'] ?? '',
                name: values['name'] ?? '',
              },
            }
          : {}),
      }),
    );
  };

  const successUrlFor = (session: CheckoutSession): string =>
    session.success_url.replaceAll('{CHECKOUT_SESSION_ID}', session.id);

  const handlePay = async (req: IncomingMessage, res: ServerResponse, id: string): Promise<void> => {
    const session = sessions.get(id);
    const state = states.get(id);
    if (!session || !state) {
      sendHtml(res, 404, messagePage('Checkout session not found', `There is no checkout session with id ${id}.`));
      return;
    }
    const raw = req.method === 'POST' ? await readBody(req) : '';
    if (session.status !== 'open') {
      const links =
        session.status === 'complete'
          ? [{ href: successUrlFor(session), label: 'Continue to your order' }]
          : [{ href: session.cancel_url, label: '← Back' }];
      sendHtml(res, 410, messagePage('This checkout session is no longer active', `Its status is ${session.status}.`, links));
      return;
    }
    if (req.method !== 'POST') {
      renderCheckout(res, 200, session, state);
      return;
    }
    const values: Record<string, string> = Object.fromEntries(new URLSearchParams(raw));
    const method = values['method'] === 'bank_transfer' ? 'bank_transfer' : 'card';
    const email = session.customer_email ?? (values['email'] ?? '').trim();
    if (!email) {
      renderCheckout(res, 400, session, state, 'Enter your email address.', values);
      return;
    }
    if (method === 'card') {
      const number = (values['card_number'] ?? '').replace(/[\s-]/g, '');
      if (number === '4000000000009995') {
        renderCheckout(res, 402, session, state, 'Your card was declined: insufficient funds.', values);
        return;
      }
      if (number === '4000000000000002') {
        renderCheckout(res, 402, session, state, 'Your card was declined.', values);
        return;
      }
      if (number !== '4242424242424242') {
        renderCheckout(res, 400, session, state, 'Use a test card: 4242 4242 4242 4242', values);
        return;
      }
    }
    const delivered = complete(id, method, { email, ...(values['name'] ? { name: values['name'] } : {}) });
    // Redirect first: a real browser lands on the success page before (or while)
    // the webhook arrives, and the app must cope with that ordering.
    redirect(res, successUrlFor(session));
    delivered.catch((err: unknown) => log(`stripe-emulator: delivery error: ${String(err)}`));
  };

  const dashboardRows = (): DashboardRow[] =>
    [...sessions.values()].reverse().flatMap((s) => {
      const st = states.get(s.id);
      if (!st) return [];
      return [
        {
          id: s.id,
          productName: st.productName,
          amountTotal: s.amount_total,
          currency: s.currency,
          status: s.status,
          paymentStatus: s.payment_status,
          amountRefunded: st.amountRefunded,
          awaitingSettlement: st.awaitingSettlement,
          created: s.created,
        },
      ];
    });

  const parseDecimalAmount = (input: string, currency: string): number | undefined => {
    const trimmed = input.trim();
    if (trimmed === '') return undefined;
    const amount = parseAmount(trimmed, currency);
    if (amount === undefined) throw new Error(`Invalid amount "${trimmed}"`);
    return amount;
  };

  const handleDashboardAction = async (
    req: IncomingMessage,
    res: ServerResponse,
    id: string,
    action: string,
  ): Promise<void> => {
    const form = new URLSearchParams(await readBody(req));
    try {
      const session = sessions.get(id);
      if (!session) throw new Error(`No such checkout session: ${id}`);
      if (action === 'refund') {
        await refund(id, parseDecimalAmount(form.get('amount') ?? '', session.currency));
      } else if (action === 'expire') {
        await expire(id);
      } else {
        await settle(id, form.get('outcome') === 'failed' ? 'failed' : 'succeeded');
      }
      redirect(res, '/payments');
    } catch (err) {
      sendHtml(res, 400, dashboardPage(dashboardRows(), err instanceof Error ? err.message : String(err)));
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://emulator.invalid');
    const path = url.pathname;
    try {
      if (path.startsWith('/v1/')) {
        await handleApi(req, res, url);
        return;
      }
      const pay = /^\/pay\/([^/]+)$/.exec(path);
      if (pay && (req.method === 'GET' || req.method === 'POST')) {
        await handlePay(req, res, decodeURIComponent(pay[1] ?? ''));
        return;
      }
      if (path === '/payments' && req.method === 'GET') {
        sendHtml(res, 200, dashboardPage(dashboardRows()));
        return;
      }
      const action = /^\/payments\/([^/]+)\/(refund|expire|settle)$/.exec(path);
      if (action && req.method === 'POST') {
        await handleDashboardAction(req, res, decodeURIComponent(action[1] ?? ''), action[2] ?? '');
        return;
      }
      sendHtml(res, 404, messagePage('Not found', `Nothing at ${path}.`, [{ href: '/payments', label: 'Payments' }]));
    } catch (err) {
      if (res.headersSent) return;
      if (err instanceof ApiError) {
        sendJson(res, err.status, JSON.stringify({ error: err.body }));
      } else {
        log(`stripe-emulator: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
        sendJson(res, 500, JSON.stringify({ error: { type: 'api_error', message: 'Internal emulator error.' } }));
      }
    }
  };

  const server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  baseUrl = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  let closing: Promise<void> | null = null;
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      closed = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      shutdown.abort();
      server.close(() => resolve());
      // The SDK keeps sockets alive; without this close() would wait for them.
      server.closeAllConnections();
    });
    return closing;
  };

  return {
    url: baseUrl,
    close,
    requests,
    sessions,
    events,
    deliveries,
    failNext(status, error) {
      pendingFailures.push({ status, error });
    },
    async pay(sessionId, method = 'card') {
      await complete(sessionId, method);
    },
    settle,
    expire,
    refund,
    buildEvent,
    sign,
    deliver,
    patchSession(id, patch) {
      const session = sessions.get(id);
      if (!session) throw new Error(`No such checkout session: ${id}`);
      Object.assign(session, patch);
    },
  };
}
