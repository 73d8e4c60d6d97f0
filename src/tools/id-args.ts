import { z } from 'zod';
import { MemoryError } from '../shared/errors.js';

/** Input of the tools that take one id or several. */
export const IdOrIdsInput = {
  id: z.string().optional(),
  ids: z.array(z.string()).optional(),
};

export function noneFound(missing: readonly string[], hint: string): MemoryError {
  return new MemoryError('NOT_FOUND', `no memory has id ${missing.map((m) => `"${m}"`).join(', ')}`, { hint });
}

export function idList(args: { id?: string | undefined; ids?: string[] | undefined }): string[] {
  if (args.id !== undefined && args.ids !== undefined) {
    throw new MemoryError('INVALID_INPUT', 'pass either id or ids, not both', { hint: 'use ids for several' });
  }
  if (args.id !== undefined) return [args.id];
  if (args.ids !== undefined) return args.ids;
  throw new MemoryError('INVALID_INPUT', 'pass id (one memory) or ids (several)', {
    hint: 'memory_search returns ids',
  });
}
