import { AppError } from '../errors.ts';

/**
 * Keyset paging cursors: the last row's exact time (as PostgreSQL prints it, microseconds kept, so the next page
 * starts exactly after it) and its id, opaque to clients (base64url of a JSON pair).
 */

/** The cursor after a row whose time printed as `timeText` and whose id is `id`. */
export function encodeKeysetCursor(timeText: string, id: string | number): string {
  return Buffer.from(JSON.stringify([timeText, id]), 'utf8').toString('base64url');
}

const CURSOR_TIME = /^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}(:?\d{2})?)?$/;

/**
 * The time and id of a cursor made by {@link encodeKeysetCursor} with an id of `idType`; anything else throws
 * `errorCode` (a 400: an unreadable cursor is bad input, not a bug).
 */
export function decodeKeysetCursor<T extends 'string' | 'number'>(
  cursor: string,
  idType: T,
  errorCode: string,
): [string, T extends 'string' ? string : number] {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (
      Array.isArray(value) &&
      value.length === 2 &&
      typeof value[0] === 'string' &&
      CURSOR_TIME.test(value[0]) &&
      (idType === 'string' ? typeof value[1] === 'string' : Number.isSafeInteger(value[1]))
    ) {
      return [value[0], value[1]];
    }
  } catch {
    // fall through
  }
  throw new AppError(errorCode, `cursor: ${JSON.stringify(cursor.slice(0, 80))} (a nextCursor value)`);
}
