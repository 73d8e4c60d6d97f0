import { homedir } from 'node:os';
import { join } from 'node:path';

/** The platform's user data directory for the server, never the package folder. */
export function defaultDataDir(env: NodeJS.ProcessEnv, platform: NodeJS.Platform = process.platform): string {
  const home = env['HOME'] ?? env['USERPROFILE'] ?? homedir();
  if (platform === 'win32') return join(env['LOCALAPPDATA'] ?? join(home, 'AppData', 'Local'), 'vector-memory-mcp');
  if (platform === 'darwin') return join(home, 'Library', 'Application Support', 'vector-memory-mcp');
  return join(env['XDG_DATA_HOME'] || join(home, '.local', 'share'), 'vector-memory-mcp');
}
