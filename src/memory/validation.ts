// The service's input rules, each a small check that throws INVALID_INPUT or TOO_LARGE with a
// message naming the field and a hint the caller can act on. Shapes are checked earlier (the
// tools' zod schemas); these are the limits and conventions that need the configuration.
import type { Limits } from '../config/limits.js';
import { MemoryError } from '../shared/errors.js';
import { MAX_NESTING_DEPTH, checkJsonTree, hasControlCharacter, isWellFormed } from '../shared/json-guard.js';
import type { Metadata } from '../store/types.js';

export const DEFAULT_NAMESPACE = 'default';
const NAMESPACE = /^[\w.:/-]{1,128}$/u;

export function invalid(message: string, hint: string): MemoryError {
  return new MemoryError('INVALID_INPUT', message, { hint });
}

export function notFound(id: string): MemoryError {
  return new MemoryError('NOT_FOUND', `no memory has id "${id}"`, {
    hint: 'use memory_search to find the right id',
  });
}

const ILL_FORMED_HINT = 'send valid Unicode: a lone UTF-16 surrogate (half of a pair) cannot be stored';

/** Ill-formed UTF-16 would be stored as U+FFFD: what is read back would not be what was written. */
function wellFormed(value: string, field: string): void {
  if (!isWellFormed(value)) throw invalid(`${field} contains ill-formed UTF-16`, ILL_FORMED_HINT);
}

/** Ids, tags and namespaces are names: printable, so they can be shown, compared and typed. */
function printableName(value: string, field: string): void {
  wellFormed(value, field);
  if (hasControlCharacter(value)) throw invalid(`${field} contains a control character`, 'use printable characters');
}

export class InputRules {
  constructor(
    private readonly limits: Limits,
    /** The provider's own input limit, in characters (known once it is configured). */
    private readonly providerMaxChars: () => number,
  ) {}

  /** `where` prefixes messages, e.g. "items[3]: ". */
  text(text: string, where: string): void {
    wellFormed(text, `${where}text`);
    if (text.trim().length === 0) throw invalid(`${where}text is empty`, 'pass the text to remember');
    const max = Math.min(this.limits.maxTextChars, this.providerMaxChars());
    if (text.length > max) {
      throw new MemoryError('TOO_LARGE', `${where}text has ${text.length} characters; the limit is ${max}`, {
        hint: 'split it into several shorter memories',
      });
    }
  }

  id(id: string, where: string): void {
    const max = this.limits.maxIdChars;
    printableName(id, `${where}id`);
    if (id.length === 0 || id.length > max || id.trim() !== id) {
      throw invalid(
        `${where}id must be 1 to ${max} characters without surrounding spaces`,
        'omit id to get a generated one',
      );
    }
  }

  idList(ids: readonly string[]): void {
    if (ids.length === 0) throw invalid('no ids given', 'pass `id` or a non-empty `ids`');
    if (ids.length > this.limits.maxBatchItems) {
      throw invalid(`${ids.length} ids in one call; the limit is ${this.limits.maxBatchItems}`, 'split the list');
    }
    for (const id of ids) this.id(id, '');
  }

  namespace(namespace: string, where: string): string {
    wellFormed(namespace, `${where}namespace`);
    if (!NAMESPACE.test(namespace)) {
      throw invalid(
        `${where}namespace must be 1 to 128 letters, digits or . _ : / -`,
        `omit it to use "${DEFAULT_NAMESPACE}"`,
      );
    }
    return namespace;
  }

  metadata(metadata: Metadata, where: string): void {
    // The tools check the whole arguments first; this keeps the service's own callers honest.
    const issue = checkJsonTree(metadata, MAX_NESTING_DEPTH);
    if (issue)
      throw invalid(`${where}metadata${issue.path === '' ? '' : `.${issue.path}`} ${issue.problem}`, issue.hint);
    const bytes = Buffer.byteLength(JSON.stringify(metadata), 'utf8');
    if (bytes > this.limits.maxMetadataBytes) {
      throw new MemoryError(
        'TOO_LARGE',
        `${where}metadata is ${bytes} bytes of JSON; the limit is ${this.limits.maxMetadataBytes}`,
        { hint: 'keep metadata small; put long content in the text' },
      );
    }
  }

  tags(tags: readonly string[], where: string): string[] {
    const { maxTags, maxTagChars } = this.limits;
    if (tags.length > maxTags) throw invalid(`${where}${tags.length} tags; the limit is ${maxTags}`, 'use fewer tags');
    for (const t of tags) {
      printableName(t, `${where}tag`);
      if (t.trim().length === 0 || t.length > maxTagChars) {
        throw invalid(`${where}each tag must be 1 to ${maxTagChars} characters`, 'remove empty or long tags');
      }
    }
    return [...new Set(tags)];
  }

  /** Tags and namespace given as a filter: names like the stored ones, or the filter could never match. */
  filter(filter: { namespace?: string | undefined; tags?: readonly string[] | undefined }): void {
    if (filter.namespace !== undefined) this.namespace(filter.namespace, '');
    (filter.tags ?? []).forEach((t, i) => printableName(t, `tags[${i}]`));
  }

  k(k: number): number {
    if (!Number.isInteger(k) || k < 1 || k > this.limits.maxK) {
      throw invalid(`k must be a whole number from 1 to ${this.limits.maxK} (got ${k})`, 'pass a smaller k');
    }
    return k;
  }

  query(query: string): void {
    if (query.trim().length === 0) throw invalid('query is empty', 'pass the words to search for');
    this.text(query, 'query: ');
  }
}
