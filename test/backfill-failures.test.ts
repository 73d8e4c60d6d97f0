import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TransientError, batchError, failureKind } from '../src/backfill/failures.js';
import { EmbeddingError, MemoryError } from '../src/shared/errors.js';

const http = (status: number, permanent: boolean) =>
  new EmbeddingError(`HTTP ${status}`, { permanent, status, hint: `hint for ${status}` });

describe('backfill failure classification', () => {
  it('tells a bad record from a bad account from a passing fault', () => {
    const cases: [unknown, string][] = [
      [http(400, true), 'input'],
      [http(422, true), 'input'],
      [new EmbeddingError('text 3 has 90000 characters', { permanent: true }), 'input'],
      [http(401, true), 'account'],
      [http(402, true), 'account'],
      [http(403, true), 'account'],
      [http(404, true), 'account'],
      [http(429, false), 'transient'],
      [http(503, false), 'transient'],
      [new EmbeddingError('timed out', { permanent: false }), 'transient'],
      [new Error('socket hang up'), 'transient'],
      ['not even an error', 'transient'],
    ];
    for (const [err, kind] of cases) assert.equal(failureKind(err), kind, String(err));
  });

  it('a transient failure makes the run back off; any other ends the batch with the reason and hint', () => {
    assert.ok(batchError(http(503, false)) instanceof TransientError);
    const account = batchError(http(401, true));
    assert.ok(account instanceof MemoryError);
    assert.equal((account as MemoryError).code, 'EMBEDDING_FAILED');
    assert.equal((account as MemoryError).hint, 'hint for 401');
    assert.match(account.message, /HTTP 401/);
  });
});
