import { z } from 'zod';

export const SnippetCharsSchema = z
  .number()
  .int('snippet_chars must be a whole number')
  .min(20, 'snippet_chars must be at least 20')
  .optional()
  .describe('shorten texts to about this many characters');

/** `text` cut to at most `chars` characters at the last word boundary before, or whole. */
export function snippet(text: string, chars: number | undefined): { text: string; truncated: boolean } {
  if (chars === undefined || text.length <= chars) return { text, truncated: false };
  const cut = text.slice(0, chars);
  const space = cut.search(/\s\S*$/u);
  return { text: `${(space > chars / 2 ? cut.slice(0, space) : cut).trimEnd()}…`, truncated: true };
}
