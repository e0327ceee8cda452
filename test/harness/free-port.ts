export { freePort } from '../../shared/embedded-redis.js';
