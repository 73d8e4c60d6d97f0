import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  acceptedTokens,
  bearerMatches,
  buildPolicy,
  checkAccess,
  defaultAllowedHosts,
  hostAllowed,
  isLoopbackHost,
  normalizeOrigin,
  originAllowed,
} from '../src/transports/http-security.js';

describe('http security checks', () => {
  const policy = buildPolicy({ bindHost: '127.0.0.1', port: 3333 });

  it('allows the loopback names with the bound port by default', () => {
    assert.deepEqual(defaultAllowedHosts('127.0.0.1', 3333), ['localhost:3333', '127.0.0.1:3333', '[::1]:3333']);
    assert.deepEqual(defaultAllowedHosts('10.0.0.5', 80), ['10.0.0.5:80']);
    assert.deepEqual(defaultAllowedHosts('::1', 9), ['localhost:9', '127.0.0.1:9', '[::1]:9']);
    assert.deepEqual(defaultAllowedHosts('0.0.0.0', 9), ['localhost:9', '127.0.0.1:9', '[::1]:9']);
  });

  const hosts: [string | undefined, boolean][] = [
    ['localhost:3333', true],
    ['LOCALHOST:3333', true],
    ['127.0.0.1:3333', true],
    ['[::1]:3333', true],
    ['localhost:3334', false],
    ['localhost', false],
    ['evil.example.com', false],
    ['evil.example.com:3333', false],
    ['127.0.0.1.evil.com:3333', false],
    ['localhost:3333@evil.com', false],
    ['localhost:3333 ', true],
    ['', false],
    [undefined, false],
    ['localhost:3333/path', false],
  ];
  for (const [host, ok] of hosts) {
    it(`Host ${JSON.stringify(host)} -> ${ok ? 'allowed' : 'refused'}`, () => {
      assert.equal(hostAllowed(host, policy.allowedHosts), ok);
    });
  }

  it('matches a configured bare host name on any port (reverse proxies)', () => {
    const p = buildPolicy({ bindHost: '127.0.0.1', port: 3333, extraHosts: ['memory.example.com'] });
    assert.equal(hostAllowed('memory.example.com', p.allowedHosts), true);
    assert.equal(hostAllowed('memory.example.com:443', p.allowedHosts), true);
    assert.equal(hostAllowed('other.example.com', p.allowedHosts), false);
  });

  const origins: [string | undefined, boolean][] = [
    [undefined, true],
    ['http://localhost:3333', true],
    ['http://127.0.0.1:3333', true],
    ['https://localhost:3333', true],
    ['http://localhost:3333/', true],
    ['http://evil.example.com', false],
    ['http://localhost:3334', false],
    ['null', false],
    ['file://', false],
    ['not a url', false],
  ];
  for (const [origin, ok] of origins) {
    it(`Origin ${JSON.stringify(origin)} -> ${ok ? 'allowed' : 'refused'}`, () => {
      assert.equal(originAllowed(origin, policy.allowedOrigins), ok);
    });
  }

  it('normalizes origins', () => {
    assert.equal(normalizeOrigin('HTTPS://Memory.Example.com:443/x'), 'https://memory.example.com');
    assert.equal(normalizeOrigin('javascript:alert(1)'), null);
  });

  it('compares bearer tokens exactly', () => {
    const token = 'a-long-enough-secret-token';
    assert.equal(bearerMatches(`Bearer ${token}`, token), true);
    assert.equal(bearerMatches(`bearer ${token}`, token), true);
    assert.equal(bearerMatches(`Bearer ${token}x`, token), false);
    assert.equal(bearerMatches(`Basic ${token}`, token), false);
    assert.equal(bearerMatches(token, token), false);
    assert.equal(bearerMatches(undefined, token), false);
    assert.equal(bearerMatches('Bearer ', token), false);
  });

  it('decides with the right status: Host and Origin 403 before the token 401', () => {
    const p = buildPolicy({ bindHost: '127.0.0.1', port: 1, token: 'a-long-enough-secret-token' });
    assert.deepEqual(checkAccess({ host: 'evil:1' }, p).ok, false);
    assert.equal((checkAccess({ host: 'evil:1' }, p) as { status: number }).status, 403);
    assert.equal((checkAccess({ host: 'localhost:1', origin: 'http://evil' }, p) as { status: number }).status, 403);
    assert.equal((checkAccess({ host: 'localhost:1' }, p) as { status: number }).status, 401);
    assert.deepEqual(checkAccess({ host: 'localhost:1', authorization: 'Bearer a-long-enough-secret-token' }, p), {
      ok: true,
    });
  });

  it('the metrics token opens the metrics scope only; the main token opens both; neither set: none needed', () => {
    const main = 'main-token-0123456789abcdef';
    const scraper = 'scrape-token-0123456789abcdef';
    const bearer = (t: string) => ({ host: 'localhost:1', authorization: `Bearer ${t}` });
    const both = buildPolicy({ bindHost: '127.0.0.1', port: 1, token: main, metricsToken: scraper });
    assert.equal(checkAccess(bearer(scraper), both, 'metrics').ok, true);
    assert.equal(checkAccess(bearer(main), both, 'metrics').ok, true);
    assert.equal(checkAccess(bearer(main), both, 'mcp').ok, true);
    assert.equal((checkAccess(bearer(scraper), both, 'mcp') as { status: number }).status, 401);
    assert.equal((checkAccess(bearer(scraper), both) as { status: number }).status, 401, 'mcp is the default scope');
    assert.equal((checkAccess({ host: 'localhost:1' }, both, 'metrics') as { status: number }).status, 401);
    assert.equal(
      (checkAccess({ ...bearer(scraper), host: 'evil:1' }, both, 'metrics') as { status: number }).status,
      403,
    );
    const scraperOnly = buildPolicy({ bindHost: '127.0.0.1', port: 1, metricsToken: scraper });
    assert.deepEqual(acceptedTokens(scraperOnly, 'metrics'), [scraper]);
    assert.deepEqual(acceptedTokens(scraperOnly, 'mcp'), []);
    assert.equal(checkAccess({ host: 'localhost:1' }, scraperOnly, 'mcp').ok, true);
    assert.equal(checkAccess({ host: 'localhost:1' }, scraperOnly, 'metrics').ok, false);
    assert.deepEqual(acceptedTokens(buildPolicy({ bindHost: '127.0.0.1', port: 1 }), 'metrics'), []);
  });

  it('knows loopback addresses', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]']) assert.equal(isLoopbackHost(h), true, h);
    for (const h of ['0.0.0.0', '10.0.0.1', '::', 'example.com', '128.0.0.1'])
      assert.equal(isLoopbackHost(h), false, h);
  });
});
