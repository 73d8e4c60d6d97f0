// tools/list as clients receive it: the tools' zod schemas as JSON Schema (draft 7, as the SDK
// makes them), then made compact and portable. Compact, because a model reads tools/list on
// every turn ($schema on every schema is 50 characters of nothing; output schemas keep only
// the shape: no descriptions, no required lists); portable, because strict
// clients warn about or reject type arrays (["string", "null"]) and untyped `{}` schemas.
import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';

type Json = { [key: string]: unknown };

/** The JSON Schema a client is shown for `schema`. */
export function publishedSchema(schema: z.ZodType, io: 'input' | 'output'): Tool['inputSchema'] {
  const json = z.toJSONSchema(schema, { target: 'draft-7', io }) as Json;
  delete json['$schema'];
  return portable(json, io === 'output') as Tool['inputSchema'];
}

/**
 * Type arrays become anyOf, `{}` additionalProperties become `true`, the implied integer bound
 * goes. In output schemas (what the server promises, read by clients, not written by models)
 * descriptions and `additionalProperties: false` go too: the tool description says what a
 * reply means.
 */
function portable(node: unknown, output: boolean): unknown {
  if (Array.isArray(node)) return node.map((n) => portable(n, output));
  if (node === null || typeof node !== 'object') return node;
  const out: Json = {};
  for (const [key, value] of Object.entries(node as Json)) {
    if (key === 'additionalProperties' && isEmptyObject(value)) out[key] = true;
    else if (key === 'maximum' && value === Number.MAX_SAFE_INTEGER) continue;
    else if (output && key === 'description' && typeof value === 'string') continue;
    else if (output && key === 'additionalProperties' && value === false) continue;
    else if (output && key === 'required') continue;
    else out[key] = portable(value, output);
  }
  // An object of any fields: {"type": "object"} says it (additionalProperties defaults to true).
  if (out['type'] === 'object' && isEmptyObject(out['properties']) && out['additionalProperties'] === true) {
    delete out['properties'];
    delete out['additionalProperties'];
  }
  const type = out['type'];
  if (Array.isArray(type)) {
    // ["string", "null"] -> anyOf of single types (the other keywords stay with the non-null branch).
    const { type: _t, description, ...rest } = out;
    return {
      ...(description !== undefined ? { description } : {}),
      anyOf: type.map((t) => (t === 'null' ? { type: 'null' } : { type: t, ...rest })),
    };
  }
  return out;
}

function isEmptyObject(v: unknown): boolean {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0;
}
