// A bad --data-dir is a configuration error: exit 2, naming the setting, the path and the problem.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { cliPath } from './helpers/spawn-server.js';
import { tempDir } from './helpers/tmp.js';

function run(dataDir: string) {
  return spawnSync(process.execPath, [cliPath, '--data-dir', dataDir, 'health'], {
    env: { PATH: process.env['PATH'] ?? '', HOME: dataDir, EMBEDDING_PROVIDER: 'hash' },
    encoding: 'utf8',
    timeout: 60_000,
  });
}

describe('--data-dir checks at startup (the built binary)', () => {
  it('a file as data dir: exit 2, "is a file"', () => {
    const dir = tempDir();
    try {
      const file = join(dir.path, 'not-a-dir');
      writeFileSync(file, 'x');
      const r = run(file);
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, new RegExp(`--data-dir / MEMORY_DATA_DIR: ${file} is a file, not a folder`));
    } finally {
      dir.cleanup();
    }
  });

  it('a path through a file: exit 2, "part of the path is a file"', () => {
    const dir = tempDir();
    try {
      writeFileSync(join(dir.path, 'file'), 'x');
      const r = run(join(dir.path, 'file', 'data'));
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, /MEMORY_DATA_DIR: .*file\/data cannot be created: part of the path is a file/);
    } finally {
      dir.cleanup();
    }
  });

  it('a folder this user cannot write: exit 2, "is not writable by this user"', (t) => {
    if (process.getuid?.() === 0) return t.skip('root writes any folder: cannot be tested as root');
    const dir = tempDir();
    try {
      const ro = join(dir.path, 'ro');
      mkdirSync(ro);
      chmodSync(ro, 0o500);
      const r = run(ro);
      chmodSync(ro, 0o700);
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, /MEMORY_DATA_DIR: .*ro is not writable by this user/);
    } finally {
      dir.cleanup();
    }
  });

  it('a folder that does not exist yet is created', () => {
    const dir = tempDir();
    try {
      const r = run(join(dir.path, 'new', 'data'));
      assert.notEqual(r.status, 2, r.stderr);
      assert.doesNotMatch(r.stderr, /MEMORY_DATA_DIR/);
    } finally {
      dir.cleanup();
    }
  });
});
