import { secureHeaders } from 'hono/secure-headers';

/**
 * Headers of the pages the API serves to browsers (/console, /docs): everything from this
 * origin only — no CDN, no inline script or style, nothing framed, no plugins. Images may
 * be blob: URLs (the console fetches private renditions with the key and shows the bytes)
 * or data: URLs (Swagger UI's icons).
 */
export function pageSecurity() {
  return secureHeaders({
    contentSecurityPolicy: {
      defaultSrc: ["'none'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'"],
      imgSrc: ["'self'", 'blob:', 'data:'],
      fontSrc: ["'self'"],
      connectSrc: ["'self'"],
      baseUri: ["'none'"],
      formAction: ["'self'"],
      frameAncestors: ["'none'"],
      objectSrc: ["'none'"],
    },
    crossOriginEmbedderPolicy: false,
    crossOriginResourcePolicy: 'same-origin',
    referrerPolicy: 'no-referrer',
  });
}
