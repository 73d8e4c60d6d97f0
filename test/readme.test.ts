// README.md is the newcomer's entry point: keep its commands and settings true.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SETTING_LIST } from '../src/config/settings.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };

describe('README.md', () => {
  it('documents every setting, with its flag and environment variable', () => {
    for (const s of SETTING_LIST) {
      assert.ok(readme.includes(`\`--${s.flag}\``), `README lacks --${s.flag}`);
      assert.ok(readme.includes(`\`${s.env}\``), `README lacks ${s.env}`);
    }
  });

  it('gives the run and test commands that package.json provides', () => {
    assert.match(readme, /```sh\nnpm install && npm start\n```/);
    assert.match(readme, /```sh\nnpm test\n```/);
    assert.ok(pkg.scripts['start']?.includes('dist/cli.js'));
    assert.ok(pkg.scripts['prepare']?.includes('build'), 'npm install builds dist/');
    assert.ok(pkg.scripts['postinstall']?.includes('install-faiss'), 'npm install makes faiss-node work');
  });

  it('is what .ci/run runs', () => {
    const ci = readFileSync(join(root, '.ci', 'run'), 'utf8');
    assert.match(ci, /^npm test$/m);
  });
});
