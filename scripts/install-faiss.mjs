#!/usr/bin/env node
// Makes sure `faiss-node` loads after `npm install`.
//
// faiss-node is an optional dependency: where its prebuilt binary can be downloaded,
// npm installs it as usual and this script only checks it. Where it cannot (no access
// to GitHub, as on the machines this project is built on), this script fetches its
// sources from the npm registry and compiles them against the system's libfaiss
// (Debian: libfaiss-dev, libopenblas-dev) into native/faiss-node, a folder of this
// package: npm marks an optional dependency whose own install script failed as failed and
// deletes its folder at the end of a packaged install (npm install -g, npx), even after
// this script built it there. src/index/faiss/faiss-index.ts loads `faiss-node` and
// falls back to native/faiss-node.
//
// When no faiss-node can be made to work, this script fails (and with it the install),
// naming what to install. Set VECTOR_MEMORY_SKIP_FAISS_BUILD=1 to skip: the server then
// starts, keeps memories and answers keyword searches, and reports semantic search as
// unavailable, naming this script as the fix.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const FAISS_NODE_VERSION = '0.5.1';
const DEBIAN_PACKAGES = ['libfaiss-dev', 'libopenblas-dev'];
const here = dirname(fileURLToPath(import.meta.url));
const projectRoot = resolve(here, '..');
const require = createRequire(join(projectRoot, 'package.json'));

const log = (msg) => process.stderr.write(`[install-faiss] ${msg}\n`);

/** The package's own build of faiss-node (see the top of this file). */
const ownedDir = join(projectRoot, 'native', 'faiss-node');

function faissWorks(spec) {
  // Checked in a child process: a broken binary (for instance one built without RTTI,
  // whose toBuffer() segfaults) cannot take this script down, and Node's module cache
  // cannot remember an earlier failed load.
  const probe = spawnSync(
    process.execPath,
    [
      '-e',
      `const f=require(${JSON.stringify(spec)});const i=new f.IndexFlatIP(2);i.add([1,0,0,1]);` +
        'const j=f.Index.fromBuffer(i.toBuffer());if(j.ntotal()!==2)process.exit(3)',
    ],
    { cwd: projectRoot, stdio: 'ignore' },
  );
  return probe.status === 0;
}

function run(cmd, args, opts = {}) {
  log(`$ ${cmd} ${args.join(' ')}`);
  const res = spawnSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'], ...opts });
  if (res.error) throw res.error;
  return res.status === 0;
}

function multiarchLibDir() {
  const res = spawnSync('gcc', ['-print-multiarch'], { encoding: 'utf8' });
  const triple = res.status === 0 ? res.stdout.trim() : '';
  return triple ? `/usr/lib/${triple}` : '/usr/lib';
}

