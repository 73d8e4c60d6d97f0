// Checks on untrusted JSON that no schema can express, run on the raw value before zod sees it:
// strings must be well-formed UTF-16 (a lone surrogate becomes U+FFFD on its way to the store, so
// the id read back is not the id written), keys must not be "__proto__" (assigning it sets a
// prototype instead of a field, so the key would vanish) nor hold control characters, and
// nesting is bounded (deep values overflow the stack of recursive code further on).
// Iterative on purpose: the value being checked may be deeper than the stack.

/** Objects and arrays inside tool arguments, counted from the arguments object itself. */
export const MAX_NESTING_DEPTH = 32;

// Control characters: C0, DEL and C1.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/u;

export interface GuardIssue {
  /** Where, e.g. `items[2].metadata.project` (empty: the value itself). */
  path: string;
  problem: string;
  hint: string;
}

export function isWellFormed(s: string): boolean {
  return s.isWellFormed();
}

export function hasControlCharacter(s: string): boolean {
  return CONTROL.test(s);
}

/** A short, printable form of an untrusted string for a message (control and lone surrogates escaped). */
export function printable(s: string, max = 60): string {
  const cut = s.length > max ? `${s.slice(0, max)}...` : s;
  return JSON.stringify(cut).replace(/[\ud800-\udfff]/gu, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

const ILL_FORMED_HINT = 'send valid Unicode: a lone UTF-16 surrogate (half of a pair) cannot be stored';

/** The first problem in `value`, or undefined. Depth 0 is `value` itself. */
export function checkJsonTree(value: unknown, maxDepth: number = MAX_NESTING_DEPTH): GuardIssue | undefined {
  const stack: { v: unknown; path: string; depth: number }[] = [{ v: value, path: '', depth: 0 }];
  while (stack.length > 0) {
    const { v, path, depth } = stack.pop()!;
    if (typeof v === 'string') {
      if (!isWellFormed(v)) return { path, problem: 'contains ill-formed UTF-16', hint: ILL_FORMED_HINT };
      continue;
    }
    if (v === null || typeof v !== 'object') continue;
    if (depth > maxDepth) {
      return {
        path,
        problem: `nests deeper than ${maxDepth} levels of objects and arrays`,
        hint: 'flatten it: keep metadata shallow, put long structured content in the text',
      };
    }
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push({ v: v[i], path: `${path}[${i}]`, depth: depth + 1 });
      continue;
    }
    const keys = Object.keys(v);
    for (const key of keys) {
      const at = path === '' ? key : `${path}.${key}`;
      if (!isWellFormed(key)) {
        return {
          path: `${path === '' ? '' : `${path}.`}${printable(key)}`,
          problem: 'is a key with ill-formed UTF-16',
          hint: ILL_FORMED_HINT,
        };
      }
      if (key === '__proto__') {
        return {
          path: at,
          problem: 'is a key named "__proto__", which JavaScript cannot keep as data',
          hint: 'rename the key',
        };
      }
      if (hasControlCharacter(key)) {
        return {
          path: `${path === '' ? '' : `${path}.`}${printable(key)}`,
          problem: 'is a key with a control character',
          hint: 'use printable characters in keys',
        };
      }
    }
    for (let i = keys.length - 1; i >= 0; i--) {
      const key = keys[i]!;
      stack.push({
        v: (v as Record<string, unknown>)[key],
        path: path === '' ? key : `${path}.${key}`,
        depth: depth + 1,
      });
    }
  }
  return undefined;
}

/** True when `value` nests objects and arrays deeper than `max` (depth 0 is `value` itself). */
export function nestingExceeds(value: unknown, max: number): boolean {
  const stack: { v: unknown; depth: number }[] = [{ v: value, depth: 0 }];
  while (stack.length > 0) {
    const { v, depth } = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth > max) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v as object)) {
      if (child !== null && typeof child === 'object') stack.push({ v: child, depth: depth + 1 });
    }
  }
  return false;
}
