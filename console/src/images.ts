import { useEffect, useState } from 'preact/hooks';
import { authHeaders, type Rendition, type Resource } from './api.js';

/**
 * Renditions of private resources need the key, which an <img src> cannot send (and
 * signed URLs need IMAGE_URL_SECRET, which `npm start` leaves unset): the console
 * fetches each image with the key and shows it from a blob: URL. A few at a time, each
 * once (cached), the oldest released past CACHE_SIZE.
 */
const PARALLEL = 6;
const CACHE_SIZE = 400;

const cache = new Map<string, Promise<string>>();
let active = 0;
const waiting: (() => void)[] = [];

async function slot<T>(work: () => Promise<T>): Promise<T> {
  if (active >= PARALLEL) await new Promise<void>((r) => waiting.push(r));
  active++;
  try {
    return await work();
  } finally {
    active--;
    waiting.shift()?.();
  }
}

export function loadImage(path: string): Promise<string> {
  let p = cache.get(path);
  if (!p) {
    p = slot(async () => {
      const res = await fetch(path, { headers: authHeaders() });
      if (!res.ok) throw new Error(`${res.status}`);
      return URL.createObjectURL(await res.blob());
    });
    cache.set(path, p);
    p.catch(() => cache.delete(path));
    if (cache.size > CACHE_SIZE) {
      const [oldest, url] = cache.entries().next().value as [string, Promise<string>];
      cache.delete(oldest);
      void url.then(URL.revokeObjectURL, () => undefined);
    }
  }
  return p;
}

/** The blob: URL of an image path once loaded, null until then or on failure. */
export function useImage(path: string | undefined): string | null {
  const [url, setUrl] = useState<string | null>(null);
  useEffect(() => {
    setUrl(null);
    if (!path) return;
    let live = true;
    loadImage(path).then(
      (u) => live && setUrl(u),
      () => undefined,
    );
    return () => {
      live = false;
    };
  }, [path]);
  return url;
}

/** The smallest rendition (the grid's thumbnail), as a path of this origin. */
export function thumbnailOf(r: Resource): Rendition | undefined {
  const list = r.renditions ?? [];
  return list.find((x) => x.name === 'thumbnail') ?? [...list].sort((a, b) => a.width * a.height - b.width * b.height)[0];
}

/** Rendition URLs are paths; should one carry an origin, only its path is used (same origin). */
export function localPath(url: string): string {
  return url.startsWith('/') ? url : new URL(url, location.href).pathname;
}
