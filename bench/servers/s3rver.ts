/**
 * An S3-protocol server for benches with STORAGE_DRIVER=s3: s3rver (the test suite's)
 * in a process of its own, so its CPU is not the bench client's. Env: PORT, BENCH_S3_DIR.
 */
import S3rver from 's3rver';

await new S3rver({ port: Number(process.env.PORT), address: '127.0.0.1', silent: true, directory: process.env.BENCH_S3_DIR! }).run();
// s3rver answers nothing with 200 without a signature: the bench waits for this line instead.
console.log('s3rver ready');
