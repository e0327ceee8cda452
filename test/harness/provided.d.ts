import 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
    s3: { endpoint: string; accessKey: string; secretKey: string };
  }
}
