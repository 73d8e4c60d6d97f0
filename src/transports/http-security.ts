// DNS-rebinding and access checks for the HTTP transport, as small pure functions.
//
// A web page in the user's browser can reach a server on 127.0.0.1 (by DNS rebinding, or a
// plain cross-origin POST). It cannot choose the Host header its own hostname produces, and
// browsers always send Origin on cross-origin requests, so the server accepts only Host
// values naming itself and, when present, Origins of those same names.
import { timingSafeEqual } from 'node:crypto';

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]'];

export interface AccessPolicy {
  /** Accepted Host values: "name:port" must match exactly; a bare "name" matches any port. */
  allowedHosts: readonly string[];
  /** Accepted Origin values, normalized "scheme://host[:port]". */
  allowedOrigins: readonly string[];
  /** Bearer token required on every request, when set. */
  token: string | undefined;
  /** A second token accepted on `/metrics` only (a Prometheus scraper need not hold the main one). */
  metricsToken?: string | undefined;
}

/** What a request asks for, as far as tokens go: `/metrics` also takes the metrics token. */
export type AccessScope = 'mcp' | 'metrics';

export type AccessDecision = { ok: true } | { ok: false; status: 401 | 403; reason: string };

/** Hosts a server bound to `bindHost:port` answers to by default. */
export function defaultAllowedHosts(bindHost: string, port: number): string[] {
  const host = formatHost(bindHost);
  const names = isLoopbackHost(bindHost) || isWildcard(bindHost) ? [...LOOPBACK_NAMES] : [];
  if (!isWildcard(bindHost) && !names.includes(host)) names.push(host);
  return names.map((n) => `${n}:${port}`);
}

export function buildPolicy(options: {
  bindHost: string;
  port: number;
  extraHosts?: readonly string[] | undefined;
  extraOrigins?: readonly string[] | undefined;
  token?: string | undefined;
  metricsToken?: string | undefined;
}): AccessPolicy {
  const allowedHosts = [...defaultAllowedHosts(options.bindHost, options.port), ...(options.extraHosts ?? [])].map(
    (h) => h.toLowerCase(),
  );
  const derived = allowedHosts.flatMap((h) => [`http://${h}`, `https://${h}`]);
  const allowedOrigins = [...derived, ...(options.extraOrigins ?? [])]
    .map(normalizeOrigin)
    .filter((o): o is string => o !== null);
  return { allowedHosts, allowedOrigins, token: options.token, metricsToken: options.metricsToken };
}

export function checkAccess(
  headers: { host?: string | undefined; origin?: string | undefined; authorization?: string | undefined },
  policy: AccessPolicy,
  scope: AccessScope = 'mcp',
): AccessDecision {
  if (!hostAllowed(headers.host, policy.allowedHosts)) {
    return { ok: false, status: 403, reason: `Host ${JSON.stringify(headers.host ?? '')} is not allowed` };
  }
  if (!originAllowed(headers.origin, policy.allowedOrigins)) {
    return { ok: false, status: 403, reason: `Origin ${JSON.stringify(headers.origin)} is not allowed` };
  }
  const tokens = acceptedTokens(policy, scope);
  if (tokens.length > 0 && !tokens.some((t) => bearerMatches(headers.authorization, t))) {
    return { ok: false, status: 401, reason: 'a valid bearer token is required' };
  }
  return { ok: true };
}

/** The tokens that open `scope`; none means no token is needed. */
export function acceptedTokens(policy: AccessPolicy, scope: AccessScope): string[] {
  const tokens = scope === 'metrics' ? [policy.token, policy.metricsToken] : [policy.token];
  return tokens.filter((t): t is string => t !== undefined);
}

export function hostAllowed(host: string | undefined, allowed: readonly string[]): boolean {
  if (!host) return false;
  const h = host.trim().toLowerCase();
  if (!/^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:\d{1,5})?$/.test(h)) return false;
  const name = h.startsWith('[') ? h.slice(0, h.indexOf(']') + 1) : h.split(':')[0]!;
  return allowed.some((a) => (hasPort(a) ? a === h : a === name));
}

/** No Origin (non-browser clients) is allowed; a present one must be listed. "null" never is. */
export function originAllowed(origin: string | undefined, allowed: readonly string[]): boolean {
  if (origin === undefined) return true;
  const o = normalizeOrigin(origin);
  return o !== null && allowed.includes(o);
}

export function normalizeOrigin(origin: string): string | null {
  if (origin === 'null') return null;
  try {
    const u = new URL(origin);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
    return `${u.protocol}//${u.host}`.toLowerCase();
  } catch {
    return null;
  }
}

export function bearerMatches(authorization: string | undefined, token: string): boolean {
  if (!authorization) return false;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  if (!m) return false;
  const given = Buffer.from(m[1]!, 'utf8');
  const expected = Buffer.from(token, 'utf8');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '[::]';
}

function formatHost(host: string): string {
  const h = host.toLowerCase();
  return h.includes(':') && !h.startsWith('[') ? `[${h}]` : h;
}

function hasPort(hostEntry: string): boolean {
  return /:\d{1,5}$/.test(hostEntry) && !/^\[[^\]]*\]$/.test(hostEntry);
}
