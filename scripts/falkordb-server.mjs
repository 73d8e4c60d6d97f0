#!/usr/bin/env node
// Starts a throwaway FalkorDB server for tests and local development:
//   node scripts/falkordb-server.mjs [--port N]     (prints redis://127.0.0.1:N, Ctrl-C stops)
//
// FalkorDB is a module for a Redis-compatible server >= 7.2. The module comes from the npm
// package @falkordblite/linux-x64 (installed on first use into .cache/falkordb); the server is
// valkey-server (Debian bookworm-backports; installed with apt-get when running as root), or
// redis-server when it is new enough.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const FALKORDB_MODULE_PACKAGE = '@falkordblite/linux-x64@8.2.3-falkordb.4.16.3';
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const cache = join(root, '.cache', 'falkordb');
const BACKPORTS = `Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
`;

export function falkordbModulePath() {
  const so = join(cache, 'node_modules', '@falkordblite', 'linux-x64', 'bin', 'falkordb.so');
  if (existsSync(so)) return so;
  mkdirSync(cache, { recursive: true });
  writeFileSync(join(cache, 'package.json'), JSON.stringify({ name: 'falkordb-cache', private: true }));
  const r = spawnSync('npm', ['install', '--no-audit', '--no-fund', FALKORDB_MODULE_PACKAGE], {
    cwd: cache,
    encoding: 'utf8',
  });
  if (r.status !== 0 || !existsSync(so)) throw new Error(`could not install ${FALKORDB_MODULE_PACKAGE}: ${r.stderr}`);
  return so;
}

function serverVersion(bin) {
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  if (r.status !== 0) return null;
  const m = /v=(\d+)\.(\d+)/.exec(r.stdout);
  return m ? [Number(m[1]), Number(m[2])] : null;
}

export function serverBinary() {
  const valkey = serverVersion('valkey-server');
  if (valkey) return 'valkey-server';
  const redis = serverVersion('redis-server');
  if (redis && (redis[0] > 7 || (redis[0] === 7 && redis[1] >= 2))) return 'redis-server';
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (isRoot && existsSync('/usr/bin/apt-get') && existsSync('/etc/debian_version')) {
    const list = '/etc/apt/sources.list.d/bookworm-backports.sources';
    if (!existsSync(list)) writeFileSync(list, BACKPORTS);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    spawnSync('apt-get', ['update', '-qq'], { stdio: 'ignore', env });
    spawnSync('apt-get', ['install', '-y', '-qq', '-t', 'bookworm-backports', 'valkey-server'], {
      stdio: 'ignore',
      env,
    });
    if (serverVersion('valkey-server')) return 'valkey-server';
  }
  throw new Error(
    'FalkorDB needs a Redis-compatible server >= 7.2. On Debian bookworm: add bookworm-backports and ' +
      '`apt-get install -t bookworm-backports valkey-server`.',
  );
}

/** True when something on the port answers PING with PONG within half a second. */
function answersPing(port) {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (d) => done(String(d).includes('PONG')));
    socket.on('error', () => done(false));
  });
}

export function freePort() {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolvePort(port));
    });
  });
}

/** Starts a server; resolves to { url, port, stop(), pause(), resume() } once it answers PING. */
export async function startFalkorDB(options = {}) {
  const bin = serverBinary();
  const module = falkordbModulePath();
  const port = options.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'falkordb-'));
  // persist: an append-only file (fsync always), so data survives kill() + restart().
  const durability = options.persist ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no'];
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    ...durability,
    '--dir',
    dir,
    '--loadmodule',
    module,
  ];
  let child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const capture = (c) => (log = (log + c.toString()).slice(-4000));
  child.stdout.on('data', capture);
  child.stderr.on('data', capture);
  const waitReady = async () => {
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      if (await answersPing(port)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`FalkorDB did not start on port ${port}:\n${log}`);
  };
  await waitReady();
  const stopChild = () =>
    new Promise((res) => {
      if (child.exitCode !== null) return res();
      child.once('exit', () => res());
      child.kill('SIGTERM');
    });
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    log: () => log,
    /** Stops the server (its data is lost: it keeps nothing on disk). */
    async stop() {
      await stopChild();
      rmSync(dir, { recursive: true, force: true });
    },
    /** Simulates an outage: the process stops; restart() brings it back (with its data when started with persist). */
    async kill() {
      await stopChild();
    },
    async restart() {
      child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout.on('data', capture);
      child.stderr.on('data', capture);
      await waitReady();
    },
  };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf('--port');
  const server = await startFalkorDB(i > 0 ? { port: Number(process.argv[i + 1]) } : {});
  process.stdout.write(`${server.url}\n`);
  const stop = () => server.stop().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
