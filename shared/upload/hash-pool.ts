import { Worker } from 'node:worker_threads';

/**
 * SHA-256 off the event loop (UPLOAD_HASH_THREADS). Hashing costs about 1 CPU-second
 * per GiB, a good third of what an upload costs the API, and on the event loop it caps
 * an API process at one core's worth of hashing however many cores the machine has.
 * Large uploads can hand their bytes, in blocks, to a small pool of worker threads,
 * each keeping the running hashes of the uploads it was given; the event loop then only
 * copies blocks and passes messages. The copy and the bytes moving to another core's
 * cache cost some CPU per hashed byte, but the event loop freed of hashing parses and
 * writes the more: on 2 cores, with the client on the same machine, one thread gave
 * 1.06–1.30× the throughput of none for 0.83–1.03× its CPU per GiB (bench
 * upload-throughput compares both settings in every run).
 *
 * The thread's code is a string (`eval`): a separate module file would have to be found
 * and loaded the same way under tsx, compiled output and the test runner alike.
 */
const THREAD_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const open = new Map();
parentPort.on('message', (m) => {
  if (m.drop) { open.delete(m.id); return; }
  let hash = open.get(m.id);
  if (!hash) { hash = createHash('sha256'); open.set(m.id, hash); }
  if (m.length > 0) hash.update(new Uint8Array(m.block, 0, m.length));
  if (m.end) {
    open.delete(m.id);
    parentPort.postMessage({ id: m.id, block: m.block, digest: hash.digest('hex') }, m.block ? [m.block] : []);
  } else {
    parentPort.postMessage({ id: m.id, block: m.block }, [m.block]);
  }
});
`;

interface ThreadReply {
  id: number;
  block?: ArrayBuffer;
  digest?: string;
}

/** The caller's side of one running hash. */
export interface OffThreadHash {
  /**
   * Hashes the first `length` bytes of `block`. The block is transferred: it is
   * unusable here until handed back through the session's `onBlock`.
   */
  update(block: ArrayBuffer, length: number): void;
  /** Hashes the last bytes (if any) and resolves with the hex digest of everything. */
  finish(block: ArrayBuffer | null, length: number): Promise<string>;
  /** Forgets the running hash (the stream was destroyed); `finish` must not follow. */
  drop(): void;
}

export interface SessionCallbacks {
  /** A block handed to `update` was hashed and may be filled again. */
  onBlock(block: ArrayBuffer): void;
  /** The thread died; the hash is lost and the stream must fail. */
  onError(err: Error): void;
}

interface Session extends SessionCallbacks {
  resolveDigest?: (digest: string) => void;
  rejectDigest?: (err: Error) => void;
}

class HashThread {
  readonly sessions = new Map<number, Session>();
  private readonly worker: Worker;
  dead = false;

  constructor(onExit: (t: HashThread) => void) {
    this.worker = new Worker(THREAD_SOURCE, { eval: true, name: 'sha256' });
    this.worker.unref();
    this.worker.on('message', (m: ThreadReply) => this.reply(m));
    const die = (err: Error) => {
      if (this.dead) return;
      this.dead = true;
      onExit(this);
      for (const s of this.sessions.values()) {
        s.rejectDigest?.(err);
        s.onError(err);
      }
      this.sessions.clear();
    };
    this.worker.on('error', (err) => die(new Error(`SHA-256 thread failed: ${err.message}`, { cause: err })));
    this.worker.on('exit', (code) => die(new Error(`SHA-256 thread exited (code ${code})`)));
  }

  private reply(m: ThreadReply): void {
    const s = this.sessions.get(m.id);
    if (!s) return;
    if (m.digest !== undefined) {
      this.close(m.id);
      if (m.block) s.onBlock(m.block);
      s.resolveDigest?.(m.digest);
    } else if (m.block) {
      s.onBlock(m.block);
    }
  }

  open(id: number, session: Session): void {
    // Only open hashes keep the process alive: an idle pool never holds up an exit.
    if (this.sessions.size === 0) this.worker.ref();
    this.sessions.set(id, session);
  }

  close(id: number): void {
    if (this.sessions.delete(id) && this.sessions.size === 0) this.worker.unref();
  }

  post(message: { id: number; block?: ArrayBuffer | null; length?: number; end?: boolean; drop?: boolean }): void {
    const transfer = message.block ? [message.block] : [];
    this.worker.postMessage(message, transfer);
  }

  terminate(): Promise<number> {
    return this.worker.terminate();
  }
}

/**
 * `size` threads, started on first use — an API that only sees small uploads never
 * starts one — and kept; each new hash goes to the thread with the fewest open ones.
 * Size 0: no threads; streams hash on the event loop.
 */
export class HashPool {
  private readonly threads: HashThread[] = [];
  private nextId = 1;

  constructor(readonly size: number) {}

  open(callbacks: SessionCallbacks): OffThreadHash {
    if (this.size < 1) throw new Error('HashPool of size 0 has no threads; hash on the event loop');
    const thread = this.pick();
    const id = this.nextId++;
    const session: Session = { ...callbacks };
    thread.open(id, session);
    let done = false;
    return {
      update: (block, length) => {
        if (thread.dead) return; // onError has told the caller already
        thread.post({ id, block, length });
      },
      finish: (block, length) => {
        done = true;
        if (thread.dead) return Promise.reject(new Error('SHA-256 thread is gone'));
        return new Promise<string>((resolve, reject) => {
          session.resolveDigest = resolve;
          session.rejectDigest = reject;
          thread.post({ id, block, length, end: true });
        });
      },
      drop: () => {
        if (done) return;
        done = true;
        thread.close(id);
        if (!thread.dead) thread.post({ id, drop: true });
      },
    };
  }

  private pick(): HashThread {
    if (this.threads.length < this.size) {
      const t = new HashThread((gone) => {
        const i = this.threads.indexOf(gone);
        if (i >= 0) this.threads.splice(i, 1);
      });
      this.threads.push(t);
      return t;
    }
    return this.threads.reduce((a, b) => (b.sessions.size < a.sessions.size ? b : a));
  }

  /** Open hashes right now (for tests: a destroyed stream must not leave one behind). */
  openCount(): number {
    return this.threads.reduce((n, t) => n + t.sessions.size, 0);
  }

  /** Stops the threads; hashes still open fail. */
  async close(): Promise<void> {
    await Promise.all(this.threads.splice(0).map((t) => t.terminate()));
  }
}
