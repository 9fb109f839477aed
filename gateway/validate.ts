/**
 * Input validation shared by the HTTP routes and WebSocket events. Each
 * function returns the clean value or throws an AppError naming the field.
 */
import { MAX_TEXT } from '../common/api.js';
import { AppError, invalidField } from '../common/errors.js';
import { longerThan } from '../common/text.js';

export const LOGIN_RE = /^[a-z0-9_.-]{3,32}$/;
// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f]/;

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function requireObject(body: unknown): Record<string, unknown> {
  if (!isObject(body)) throw new AppError('invalid_json', 'body must be a JSON object');
  return body;
}

/** A login as given by a client: canonicalised to lower case; invalid ones throw. */
export function login(value: unknown, field = 'login'): string {
  if (typeof value !== 'string') throw invalidField(field, `${field} must be a string`);
  const lower = value.toLowerCase();
  if (!LOGIN_RE.test(lower)) throw invalidField(field, `${field} must be 3–32 characters of a-z, 0-9, _ . -`);
  return lower;
}

/** A login in a path: anything that cannot be a login is reported as invalid (400). */
export function pathLogin(value: string): string {
  const lower = value.toLowerCase();
  if (!LOGIN_RE.test(lower)) throw new AppError('invalid_param', 'not a valid login', 'login');
  return lower;
}

export function displayName(value: unknown, field: string, max = 64): string {
  if (typeof value !== 'string') throw invalidField(field, `${field} must be a string`);
  const trimmed = value.trim();
  const length = [...trimmed].length;
  if (length < 1 || length > max) throw invalidField(field, `${field} must be 1–${max} characters`);
  if (CONTROL_RE.test(trimmed)) throw invalidField(field, `${field} must not contain control characters`);
  return trimmed;
}

export function password(value: unknown): string {
  if (typeof value !== 'string') throw invalidField('password', 'password must be a string');
  const length = [...value].length;
  if (length < 8 || length > 128) throw invalidField('password', 'password must be 8–128 characters');
  return value;
}

/** A non-negative integer query parameter, or undefined when absent. */
export function intParam(query: URLSearchParams, name: string, min: number, max: number): number | undefined {
  const raw = query.get(name);
  if (raw === null) return undefined;
  if (!/^\d{1,10}$/.test(raw)) throw new AppError('invalid_param', `${name} must be an integer`, name);
  const n = Number(raw);
  if (n < min || n > max)
    throw new AppError('invalid_param', `${name} must be between ${min} and ${max}`, name);
  return n;
}

export interface Paging {
  before?: number;
  after?: number;
  limit: number;
}

/** History paging of API.md: before / after (not both) and limit ≤ 500. */
export function historyPaging(query: URLSearchParams): Paging {
  const before = intParam(query, 'before', 1, 4294967295);
  const after = intParam(query, 'after', 0, 4294967295);
  const limit = intParam(query, 'limit', 1, 500) ?? 100;
  if (before !== undefined && after !== undefined) {
    throw new AppError('invalid_param', 'use either before or after, not both', 'before');
  }
  return { before, after, limit };
}

/** Message text: 1–MAX_TEXT characters (code points). */
export function messageText(value: unknown): string {
  if (typeof value !== 'string') throw new AppError('invalid_field', 'text must be a string', 'text');
  if (value.length === 0) throw new AppError('invalid_field', 'text must not be empty', 'text');
  if (longerThan(value, MAX_TEXT))
    throw new AppError('text_too_long', `text must be at most ${MAX_TEXT} characters`, 'text');
  return value;
}

/** Optional client idempotency key: up to 64 printable ASCII characters. */
export function clientId(value: unknown): string {
  if (value === undefined || value === null || value === '') return '';
  if (typeof value !== 'string' || !/^[\x21-\x7e]{1,64}$/.test(value)) {
    throw new AppError(
      'invalid_field',
      'client_id must be a string of up to 64 printable characters',
      'client_id',
    );
  }
  return value;
}
