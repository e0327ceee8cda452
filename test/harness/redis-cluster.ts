import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort, startEmbeddedRedis, type EmbeddedRedis } from '../../shared/embedded-redis.js';

const run = promisify(execFile);

export interface RedisClusterNode extends EmbeddedRedis {
  /** `127.0.0.1:port` — as REDIS_CLUSTER_NODES lists it. */
  address: string;
  dir: string;
}

export interface RedisClusterHandle {
  /** Every node, masters first (in `redis-cli --cluster create` order), then replicas. */
  nodes: RedisClusterNode[];
  /** `host:port,…` of every node: a value for REDIS_CLUSTER_NODES. */
  seeds: string;
  /** Kills one node with SIGKILL (a crash, no goodbye to the cluster). */
  kill(node: RedisClusterNode): void;
  /**
   * Resolves once every live node reports `cluster_state:ok` and agrees on the masters,
   * and every live replica is in sync with its master (`master_link_status:up`).
   */
  waitForOk(timeoutMs?: number): Promise<void>;
  /** The node holding a key's slot as master now. */
  masterOf(key: string): Promise<RedisClusterNode>;
  stop(): Promise<void>;
}

/**
 * A local Redis Cluster from Debian's `redis-server` and `redis-cli`: `masters` masters
 * (3 is the smallest cluster `redis-cli --cluster create` builds) with `replicasPerMaster`
 * replicas each, loopback only, free ports, one temp dir per node, AOF off.
 *
 * `cluster-node-timeout` is short (2 s) so a killed master is failed over within
 * seconds in the failover test instead of the default 15 s.
 */
export async function startRedisCluster(opts: { masters?: number; replicasPerMaster?: number } = {}): Promise<RedisClusterHandle> {
  const masters = opts.masters ?? 3;
  const replicas = opts.replicasPerMaster ?? 0;
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'mi-rcluster-'));
  const nodes: RedisClusterNode[] = [];
  const stopAll = async () => {
    // SIGTERM, and SIGKILL for a node still there after 5 s: a master waits up to its
    // shutdown-timeout for lagging replicas, and a test's afterAll must not hang on it.
    await Promise.all(
      nodes.map(async (n) => {
        const timer = setTimeout(() => n.proc.kill('SIGKILL'), 5_000);
        await n.stop();
        clearTimeout(timer);
      }),
    );
    await fs.rm(root, { recursive: true, force: true });
  };
  try {
    const count = masters * (1 + replicas);
    for (let i = 0; i < count; i++) {
      // Port + 10000 is the cluster bus port: it must be free too.
      let port = await freePort();
      while (port > 55_535) port = await freePort();
      const dir = path.join(root, `node-${i}`);
      const redis = await startEmbeddedRedis({
        dir,
        port,
        appendonly: false,
        extraArgs: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000'],
      });
      nodes.push({ ...redis, address: `127.0.0.1:${port}`, dir });
    }
    await run(
      'redis-cli',
      ['--cluster', 'create', ...nodes.map((n) => n.address), '--cluster-replicas', String(replicas), '--cluster-yes'],
      { timeout: 60_000 },
    );
    const handle: RedisClusterHandle = {
      nodes,
      seeds: nodes.map((n) => n.address).join(','),
      kill(node) {
        node.proc.kill('SIGKILL');
      },
      waitForOk: (timeoutMs = 30_000) => waitForOk(nodes, masters, 0, timeoutMs),
      async masterOf(key) {
        const live = nodes.find((n) => n.proc.exitCode === null && n.proc.signalCode === null)!;
        const r = new Redis(live.port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0 });
        try {
          await r.connect();
          const slot = (await r.call('CLUSTER', 'KEYSLOT', key)) as number;
          const shards = (await r.call('CLUSTER', 'SLOTS')) as [number, number, [string, number, ...unknown[]]][];
          const owner = shards.find(([from, to]) => slot >= from && slot <= to)!;
          return nodes.find((n) => n.port === owner[2][1])!;
        } finally {
          r.disconnect();
        }
      },
      stop: stopAll,
    };
    // `--cluster create` returns before the replicas have attached and synced; a master
    // killed then has no replica that may take over (its data would be "too old"), and
    // the cluster stays down. Every replica in sync first.
    await waitForOk(nodes, masters, masters * replicas, 30_000);
    return handle;
  } catch (err) {
    await stopAll();
    throw err;
  }
}

async function waitForOk(nodes: RedisClusterNode[], masters: number, replicas: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const live = nodes.filter((n) => n.proc.exitCode === null && n.proc.signalCode === null);
    const states = await Promise.all(
      live.map(async (n) => {
        const r = new Redis(n.port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
        r.on('error', () => undefined);
        try {
          await r.connect();
          const info = (await r.call('CLUSTER', 'INFO')) as string;
          const ok = /cluster_state:ok/.test(info);
          const size = Number(/cluster_size:(\d+)/.exec(info)?.[1] ?? 0);
          if (!ok || size !== masters) return `${n.address}: ${info.split('\r\n').slice(0, 3).join(' ')}`;
          const repl = await r.info('replication');
          if (!/role:slave/.test(repl)) return 'ok';
          return /master_link_status:up/.test(repl) ? 'replica' : `${n.address}: replica not in sync with its master yet`;
        } catch (err) {
          return `${n.address}: ${(err as Error).message}`;
        } finally {
          r.disconnect();
        }
      }),
    );
    const bad = states.filter((s) => s !== 'ok' && s !== 'replica');
    const synced = states.filter((s) => s === 'replica').length;
    if (synced < replicas) bad.push(`${synced} of ${replicas} replicas attached and in sync`);
    if (bad.length === 0) return;
    if (Date.now() > deadline) throw new Error(`Redis Cluster not ok within ${timeoutMs / 1000} s: ${bad.join('; ')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
