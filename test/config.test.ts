import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { helpText, parseCommandLine } from '../src/config/command-line.js';
import { defaultDataDir } from '../src/config/data-dir.js';
import { SETTING_LIST } from '../src/config/settings.js';
import { resolveProvider } from '../src/embeddings/create-provider.js';

const run = (argv: string[], env: Record<string, string> = {}) => {
  const parsed = parseCommandLine(argv, { HOME: '/home/u', ...env });
  if (parsed.kind !== 'run') throw new Error(JSON.stringify(parsed));
  return parsed.config;
};

describe('config', () => {
  it('has working defaults with nothing set', () => {
    const c = run([]);
    assert.equal(c.dataDir, '/home/u/.local/share/vector-memory-mcp');
    assert.equal(c.embeddingProvider, 'auto');
    assert.equal(resolveProvider(c, false), 'hash');
    assert.equal(c.embeddingModel, 'text-embedding-3-small');
  });

  it('lets flags override the environment', () => {
    const c = run(['--data-dir', '/flag', '--embedding-dimensions', '256'], {
      MEMORY_DATA_DIR: '/env',
      EMBEDDING_DIMENSIONS: '128',
    });
    assert.equal(c.dataDir, '/flag');
    assert.equal(c.embeddingDimensions, 256);
    assert.equal(run([], { MEMORY_DATA_DIR: '/env' }).dataDir, '/env');
  });

  it('resolves auto to openai when a key or base URL is set', () => {
    assert.equal(resolveProvider(run([], { OPENAI_API_KEY: 'sk-x' }), true), 'openai');
    assert.equal(resolveProvider(run([], { OPENAI_BASE_URL: 'http://localhost:11434/v1' }), true), 'openai');
    assert.equal(resolveProvider(run([], { OPENAI_API_KEY: 'sk-x', EMBEDDING_PROVIDER: 'hash' }), true), 'hash');
    assert.equal(resolveProvider(run([]), true), 'word-vectors', 'no key: word-vectors when installed');
    assert.equal(resolveProvider(run([]), false), 'hash', 'no key, not installed: hash');
  });

  it('names the setting when a value is bad, without echoing secrets', () => {
    const bad = parseCommandLine([], { EMBEDDING_DIMENSIONS: 'many' });
    assert.equal(bad.kind, 'error');
    assert.match((bad as { message: string }).message, /EMBEDDING_DIMENSIONS \(--embedding-dimensions\)/);
    const provider = parseCommandLine(['--embedding-provider', 'magic'], {});
    assert.match((provider as { message: string }).message, /EMBEDDING_PROVIDER/);
    const url = parseCommandLine([], { OPENAI_BASE_URL: 'not a url' });
    assert.match((url as { message: string }).message, /OPENAI_BASE_URL/);
    const flag = parseCommandLine(['--no-such-flag'], {});
    assert.equal(flag.kind, 'error');
  });

  it('uses the platform user data dir, never the package folder', () => {
    assert.equal(defaultDataDir({ HOME: '/h', XDG_DATA_HOME: '/x' }, 'linux'), '/x/vector-memory-mcp');
    assert.equal(defaultDataDir({ HOME: '/h' }, 'darwin'), '/h/Library/Application Support/vector-memory-mcp');
    assert.match(
      defaultDataDir({ HOME: 'C:\\U', LOCALAPPDATA: 'C:\\U\\AppData\\Local' }, 'win32'),
      /vector-memory-mcp$/,
    );
  });

  it('lists every setting in --help', () => {
    const parsed = parseCommandLine(['--help'], {});
    assert.equal(parsed.kind, 'help');
    for (const s of SETTING_LIST) {
      assert.ok(helpText().includes(`--${s.flag}`), s.flag);
      assert.ok(helpText().includes(s.env), s.env);
    }
  });
});

describe('config: switches', () => {
  it('reads a boolean flag and its environment variable', () => {
    assert.equal(run(['--allow-insecure-remote']).allowInsecureRemote, true);
    assert.equal(run([], { MEMORY_HTTP_ALLOW_INSECURE_REMOTE: '1' }).allowInsecureRemote, true);
    assert.equal(run([], { MEMORY_HTTP_ALLOW_INSECURE_REMOTE: 'no' }).allowInsecureRemote, false);
    assert.equal(run([]).allowInsecureRemote, false);
    const bad = parseCommandLine([], { MEMORY_HTTP_ALLOW_INSECURE_REMOTE: 'maybe' });
    assert.match((bad as { message: string }).message, /MEMORY_HTTP_ALLOW_INSECURE_REMOTE/);
  });

  it('splits comma lists', () => {
    assert.deepEqual(run(['--allowed-hosts', ' A.example.com, b.example.com ,']).allowedHosts, [
      'a.example.com',
      'b.example.com',
    ]);
  });
});
