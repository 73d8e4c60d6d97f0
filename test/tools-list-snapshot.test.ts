// Tool descriptions and schemas are what a model reads: a change to them must be deliberate.
// After an intended change, regenerate with: UPDATE_SNAPSHOTS=1 npm test
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startHarness, testConfig } from './helpers/harness.js';
import { tempDir } from './helpers/tmp.js';

const file = join(fileURLToPath(new URL('.', import.meta.url)), 'snapshots', 'tools-list.json');

describe('tools/list snapshot', () => {
  it('matches test/snapshots/tools-list.json', async () => {
    const dir = tempDir();
    const h = await startHarness(testConfig(dir.path));
    const listed = JSON.stringify(await h.client.listTools(), null, 2) + '\n';
    await h.close();
    dir.cleanup();
    if (process.env['UPDATE_SNAPSHOTS'] === '1' || !existsSync(file)) {
      writeFileSync(file, listed);
      if (process.env['CI']) assert.fail('snapshot was missing in CI; run UPDATE_SNAPSHOTS=1 npm test and commit it');
    }
    assert.equal(listed, readFileSync(file, 'utf8'), 'tools/list changed; if intended, UPDATE_SNAPSHOTS=1 npm test');
  });
});
