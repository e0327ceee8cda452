/**
 * Preloaded (`node [--import tsx] --import bench/servers/watchdog.mjs …`; plain JavaScript, so
 * it loads into compiled servers without the tsx loader) into every server
 * the bench starts. If the bench process goes away without stopping us — crash, SIGKILL,
 * closed terminal — we are reparented; then kill the processes the bench asked us to
 * take along (its redis-server) and ourselves. Nothing else about the server changes.
 */
const parent = Number(process.env.BENCH_PARENT_PID);
const alsoKill = (process.env.BENCH_KILL_WITH_PARENT ?? '').split(',').filter(Boolean).map(Number);

if (parent > 0) {
  setInterval(() => {
    if (process.ppid === parent) return;
    for (const pid of alsoKill) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    process.kill(process.pid, 'SIGKILL');
  }, 500).unref();
}

export {};
