import { accessSync, constants, mkdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { MemoryError, errorMessage } from '../shared/errors.js';

/** The platform's user data directory for the server, never the package folder. */
export function defaultDataDir(env: NodeJS.ProcessEnv, platform: NodeJS.Platform = process.platform): string {
  const home = env['HOME'] ?? env['USERPROFILE'] ?? homedir();
  if (platform === 'win32') return join(env['LOCALAPPDATA'] ?? join(home, 'AppData', 'Local'), 'vector-memory-mcp');
  if (platform === 'darwin') return join(home, 'Library', 'Application Support', 'vector-memory-mcp');
  return join(env['XDG_DATA_HOME'] || join(home, '.local', 'share'), 'vector-memory-mcp');
}

/** The platform's user cache directory for the server: what every data directory may share. */
export function defaultCacheDir(env: NodeJS.ProcessEnv, platform: NodeJS.Platform = process.platform): string {
  const home = env['HOME'] ?? env['USERPROFILE'] ?? homedir();
  if (platform === 'win32') {
    return join(env['LOCALAPPDATA'] ?? join(home, 'AppData', 'Local'), 'vector-memory-mcp', 'cache');
  }
  if (platform === 'darwin') return join(home, 'Library', 'Caches', 'vector-memory-mcp');
  return join(env['XDG_CACHE_HOME'] || join(home, '.cache'), 'vector-memory-mcp');
}

/**
 * Makes sure the data dir is a folder this user can write (creating it if needed), so a bad
 * one is reported as the configuration error it is (exit 2), naming the setting and the path,
 * instead of as whatever the database or the index happens to fail with later.
 */
export function checkDataDir(path: string): void {
  const bad = (problem: string) =>
    new MemoryError('CONFIG_INVALID', `--data-dir / MEMORY_DATA_DIR: ${path} ${problem}`, {
      hint: 'pass --data-dir (or set MEMORY_DATA_DIR) to a folder this user can write',
    });
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    try {
      mkdirSync(path, { recursive: true });
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOTDIR' || code === 'EEXIST') throw bad('cannot be created: part of the path is a file');
      if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
        throw bad('cannot be created: its parent folder is not writable by this user');
      }
      throw bad(`cannot be created: ${errorMessage(err)}`);
    }
  }
  if (!isDir) throw bad('is a file, not a folder');
  try {
    accessSync(path, constants.W_OK | constants.X_OK);
  } catch {
    throw bad('is not writable by this user');
  }
}
