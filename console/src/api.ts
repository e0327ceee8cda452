// Every request of the console: relative to the page's own origin (the console may be
// opened as http://127.0.0.1:PORT while PUBLIC_URL names localhost), with the key the
// user pasted, kept in sessionStorage only (gone when the browser session ends).

// The API's own types, imported as types only: nothing of shared/ enters the browser bundle.
import type { Rendition } from '../../shared/model.js';

const KEY = 'media-ingest.api-key';

export function storedKey(): string | null {
  return sessionStorage.getItem(KEY);
}

export function storeKey(key: string | null): void {
  if (key) sessionStorage.setItem(KEY, key);
  else sessionStorage.removeItem(KEY);
}

/** An RFC 9457 problem the API answered, or a network failure (status 0). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly problem: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export function authHeaders(extra: Record<string, string> = {}): Record<string, string> {
  const key = storedKey();
  return key ? { Authorization: `Bearer ${key}`, ...extra } : extra;
}

/** The response, or an ApiError carrying the problem's `detail`. */
export async function request(path: string, init: RequestInit & { json?: unknown } = {}): Promise<Response> {
  const { json, ...rest } = init;
  const headers = authHeaders(json === undefined ? {} : { 'Content-Type': 'application/json' });
  let res: Response;
  try {
    res = await fetch(path, {
      ...rest,
      headers: { ...headers, ...(rest.headers as Record<string, string> | undefined) },
      body: json === undefined ? rest.body : JSON.stringify(json),
    });
  } catch (err) {
    throw new ApiError(0, `The API did not answer (${(err as Error).message}).`);
  }
  if (!res.ok && res.status !== 304) throw await problemOf(res);
  return res;
}

export async function getJson<T>(path: string, init: RequestInit & { json?: unknown } = {}): Promise<T> {
  return (await (await request(path, init)).json()) as T;
}

export async function problemOf(res: Response): Promise<ApiError> {
  let body: Record<string, unknown> = {};
  try {
    body = (await res.json()) as Record<string, unknown>;
  } catch {
    // Not a problem document (a proxy's page): the status says enough.
  }
  const detail = typeof body.detail === 'string' ? body.detail : `${res.status} ${res.statusText}`;
  return new ApiError(res.status, detail, body);
}

/** Whether the key is also an admin key (`GET /v1/whoami` answers 200 either way). */
export async function isAdminKey(): Promise<boolean> {
  return (await getJson<{ admin: boolean }>('/v1/whoami')).admin;
}

// ── shapes the console reads (the API's JSON, only the members used here) ──

export interface Library {
  id: number;
  name: string;
  dedupe: string;
  resourceCount?: number;
}

export type { Rendition };

export interface Resource {
  id: number;
  library: number;
  fileName: string;
  mimeType: string;
  size: number;
  type: string;
  status: string;
  error?: { code?: string; message?: string; status?: number } | string | null;
  width?: number | null;
  height?: number | null;
  title?: string | null;
  created?: string;
  fileVersion: number;
  mappingsVersion?: number | null;
  jobId?: string;
  fields?: Record<string, unknown>;
  metadata?: Record<string, unknown>;
  renditions?: Rendition[];
  warnings?: string[];
  extension?: string;
}

export interface Page {
  resources: Resource[];
  nextCursor: string | null;
}

export interface Job {
  id: string;
  type: string;
  state: string;
  error?: unknown;
  duplicateOf?: number[];
  resource: { id: number; status?: string; reused?: boolean; removed?: boolean; fileVersion?: number };
  createdAt?: string | null;
  finishedAt?: string | null;
  attemptsMade?: number | null;
}

export interface MappingField {
  tags: string[];
  type: string;
}

export interface Mappings {
  version: number;
  updated: string | null;
  fields: Record<string, MappingField>;
}

export interface Batch {
  id: number;
  state: string;
  total: number;
  done: number;
  failed: number;
  percent: number;
  eta?: { seconds: number | null } | null;
  library?: number | null;
}

export function errorText(error: Resource['error'] | unknown): string {
  if (!error) return '';
  if (typeof error === 'string') return error;
  const e = error as { message?: unknown; detail?: unknown };
  return String(e.message ?? e.detail ?? JSON.stringify(error));
}
