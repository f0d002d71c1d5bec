/**
 * Full-text terms of a log search (docs/protocol.md §15): every word must occur, a "quoted
 * phrase" must occur as a phrase, a bare word ending in `*` is a prefix. User input never
 * reaches the engine's query syntax: each term is passed as a quoted FTS5 string (quotes
 * doubled) or through phraseto_tsquery, so `"`, `*`, `NEAR(`, `'`, `\` cannot make a syntax
 * error. A term without a letter or digit matches nothing a tokenizer would index, and is
 * ignored; a query with no term left matches nothing.
 */
import { type RawBuilder, sql } from "kysely";

export interface Term {
  text: string;
  prefix: boolean;
}

/** At most this many terms are used (the rest are ignored). */
export const MAX_TERMS = 16;
const WORDY = /[\p{L}\p{N}]/u;
const PLAIN_WORD = /^[\p{L}\p{N}_]+$/u;

export function parseTerms(query: string): Term[] {
  // A NUL separates words: FTS5 ends a quoted string at one ("unterminated string"), PostgreSQL refuses it in text.
  const q = query.replaceAll("\u0000", " ");
  const out: Term[] = [];
  let i = 0;
  while (i < q.length && out.length < MAX_TERMS) {
    const c = q[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '"') {
      const end = q.indexOf('"', i + 1);
      const text = q.slice(i + 1, end < 0 ? q.length : end);
      i = end < 0 ? q.length : end + 1;
      if (WORDY.test(text)) out.push({ text, prefix: false });
      continue;
    }
    let j = i;
    while (j < q.length && !/\s/.test(q[j]!) && q[j] !== '"') j++;
    let text = q.slice(i, j);
    i = j;
    let prefix = false;
    if (text.endsWith("*") && PLAIN_WORD.test(text.slice(0, -1))) {
      text = text.slice(0, -1);
      prefix = true;
    }
    if (WORDY.test(text)) out.push({ text, prefix });
  }
  return out;
}

/** The FTS5 MATCH expression: each term a quoted string, joined by AND. */
export function ftsMatch(terms: Term[]): string {
  return terms.map((t) => `"${t.text.replaceAll('"', '""')}"${t.prefix ? " *" : ""}`).join(" AND ");
}

/** PostgreSQL: the tsquery of all terms (phraseto_tsquery never fails on any text). */
export function pgTsQuery(terms: Term[]): RawBuilder<unknown> {
  return sql.join(
    terms.map((t) =>
      t.prefix
        ? sql`(phraseto_tsquery('simple', ${t.text})::text || ':*')::tsquery`
        : sql`phraseto_tsquery('simple', ${t.text})`,
    ),
    sql` && `,
  );
}