function ensureSystemLibraries(libDir) {
  const have = () => existsSync('/usr/include/faiss/Index.h') && existsSync(join(libDir, 'libfaiss.a'));
  if (have()) return;
  const command = `apt-get install -y ${DEBIAN_PACKAGES.join(' ')}`;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (isRoot && existsSync('/usr/bin/apt-get')) {
    log(`libfaiss is missing; installing ${DEBIAN_PACKAGES.join(', ')} with apt-get`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    if (!run('apt-get', ['install', '-y', ...DEBIAN_PACKAGES], { env })) {
      run('apt-get', ['update'], { env });
      run('apt-get', ['install', '-y', ...DEBIAN_PACKAGES], { env });
    }
  }
  if (!have()) {
    fail(
      `faiss-node has no prebuilt binary for this machine and libfaiss is not installed.\n` +
        `Install it, then run npm install again:\n    sudo ${command}\n` +
        `(other systems: install faiss 1.7.x with its static library and OpenBLAS)`,
    );
  }
}

function fail(message) {
  log(message);
  process.exit(1);
}

function fetchSources(target) {
  if (existsSync(join(target, 'src', 'faiss.cc'))) return;
  const work = mkdtempSync(join(tmpdir(), 'faiss-node-src-'));
  try {
    if (
      !run('npm', ['pack', `faiss-node@${FAISS_NODE_VERSION}`, '--silent', '--pack-destination', work], { cwd: work })
    ) {
      fail(`could not download faiss-node@${FAISS_NODE_VERSION} from the npm registry`);
    }
    const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'));
    if (!tarball) fail('npm pack produced no tarball');
    rmSync(target, { recursive: true, force: true });
    mkdirSync(target, { recursive: true });
    if (!run('tar', ['xzf', join(work, tarball), '-C', target, '--strip-components=1']))
      fail('could not unpack faiss-node');
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function nodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    join(
      dirname(process.execPath),
      '..',
      'lib',
      'node_modules',
      'npm',
      'node_modules',
      'node-gyp',
      'bin',
      'node-gyp.js',
    ),
  ].filter(Boolean);
  const found = candidates.find((p) => existsSync(p));
  return found ? [process.execPath, [found]] : ['npx', ['--yes', 'node-gyp']];
}

function build(target, libDir) {
  copyFileSync(join(here, 'faiss-compat.h'), join(target, 'compat.h'));
  const gyp = {
    targets: [
      {
        target_name: 'faiss-node',
        sources: ['src/faiss.cc'],
        include_dirs: [`<!(node -p "require('node-addon-api').include_dir")`],
        defines: ['NAPI_VERSION=8'],
        'cflags!': ['-fno-exceptions'],
        'cflags_cc!': ['-fno-exceptions', '-fno-rtti'],
        // -frtti matters: without it write()/toBuffer() of a flat index segfaults.
        cflags_cc: ['-include ../compat.h', '-std=c++17', '-fexceptions', '-frtti', '-fopenmp', '-O3'],
        libraries: [join(libDir, 'libfaiss.a'), '-lopenblas', '-lgomp'],
      },
    ],
  };
  writeFileSync(join(target, 'binding.gyp'), JSON.stringify(gyp, null, 2));
  const [cmd, args] = nodeGyp();
  // Build against the running Node's own headers when it ships them (no download).
  const prefix = resolve(dirname(process.execPath), '..');
  const nodedir =
    process.env.npm_config_nodedir || (existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? prefix : undefined);
  const extra = nodedir ? [`--nodedir=${nodedir}`] : [];
  if (!run(cmd, [...args, 'rebuild', ...extra], { cwd: target }))
    fail('node-gyp could not build faiss-node (see the output above)');
  // Keep what loading needs (lib/, package.json, build/Release/faiss-node.node): the object
  // files and sources are most of the folder.
  for (const part of ['build/Release/obj.target', 'build/Release/.deps', 'src', 'deps', 'examples', 'test']) {
    rmSync(join(target, part), { recursive: true, force: true });
  }
}

if (process.env.VECTOR_MEMORY_SKIP_FAISS_BUILD === '1') {
  log('skipped (VECTOR_MEMORY_SKIP_FAISS_BUILD=1)');
} else if (faissWorks('faiss-node')) {
  log('faiss-node loads: nothing to build');
} else if (faissWorks(ownedDir)) {
  log(`faiss-node loads from ${ownedDir}: nothing to build`);
} else {
  const started = Date.now();
  log(`no working faiss-node binary; building faiss-node@${FAISS_NODE_VERSION} against the system libfaiss`);
  const libDir = multiarchLibDir();
  ensureSystemLibraries(libDir);
  // node-addon-api (build) and bindings (load) resolve from our dependencies, up the tree.
  require.resolve('node-addon-api');
  fetchSources(ownedDir);
  build(ownedDir, libDir);
  if (!faissWorks(ownedDir)) fail('faiss-node was built but does not load; see the output above');
  log(`faiss-node built into ${ownedDir} and verified in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}
